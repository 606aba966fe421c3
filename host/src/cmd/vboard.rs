//! `revspike vboard --build NAME`: a standing virtual board. The build's top-level
//! Verilog in Verilator behind a pseudo-terminal; prints `revspike virtual board on
//! /dev/pts/N` and runs until Ctrl-C or SIGTERM, for a second host (`revspike ...
//! --port /dev/pts/N`) or any other tool that opens a serial port.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use revspike_sim::vboard::{serve, ServeOptions, VirtualBoard, VirtualBoardOptions};

#[derive(Debug, Clone, Args)]
pub struct VboardArgs {
    /// Build to simulate: cu (the Alchitry Cu), cu-4m, small or wide.
    #[arg(long, default_value = "cu", value_name = "NAME")]
    pub build: String,
    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long = "for", value_name = "SECONDS")]
    pub run_for: Option<f64>,
    /// Also stop when stdin reaches end of file (for a parent process that may die).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
    /// Write a VCD trace of the whole run to this file (slow; large).
    #[arg(long, value_name = "FILE")]
    pub vcd: Option<PathBuf>,
}

pub fn run(a: &VboardArgs) -> Result<()> {
    let build = revspike_proto::build::named(&a.build)?;
    let run_for = match a.run_for {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            bail!("--for: expected a positive number of seconds, found {s}")
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let verilog = revspike_hdl::top::top_verilog(build)
        .with_context(|| format!("emitting the {} top level", build.name))?;
    let options = VirtualBoardOptions {
        timing: build.bit_timing()?,
        run_for,
        vcd: a.vcd.clone(),
        ..Default::default()
    };
    let board = VirtualBoard::start(&verilog, options)
        .with_context(|| format!("starting the virtual {} board", build.name))?;
    let stats = serve(
        board,
        &mut std::io::stdout(),
        ServeOptions {
            stop_on_stdin_eof: a.stop_on_stdin_eof,
        },
    )?;
    super::note(format_args!(
        "revspike vboard: {} cycles, {} bytes in, {} bytes out, {} framing errors",
        stats.cycles, stats.bytes_to_design, stats.bytes_from_design, stats.framing_errors
    ));
    Ok(())
}
