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
pub mod verify;

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
}

impl Command {
    pub fn run(&self) -> Result<()> {
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
        }
    }
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
