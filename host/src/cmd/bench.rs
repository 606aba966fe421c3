//! `revspike bench`: end-to-end inferences per second over the link (the board, a
//! virtual board, or several), ping-pong and pipelined, against the line-rate bound
//! for the bytes each inference puts on the wire ([`crate::bench`]).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::connect::ConnectArgs;
use crate::batch::load_samples;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Model file.
    #[arg(long, default_value = "models/fashion-cu.json")]
    pub model: PathBuf,
    /// Dataset the inputs come from.
    #[arg(long, default_value = "fashion-mnist", conflicts_with = "inputs")]
    pub dataset: String,
    /// Inputs from a file (IDX or raw u8) instead of the dataset.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// Inputs per measured window size, at least 1.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Window sizes (frames in flight per board) to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4",
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub windows: Vec<u16>,
    /// Print a JSON array (one summary per window) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    let (dataset, inputs) = match &a.inputs {
        Some(p) => (None, Some(p.as_path())),
        None => (Some(a.dataset.as_str()), None),
    };
    let samples = load_samples(&model, dataset, inputs, 0, Some(a.count as usize))?;
    let windows: Vec<usize> = a.windows.iter().map(|&w| w as usize).collect();
    let rows = crate::bench::bench(&model, &samples, &a.connect.options(), &windows)?;
    let text = if a.json {
        serde_json::to_string(&rows)? + "\n"
    } else {
        crate::bench::table(&model, &samples, &rows)
    };
    super::write_out(None, &text)
}
