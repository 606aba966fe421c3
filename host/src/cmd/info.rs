//! `revspike info MODEL`: shapes, sizes, operations, state memory, energy.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use revspike_golden::Info;

#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Model file (JSON, version 1 or 2).
    pub model: PathBuf,
    /// Also count the actual synaptic operations of this input (JSON array or raw bytes).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also say whether this build takes the model, every capacity it exceeds, and
    /// for a stem its memory plan (text only).
    #[arg(long)]
    pub build: Option<String>,
}

pub fn run(a: &InfoArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    let info = match &a.input {
        Some(p) => {
            let x = crate::input::read_input(p)?;
            Info::with_input(&model, &x).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Info::of(&model),
    };
    let mut text = if a.json {
        serde_json::to_string_pretty(&info)? + "\n"
    } else {
        format!("{info}\n")
    };
    if let Some(name) = &a.build {
        if a.json {
            anyhow::bail!("--build prints text; leave out --json");
        }
        let build = revspike_proto::build::named(name)?;
        text += &build.fit_report(&model);
    }
    super::write_out(None, &text)
}
