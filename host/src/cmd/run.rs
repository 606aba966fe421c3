//! `revspike run`: inference on a device (the board or a virtual board).
//!
//! One input prints one JSON object like `revspike golden`. A batch (`--dataset`
//! or `--inputs`) shows a progress bar and prints a summary: accuracy when the
//! samples have labels, agreement with the golden model, inferences per second and
//! link bytes per second against the line-rate bound.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};
use revspike_golden::Model;
use serde::Serialize;

use crate::dataset::{self, Samples};
use crate::device::{ConnectArgs, Device};

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
    /// Inputs of the batch to run (default: all).
    #[arg(long)]
    pub count: Option<usize>,
    /// First input of the batch.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Print the batch summary as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write one JSON line per input (index, label, prediction, logits, golden agreement).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
}

/// One device result and its comparison with the golden model.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<u8>,
    pub prediction: usize,
    pub logits: Vec<i64>,
    pub cycles: u32,
    pub timesteps: u16,
    pub golden_prediction: usize,
    pub golden_logits: Vec<i64>,
    pub agrees: bool,
}

/// Figures of a batch.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub model: String,
    pub device: String,
    pub source: String,
    pub inputs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_accuracy: Option<f64>,
    pub agree: usize,
    pub disagree: Vec<usize>,
    pub window: usize,
    pub seconds: f64,
    pub inferences_per_second: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub link_bytes_per_second: f64,
    pub line_rate_bytes_per_second: f64,
    pub link_utilization: f64,
    pub bytes_sent_per_inference: f64,
    pub line_bound_inferences_per_second: f64,
    pub device_cycles_per_inference: u32,
    /// Virtual board only: simulated clock cycles of the whole session (load
    /// included), and the inferences per second of board time they give.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_time_inferences_per_second: Option<f64>,
    pub resent: u64,
    pub resyncs: u64,
    pub reloads: u64,
    pub damaged_frames: u64,
    pub recovery_events: Vec<String>,
}

/// The golden answer, or an error naming the input.
pub fn golden(model: &Model, input: &[u8], index: usize) -> Result<revspike_golden::Inference> {
    revspike_golden::infer(model, input).map_err(|e| anyhow!("input #{index}: {e}"))
}

/// Checks every input's length for the model before anything is sent.
pub fn check_inputs(model: &Model, samples: &Samples) -> Result<()> {
    for (i, x) in samples.inputs.iter().enumerate() {
        revspike_golden::check_input(model, x)
            .map_err(|e| anyhow!("{} input #{i}: {e}", samples.source))?;
    }
    Ok(())
}

/// Runs `samples` on a device that has the model loaded; compares each result
/// with the golden model. `progress` shows a bar on a terminal.
pub fn run_batch(
    dev: &mut Device,
    model: &Model,
    samples: &Samples,
    progress: bool,
    mut on_result: impl FnMut(&Checked),
) -> Result<Summary> {
    let n = samples.inputs.len();
    let bar = if progress {
        let b = ProgressBar::new(n as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let before = dev.counters();
    let recovery_before = dev.recovery.clone();
    let mut correct = 0usize;
    let mut golden_correct = 0usize;
    let mut agree = 0usize;
    let mut disagree = Vec::new();
    let mut cycles = 0u32;
    let mut failure: Option<anyhow::Error> = None;
    let start = Instant::now();
    dev.infer_batch(&samples.inputs, |i, r| {
        if failure.is_some() {
            return;
        }
        let g = match golden(model, &samples.inputs[i], i) {
            Ok(g) => g,
            Err(e) => {
                failure = Some(e);
                return;
            }
        };
        let logits: Vec<i64> = r.logits.iter().map(|&x| x as i64).collect();
        let prediction = r.prediction as usize;
        let agrees = logits == g.logits && prediction == g.prediction;
        let label = samples.labels.as_ref().map(|l| l[i]);
        if let Some(l) = label {
            correct += usize::from(prediction == l as usize);
            golden_correct += usize::from(g.prediction == l as usize);
        }
        if agrees {
            agree += 1;
        } else {
            disagree.push(i);
            bar.suspend(|| {
                super::note(format_args!(
                    "revspike: input #{i} DISAGREES with the golden model: device logits \
                     {logits:?} prediction {prediction}, golden logits {:?} prediction {}",
                    g.logits, g.prediction
                ))
            });
        }
        cycles = r.cycles;
        let c = Checked {
            index: i,
            label,
            prediction,
            logits,
            cycles: r.cycles,
            timesteps: r.timesteps,
            golden_prediction: g.prediction,
            golden_logits: g.logits,
            agrees,
        };
        on_result(&c);
        bar.inc(1);
        if label.is_some() {
            let done = bar.position().max(1) as f64;
            bar.set_message(format!("acc {:.1}%", 100.0 * correct as f64 / done));
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e);
    }
    disagree.sort_unstable();
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    let after = dev.counters();
    let sent = after.bytes_sent - before.bytes_sent;
    let received = after.bytes_received - before.bytes_received;
    let line = dev.info.baud as f64 / 10.0;
    let per_inf = sent as f64 / n.max(1) as f64;
    let r = &dev.recovery;
    Ok(Summary {
        model: model.name.clone(),
        device: dev.info.name.clone(),
        source: samples.source.clone(),
        inputs: n,
        accuracy: samples
            .labels
            .as_ref()
            .map(|_| correct as f64 / n.max(1) as f64),
        golden_accuracy: samples
            .labels
            .as_ref()
            .map(|_| golden_correct as f64 / n.max(1) as f64),
        agree,
        disagree,
        window: 0,
        seconds,
        inferences_per_second: n as f64 / seconds,
        bytes_sent: sent,
        bytes_received: received,
        link_bytes_per_second: sent.max(received) as f64 / seconds,
        line_rate_bytes_per_second: line,
        link_utilization: sent.max(received) as f64 / seconds / line,
        bytes_sent_per_inference: per_inf,
        line_bound_inferences_per_second: if per_inf > 0.0 { line / per_inf } else { 0.0 },
        device_cycles_per_inference: cycles,
        board_cycles: None,
        board_time_inferences_per_second: None,
        resent: r.resent - recovery_before.resent,
        resyncs: r.resyncs - recovery_before.resyncs,
        reloads: r.reloads - recovery_before.reloads,
        damaged_frames: r.damaged - recovery_before.damaged,
        recovery_events: r.events[recovery_before.events.len()..].to_vec(),
    })
}

/// The summary as text lines.
pub fn summary_text(s: &Summary) -> String {
    let mut out = String::new();
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    out += &format!(
        "model {} on device '{}': {} inputs from {}\n",
        s.model, s.device, s.inputs, s.source
    );
    if let (Some(a), Some(g)) = (s.accuracy, s.golden_accuracy) {
        out += &format!("accuracy          {} (golden model: {})\n", pct(a), pct(g));
    }
    out += &format!(
        "golden agreement  {}/{} results identical (logits and prediction){}\n",
        s.agree,
        s.inputs,
        if s.disagree.is_empty() {
            String::new()
        } else {
            format!("; DISAGREE: {:?}", s.disagree)
        }
    );
    out += &format!(
        "throughput        {:.1} inferences/s ({:.2} s wall time, window {})\n",
        s.inferences_per_second, s.seconds, s.window
    );
    if let (Some(c), Some(r)) = (s.board_cycles, s.board_time_inferences_per_second) {
        out += &format!(
            "board time        {c} cycles simulated (load included): {r:.1} inferences/s \
             of board time (the wall-time figure above is the simulation's speed)\n"
        );
    }
    out += &format!(
        "link              {:.0} B/s sent, {} B sent, {} B received; line rate {:.0} B/s \
         ({:.1}% used)\n",
        s.bytes_sent as f64 / s.seconds,
        s.bytes_sent,
        s.bytes_received,
        s.line_rate_bytes_per_second,
        100.0 * s.link_utilization
    );
    out += &format!(
        "line-rate bound   {:.1} inferences/s for {:.0} B per inference on the wire \
         ({} core cycles each)\n",
        s.line_bound_inferences_per_second,
        s.bytes_sent_per_inference,
        s.device_cycles_per_inference
    );
    if s.resent + s.resyncs + s.reloads + s.damaged_frames > 0 {
        out += &format!(
            "recovery          {} resent, {} resyncs, {} reloads, {} damaged frames\n",
            s.resent, s.resyncs, s.reloads, s.damaged_frames
        );
    }
    out
}

fn single(a: &RunArgs, model: &Model, input_path: &std::path::Path) -> Result<()> {
    let input = crate::input::read_input(input_path)?;
    let g = golden(model, &input, 0).with_context(|| input_path.display().to_string())?;
    let conn = a.connect.connect()?;
    let mut dev = conn.device;
    dev.load(model)?;
    let r = dev.infer(&input)?;
    let logits: Vec<i64> = r.logits.iter().map(|&x| x as i64).collect();
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
    drop(dev);
    if let Some(b) = conn.board {
        b.stop()?;
    }
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

/// Loads the batch a `run`/`bench`/`verify` names.
pub fn load_samples(
    model: &Model,
    dataset_name: Option<&str>,
    inputs: Option<&std::path::Path>,
    offset: usize,
    count: Option<usize>,
) -> Result<Samples> {
    let len = model.expected_input_len();
    let s = match (dataset_name, inputs) {
        (Some(d), _) => dataset::load_dataset(d, len)?,
        (None, Some(p)) => dataset::load_inputs_file(p, len)?,
        (None, None) => bail!("no inputs: give --dataset or --inputs"),
    };
    let s = s.window(offset, count)?;
    if s.inputs.is_empty() {
        bail!("{}: no inputs selected", s.source);
    }
    check_inputs(model, &s)?;
    Ok(s)
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
        a.count,
    )?;
    let mut results = match &a.results {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => None,
    };
    let conn = a.connect.connect()?;
    let mut dev = conn.device;
    let t = Instant::now();
    dev.load(&model)?;
    super::note(format_args!(
        "revspike: model {} loaded on '{}' in {:.2} s",
        model.name,
        dev.info.name,
        t.elapsed().as_secs_f64()
    ));
    let mut write_err = None;
    let mut summary = run_batch(&mut dev, &model, &samples, !a.json, |c| {
        if let Some(w) = results.as_mut() {
            use std::io::Write;
            let line = serde_json::to_string(c).unwrap_or_default();
            if let Err(e) = writeln!(w, "{line}") {
                write_err.get_or_insert(e);
            }
        }
    })?;
    summary.window = a.connect.window as usize;
    if let Some(e) = write_err {
        bail!("writing the results file: {e}");
    }
    if let Some(mut w) = results {
        use std::io::Write;
        w.flush().context("writing the results file")?;
    }
    let clock = dev.info.clock_hz.max(1) as f64;
    drop(dev);
    if let Some(b) = conn.board {
        let cycles = b.stop()?.cycles;
        summary.board_cycles = Some(cycles);
        summary.board_time_inferences_per_second =
            Some(summary.inputs as f64 / (cycles.max(1) as f64 / clock));
    }
    let text = if a.json {
        serde_json::to_string(&summary)? + "\n"
    } else {
        summary_text(&summary)
    };
    super::write_out(None, &text)?;
    if !summary.disagree.is_empty() {
        bail!(
            "{} of {} results disagree with the golden model (inputs {:?})",
            summary.disagree.len(),
            summary.inputs,
            summary.disagree
        );
    }
    Ok(())
}
