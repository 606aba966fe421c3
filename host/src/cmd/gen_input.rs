//! `revspike gen-input MODEL --seed N`: a random input for a model, as a JSON array.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct GenInputArgs {
    /// Model file the input is for (sets its length).
    pub model: PathBuf,
    /// Generator seed.
    #[arg(long)]
    pub seed: u64,
    /// Output file (default: stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(a: &GenInputArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    let x = revspike_golden::gen_input(&model, a.seed);
    super::write_out(a.output.as_deref(), &(crate::input::to_json(&x) + "\n"))
}
