//! `revspike rewind K`: steps the device's turn-on state back K timesteps (REWIND)
//! and prints the state like `revspike state`; with --model and --input it runs the
//! input first and compares the rewound state with the golden model's.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use super::state::{prelude, report, StateReport};
use crate::device::ConnectArgs;

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
    let conn = a.connect.connect()?;
    let mut dev = conn.device;
    let loaded = prelude(&mut dev, a.model.as_ref(), a.input.as_ref())?;
    let before = dev.timesteps_done()?;
    let after = dev.rewind(a.steps)?;
    let r = report(&mut dev, loaded.as_ref())?;
    if r.timesteps != after {
        bail!(
            "REWIND reported {after} timesteps done, STATUS then reported {}",
            r.timesteps
        );
    }
    drop(dev);
    if let Some(b) = conn.board {
        b.stop()?;
    }
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
