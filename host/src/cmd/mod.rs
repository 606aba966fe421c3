//! One module per subcommand. Each module has an `XxxArgs` struct (clap
//! `Args`) and `pub fn run(args: &XxxArgs) -> anyhow::Result<()>`; add a
//! variant to [`Command`] and an arm to [`Command::run`] to register one.

pub mod bench;
pub mod bitstream;
pub mod connect;
pub mod eval;
pub mod flash;
pub mod gen_input;
pub mod gen_model;
pub mod golden;
pub mod info;
pub mod rewind;
pub mod run;
pub mod state;
pub mod vboard;
pub mod verify;
pub mod verilog;

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bit-exact golden model on one input; prints one JSON object.
    Golden(golden::GoldenArgs),
    /// Generate a random valid model file (deterministic in --seed).
    GenModel(gen_model::GenModelArgs),
    /// Generate a random input for a model as a JSON array (deterministic in --seed).
    GenInput(gen_input::GenInputArgs),
    /// Print a model's shapes, sizes, operation counts, state memory and energy estimate.
    Info(info::InfoArgs),
    /// Score a model on a dataset or a file of inputs with the golden model alone, on all cores.
    Eval(eval::EvalArgs),
    /// Build the Alchitry Cu bitstream (yosys, nextpnr-ice40, icepack) and its report.
    Bitstream(bitstream::BitstreamArgs),
    /// Run inference on the board or a virtual board: one input (JSON), or a batch with a summary.
    Run(run::RunArgs),
    /// Check every device result (and with --rewinds every rewound state) against the golden model.
    Verify(verify::VerifyArgs),
    /// Print the device's turn-on state and status as JSON.
    State(state::StateArgs),
    /// Step the device's turn-on state back K timesteps and print it.
    Rewind(rewind::RewindArgs),
    /// Write a bitstream to the board's flash with iceprog.
    Flash(flash::FlashArgs),
    /// Measure end-to-end inferences/s over the link against the line-rate bound.
    Bench(bench::BenchArgs),
    /// Write the Verilog of a build: its board top level (default) or its core alone.
    Verilog(verilog::VerilogArgs),
    /// Run a standing virtual board; prints its pty and runs until Ctrl-C or SIGTERM.
    Vboard(vboard::VboardArgs),
}

impl Command {
    /// How the subcommand reaches a device, for those that talk to one.
    pub fn connect_args(&self) -> Option<&connect::ConnectArgs> {
        match self {
            Command::Run(a) => Some(&a.connect),
            Command::Verify(a) => Some(&a.connect),
            Command::State(a) => Some(&a.connect),
            Command::Rewind(a) => Some(&a.connect),
            Command::Bench(a) => Some(&a.connect),
            _ => None,
        }
    }

    pub fn run(&self) -> Result<()> {
        let connect = self.connect_args();
        if let Some(c) = connect {
            check_connect_args(c)?;
        }
        self.run_inner().map_err(|e| match connect {
            Some(c) => with_timeout_hint(e, c),
            None => e,
        })
    }

    fn run_inner(&self) -> Result<()> {
        match self {
            Command::Golden(a) => golden::run(a),
            Command::GenModel(a) => gen_model::run(a),
            Command::GenInput(a) => gen_input::run(a),
            Command::Info(a) => info::run(a),
            Command::Eval(a) => eval::run(a),
            Command::Bitstream(a) => bitstream::run(a),
            Command::Run(a) => run::run(a),
            Command::Verify(a) => verify::run(a),
            Command::State(a) => state::run(a),
            Command::Rewind(a) => rewind::run(a),
            Command::Flash(a) => flash::run(a),
            Command::Bench(a) => bench::run(a),
            Command::Verilog(a) => verilog::run(a),
            Command::Vboard(a) => vboard::run(a),
        }
    }
}

/// Response timeouts when `--timeout-ms` is not given (docs: README, "Driving a board").
pub const DEFAULT_TIMEOUT_MS_PORT: u64 = crate::device::connect::PORT_TIMEOUT.as_millis() as u64;
pub const DEFAULT_TIMEOUT_MS_VIRTUAL: u64 =
    crate::device::connect::VIRTUAL_TIMEOUT.as_millis() as u64;

/// Refuses connection settings no device can work with, before connecting.
pub fn check_connect_args(c: &connect::ConnectArgs) -> Result<()> {
    if c.timeout_ms == Some(0) {
        anyhow::bail!(
            "--timeout-ms 0 would give up on every response before it arrives; give at \
             least 1 (default {DEFAULT_TIMEOUT_MS_PORT} on a port, \
             {DEFAULT_TIMEOUT_MS_VIRTUAL} on a virtual board)"
        );
    }
    Ok(())
}

/// Adds a hint to an error that a short `--timeout-ms` may have caused.
pub fn with_timeout_hint(e: anyhow::Error, c: &connect::ConnectArgs) -> anyhow::Error {
    let Some(ms) = c.timeout_ms else { return e };
    let default = if !c.port.is_empty() {
        DEFAULT_TIMEOUT_MS_PORT
    } else {
        DEFAULT_TIMEOUT_MS_VIRTUAL
    };
    let text = crate::one_line(&e);
    let timed_out = ["timeout", "timed out", "no response", "does not identify"]
        .iter()
        .any(|w| text.contains(w));
    if ms < default && timed_out {
        anyhow::anyhow!(
            "{text} (--timeout-ms {ms} may be shorter than an answer takes; the default is \
             {default} ms{})",
            if !c.port.is_empty() {
                " on a port"
            } else {
                " on a virtual board, which simulates slowly"
            }
        )
    } else {
        e
    }
}

/// A line on stderr for the user; a closed or full stderr is not worth failing for.
pub fn note(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Loads and validates a model file (the error names the file and field).
pub fn load_model(path: &std::path::Path) -> Result<revspike_golden::Model> {
    Ok(revspike_golden::Model::load(path)?)
}

/// Writes `text` to `out`, or to stdout when `out` is None.
pub fn write_out(out: Option<&std::path::Path>, text: &str) -> Result<()> {
    use anyhow::Context;
    match out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("{}: cannot write", p.display()))
        }
        None => {
            use std::io::Write;
            let mut so = std::io::stdout().lock();
            so.write_all(text.as_bytes())
                .and_then(|_| so.flush())
                .context("writing stdout")
        }
    }
}
