//! `revspike eval --model M --dataset NAME | --inputs FILE`: the golden model
//! alone on a whole batch, on all cores (no board): accuracy, confusion
//! matrix, wraps and throughput. The work is in [`crate::eval`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};

use crate::dataset;

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["dataset", "inputs"])))]
pub struct EvalArgs {
    /// Model file (JSON, version 1 or 2).
    #[arg(long)]
    pub model: PathBuf,
    /// A dataset: fashion-mnist, fashion-mnist:test or fashion-mnist:train.
    #[arg(long, value_name = "NAME[:SPLIT]")]
    pub dataset: Option<String>,
    /// A file of inputs: IDX (gzip or plain) or raw u8 bytes, one input after another.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// Labels for --inputs: an IDX file of u8, one per input.
    #[arg(long, value_name = "FILE", requires = "inputs")]
    pub labels: Option<PathBuf>,
    /// Inputs to evaluate (default: all).
    #[arg(long)]
    pub count: Option<usize>,
    /// First input.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    let len = model.expected_input_len();
    let mut samples = match (&a.dataset, &a.inputs) {
        (Some(d), _) => dataset::load_dataset(d, len)?,
        (None, Some(p)) => dataset::load_inputs_file(p, len)?,
        (None, None) => bail!("no inputs: give --dataset or --inputs"),
    };
    if let Some(p) = &a.labels {
        let idx = dataset::read_idx(p, dataset::IdxShape::ANY)?;
        if idx.dims.len() != 1 || idx.dims[0] != samples.inputs.len() {
            bail!(
                "{}: {:?} labels for {} inputs",
                p.display(),
                idx.dims,
                samples.inputs.len()
            );
        }
        samples.labels = Some(idx.data);
    }
    if a.count == Some(0) {
        bail!("--count 0: nothing to evaluate");
    }
    let samples = samples.window(a.offset, a.count)?;
    let report = crate::eval::evaluate(&model, &samples, a.threads, !a.json)
        .with_context(|| format!("evaluating {}", a.model.display()))?;
    let text = if a.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        crate::eval::report_text(&report)
    };
    super::write_out(None, &text)
}
