//! `revspike state`: the device's turn-on state (region 2) and status as one JSON
//! object; with --model and --input it loads the model and runs the input first, and
//! compares the state with the golden model's ([`crate::state`]).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::connect::{connect_and_prelude, ConnectArgs};

#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Load this model first (and trim the state to its stage widths).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Run this input first (needs --model): JSON array or raw u8 file.
    #[arg(long, requires = "model")]
    pub input: Option<PathBuf>,
}

pub fn run(a: &StateArgs) -> Result<()> {
    let (mut board, model, input) =
        connect_and_prelude("state", &a.connect, a.model.as_deref(), a.input.as_deref())?;
    let r = crate::state::report(&mut board.device, model.as_ref(), input.as_deref())?;
    board.finish()?;
    super::write_out(None, &(serde_json::to_string(&r)? + "\n"))?;
    if r.matches_golden == Some(false) {
        bail!("the device's turn-on state differs from the golden model's");
    }
    Ok(())
}
