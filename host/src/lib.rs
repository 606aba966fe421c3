//! revspike host library: the `revspike` command line (one module per
//! subcommand under [`cmd`], each parsing its arguments and calling the library)
//! and the library itself: the device driver ([`device`], no command-line types),
//! the batch engine `run`, `verify` and `bench` share ([`batch`]), and what those
//! commands compute ([`verify`], [`bench`], [`state`]).

pub mod batch;
pub mod bench;
pub mod cmd;
pub mod dataset;
pub mod device;
pub mod eval;
pub mod input;
pub mod state;
pub mod verify;

use std::ffi::OsString;

use clap::Parser;

/// revspike: a reversible spiking-network accelerator for the Alchitry Cu, and its tools.
#[derive(Debug, Parser)]
#[command(name = "revspike", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: cmd::Command,
}

/// Parses `args`, runs the subcommand and returns the process exit code.
/// Errors are printed as one `error: ...` line on stderr.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // clap formats help/version (exit 0) and usage errors (exit 2) itself.
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli.command.run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            1
        }
    }
}

/// The error and its causes on one line, `outer: inner: ...`.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
