//! `revspike run`: inference on a device (the board or a virtual board) or on
//! several at once.
//!
//! One input prints one JSON object like `revspike golden`. A batch (`--dataset`
//! or `--inputs`) is shared by the boards ([`crate::batch`]), shows a progress bar
//! and prints a summary: accuracy when the samples have labels, agreement with the
//! golden model, inferences per second and link bytes per second against the
//! line-rate bound, per board and in total.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, Args};
use revspike_golden::Model;
use serde::Serialize;

use super::connect::ConnectArgs;
use crate::batch::{golden, load_samples, run_batch, summary_text, BatchOptions};
use crate::device::Boards;

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["input", "dataset", "inputs"])))]
pub struct RunArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Model file (JSON, version 1); checked against the device's capacity, then loaded.
    #[arg(long)]
    pub model: PathBuf,
    /// One input: a JSON array of 0..=255 integers, or a raw file of u8 bytes.
    pub input: Option<PathBuf>,
    /// A batch from a dataset: fashion-mnist, fashion-mnist:test or fashion-mnist:train.
    #[arg(long, value_name = "NAME[:SPLIT]")]
    pub dataset: Option<String>,
    /// A batch from a file: IDX (gzip or plain) or raw u8 bytes, one input after another.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// Inputs of the batch to run, at least 1 (default: all).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// First input of the batch.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Print the batch summary as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write one JSON line per input, in input order (index, label, prediction,
    /// logits, golden agreement, board).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
}

fn single(a: &RunArgs, model: &Model, input_path: &Path) -> Result<()> {
    let input = crate::input::read_input(input_path)?;
    let g = golden(model, &input, 0).with_context(|| input_path.display().to_string())?;
    let mut board = Boards::connect_single(&a.connect.options(), "run with one input")?;
    let dev = &mut board.device;
    dev.load(model)?;
    let r = dev.infer(&input)?;
    let logits = r.logits_i64();
    let agrees = logits == g.logits && r.prediction as usize == g.prediction;
    #[derive(Serialize)]
    struct Out<'a> {
        model: &'a str,
        device: &'a str,
        logits: &'a [i64],
        prediction: u16,
        cycles: u32,
        timesteps: u16,
        golden_agrees: bool,
    }
    let text = serde_json::to_string(&Out {
        model: &model.name,
        device: &dev.info.name,
        logits: &logits,
        prediction: r.prediction,
        cycles: r.cycles,
        timesteps: r.timesteps,
        golden_agrees: agrees,
    })? + "\n";
    board.finish()?;
    super::write_out(None, &text)?;
    if !agrees {
        bail!(
            "the device result disagrees with the golden model (golden logits {:?}, prediction {})",
            g.logits,
            g.prediction
        );
    }
    Ok(())
}

/// Opens the results file without touching its contents, so a path that cannot be
/// written fails before any device is started, and a run that never gets its
/// device (a port held by another program) leaves an earlier file as it was.
fn open_results(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("{}: cannot create", path.display()))
}

pub fn run(a: &RunArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    if let Some(p) = &a.input {
        return single(a, &model, p);
    }
    let samples = load_samples(
        &model,
        a.dataset.as_deref(),
        a.inputs.as_deref(),
        a.offset,
        a.count.map(|c| c as usize),
    )?;
    let results_file = a.results.as_deref().map(open_results).transpose()?;
    let mut boards = Boards::connect(&a.connect.options())?;
    // The devices are ours now: the results file may start afresh.
    let mut results = match results_file {
        Some(f) => {
            f.set_len(0).context("emptying the results file")?;
            Some(BufWriter::new(f))
        }
        None => None,
    };
    let t = Instant::now();
    boards.load(&model)?;
    super::note(format_args!(
        "revspike: model {} loaded on {} in {:.2} s",
        model.name,
        boards
            .boards
            .iter()
            .map(|b| format!("'{}' ({})", b.device.info.name, b.name()))
            .collect::<Vec<_>>()
            .join(", "),
        t.elapsed().as_secs_f64()
    ));
    let mut write_err = None;
    let opts = BatchOptions {
        progress: !a.json,
        ..Default::default()
    };
    let mut summary = run_batch(&mut boards, &model, &samples, &opts, |c| {
        if let Some(w) = results.as_mut() {
            let line = serde_json::to_string(c).unwrap_or_default();
            if let Err(e) = writeln!(w, "{line}") {
                write_err.get_or_insert(e);
            }
        }
    })?;
    if let Some(e) = write_err {
        bail!("writing the results file: {e}");
    }
    if let Some(mut w) = results {
        w.flush().context("writing the results file")?;
    }
    let clock = boards.boards[0].device.info.clock_hz;
    let stats = boards.finish()?;
    // Each board's whole session, the load included, less its waits for this host.
    let cycles: Vec<Option<u64>> = stats
        .iter()
        .map(|s| s.map(|s| s.busy_cycles.unwrap_or(s.cycles)))
        .collect();
    summary.set_board_cycles(&cycles, clock);
    let text = if a.json {
        serde_json::to_string(&summary)? + "\n"
    } else {
        let mut t = summary_text(&summary);
        for f in &summary.board_failures {
            t += &format!("{f}\n");
        }
        t
    };
    super::write_out(None, &text)?;
    if !summary.disagree.is_empty() {
        return Err(anyhow!(
            "{} of {} results disagree with the golden model (inputs {:?})",
            summary.disagree.len(),
            summary.inputs,
            summary.disagree
        ));
    }
    Ok(())
}
