//! `revspike verify`: every device result against the golden model — logits and
//! prediction, and with --rewinds the turn-on state after each single-step REWIND
//! down to t = 0 ([`crate::verify`]). Each mismatch is reported with its input
//! (index and bytes); any mismatch makes the command fail.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::connect::ConnectArgs;
use crate::batch::{generated, load_samples};
use crate::device::Boards;
use crate::verify::{report_text, verify};

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Model file (JSON, version 1).
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs to check, at least 1.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Inputs from a dataset (fashion-mnist[:test|:train]) instead of generated ones.
    #[arg(long, value_name = "NAME[:SPLIT]", conflicts_with = "inputs")]
    pub dataset: Option<String>,
    /// Inputs from a file (IDX or raw u8) instead of generated ones.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// First input taken from --dataset or --inputs.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Seed of the generated inputs (input i uses seed + i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also rewind each input one timestep at a time down to t = 0 and compare the
    /// turn-on state after every step.
    #[arg(long)]
    pub rewinds: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &VerifyArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    let count = a.count as usize;
    let samples = if a.dataset.is_some() || a.inputs.is_some() {
        load_samples(
            &model,
            a.dataset.as_deref(),
            a.inputs.as_deref(),
            a.offset,
            Some(count),
        )?
    } else {
        generated(&model, count, a.seed)
    };
    let mut boards = Boards::connect(&a.connect.options())?;
    boards.load(&model)?;
    let report = verify(&mut boards, &model, &samples, a.rewinds, !a.json)?;
    boards.finish()?;
    let text = if a.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        report_text(&report)
    };
    super::write_out(None, &text)?;
    if !report.mismatches.is_empty() {
        bail!(
            "{} mismatches with the golden model (inputs {:?})",
            report.mismatches.len(),
            report
                .mismatches
                .iter()
                .map(|m| m.index)
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
