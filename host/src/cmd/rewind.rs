//! `revspike rewind K`: steps the device's turn-on state back K timesteps (REWIND)
//! and prints the state like `revspike state`; with --model and --input it runs the
//! input first and compares the rewound state with the golden model's.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use super::connect::{connect_and_prelude, ConnectArgs};
use crate::state::StateReport;

#[derive(Debug, Clone, Args)]
pub struct RewindArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Timesteps to step back (stops at t = 0).
    pub steps: usize,
    /// Load this model first.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Run this input first (needs --model): JSON array or raw u8 file.
    #[arg(long, requires = "model")]
    pub input: Option<PathBuf>,
}

#[derive(Serialize)]
struct Out {
    timesteps_before: u16,
    #[serde(flatten)]
    state: StateReport,
}

pub fn run(a: &RewindArgs) -> Result<()> {
    let (mut board, model, input) =
        connect_and_prelude("rewind", &a.connect, a.model.as_deref(), a.input.as_deref())?;
    let dev = &mut board.device;
    let before = dev.timesteps_done()?;
    let after = dev.rewind(a.steps)?;
    let r = crate::state::report(dev, model.as_ref(), input.as_deref())?;
    if r.timesteps != after {
        bail!(
            "REWIND reported {after} timesteps done, STATUS then reported {}",
            r.timesteps
        );
    }
    board.finish()?;
    let mismatch = r.matches_golden == Some(false);
    let out = Out {
        timesteps_before: before,
        state: r,
    };
    super::write_out(None, &(serde_json::to_string(&out)? + "\n"))?;
    if mismatch {
        bail!("the rewound turn-on state differs from the golden model's");
    }
    Ok(())
}
