//! revspike host library: the `revspike` command line (one module per
//! subcommand under [`cmd`], each parsing its arguments and calling the library)
//! and the library itself: the device driver ([`device`], no command-line types),
//! the batch engine `run`, `verify` and `bench` share ([`batch`]), and what those
//! commands compute ([`verify`], [`mod@bench`], [`state`]).

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
            use std::io::Write;
            // A closed or full stderr leaves nowhere to say so; the exit code still does.
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&e));
            1
        }
    }
}

/// The error and its causes on one line, `outer: inner: ...`. A cause whose
/// text its parent already ends with (error types that print their source and
/// also return it from `source()`) is not repeated.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line += ": ";
            line += &text;
        }
    }
    line.replace('\n', " ")
}

/// `eprintln!` for messages: a closed or full stderr is ignored instead of
/// panicking, so a broken terminal never turns a finished run into a crash.
#[macro_export]
macro_rules! note {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Echo(std::io::Error);
    impl std::fmt::Display for Echo {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot open x: {}", self.0)
        }
    }
    impl std::error::Error for Echo {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_source_its_parent_already_prints_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(2);
        let e = anyhow::Error::new(Echo(io)).context("loading");
        assert_eq!(
            one_line(&e),
            "loading: cannot open x: No such file or directory (os error 2)"
        );
        // The protocol client's damaged-frame error carries the frame error as its source.
        use revspike_proto::protocol::{ClientError, FrameError};
        let e = anyhow::Error::new(ClientError::Frame(FrameError::BadCrc {
            received: 1,
            computed: 2,
        }))
        .context("STATUS");
        assert_eq!(
            one_line(&e),
            "STATUS: damaged response: CRC mismatch: frame says 0x0001, computed 0x0002"
        );
        let e = anyhow::anyhow!("inner\nline").context("outer");
        assert_eq!(one_line(&e), "outer: inner line");
    }
}
