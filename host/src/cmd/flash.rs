//! `revspike flash BITSTREAM`: writes a bitstream to the Alchitry Cu's SPI flash with
//! `iceprog` (fpga-icestorm); the board then boots it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct FlashArgs {
    /// Bitstream (.bin from icepack, e.g. bitstreams/alchitry-cu/revspike-cu.bin).
    pub bitstream: PathBuf,
    /// The iceprog program to run.
    #[arg(long, default_value = "iceprog")]
    pub iceprog: PathBuf,
    /// FTDI device for iceprog's -d (default: iceprog's own choice, the first FT2232H).
    #[arg(long, value_name = "DEVSTR")]
    pub device: Option<String>,
}

/// The iceprog command line for these arguments.
pub fn command(a: &FlashArgs) -> Command {
    let mut c = Command::new(&a.iceprog);
    if let Some(d) = &a.device {
        c.arg("-d").arg(d);
    }
    c.arg(&a.bitstream);
    c
}

pub fn run(a: &FlashArgs) -> Result<()> {
    let meta = std::fs::metadata(&a.bitstream)
        .with_context(|| format!("{}: cannot read the bitstream", a.bitstream.display()))?;
    if meta.len() == 0 {
        bail!("{}: the bitstream is empty", a.bitstream.display());
    }
    let status = match command(a).status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} not found: install fpga-icestorm (scripts/setup.sh) or name it with --iceprog",
            a.iceprog.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("running {}", a.iceprog.display())),
    };
    if !status.success() {
        bail!(
            "{} failed ({status}): is the board plugged in, and may this user open its \
             FTDI device?",
            a.iceprog.display()
        );
    }
    eprintln!(
        "revspike: {} written to the board's flash",
        a.bitstream.display()
    );
    Ok(())
}
