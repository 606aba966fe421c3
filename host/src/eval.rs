//! Scoring a model with the golden model alone, on all cores: accuracy, a
//! confusion matrix, wrap16 overflows and throughput (`revspike eval`).

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use revspike_golden::{Engine, Model};
use serde::Serialize;

use crate::dataset::Samples;

/// What [`evaluate`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub source: String,
    pub inputs: usize,
    /// Inputs whose prediction equals the label (when the samples have labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<usize>,
    /// `correct / inputs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// `confusion[label][prediction]`, a square matrix over the classes (and
    /// any larger label); present with labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Vec<Vec<u64>>>,
    /// How often each class was predicted.
    pub predictions: Vec<u64>,
    /// wrap16 overflows of the turn-on update, summed over all inputs (a
    /// correctly quantized model has none).
    pub wraps: u64,
    /// Inputs with at least one wrap.
    pub inputs_with_wraps: usize,
    /// Mean synaptic operations per inference.
    pub mean_sops: f64,
    pub threads: usize,
    pub seconds: f64,
    pub inferences_per_second: f64,
}

/// One sample's answer.
struct One {
    prediction: usize,
    wraps: u64,
    sops: u64,
}

/// Runs every sample through the golden model on a pool of `threads` threads
/// (all cores when `None`); `progress` shows a bar on stderr when it is a
/// terminal.
pub fn evaluate(
    model: &Model,
    samples: &Samples,
    threads: Option<usize>,
    progress: bool,
) -> Result<EvalReport> {
    let n = samples.inputs.len();
    if n == 0 {
        bail!("{}: no inputs to evaluate", samples.source);
    }
    if let Some(l) = &samples.labels {
        if l.len() != n {
            bail!("{}: {} labels for {n} inputs", samples.source, l.len());
        }
    }
    for (i, x) in samples.inputs.iter().enumerate() {
        revspike_golden::check_input(model, x)
            .map_err(|e| anyhow!("{} input #{i}: {e}", samples.source))?;
    }
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 {
            bail!("--threads: expected at least 1");
        }
        builder = builder.num_threads(t);
    }
    let pool = builder
        .build()
        .map_err(|e| anyhow!("cannot start the worker threads: {e}"))?;
    let bar = if progress {
        // Drawn on stderr, and only when it is a terminal.
        ProgressBar::new(n as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let engine = Engine::new(model);
    let start = Instant::now();
    let results: Vec<One> = pool.install(|| {
        samples
            .inputs
            .par_iter()
            .map(|x| {
                // Lengths were checked above, so this cannot fail.
                let r = engine.classify(x).map(|c| One {
                    prediction: c.prediction,
                    wraps: c.wraps,
                    sops: c.sops,
                });
                bar.inc(1);
                r
            })
            .collect::<Result<Vec<One>, _>>()
    })?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let max_label = samples
        .labels
        .as_ref()
        .and_then(|l| l.iter().max().copied())
        .map_or(0, |m| m as usize + 1);
    let k = model.classes.max(max_label);
    let mut predictions = vec![0u64; model.classes];
    for r in &results {
        predictions[r.prediction] += 1;
    }
    let (correct, confusion) = match &samples.labels {
        Some(labels) => {
            let mut m = vec![vec![0u64; k]; k];
            let mut ok = 0;
            for (r, &l) in results.iter().zip(labels) {
                m[l as usize][r.prediction] += 1;
                ok += (r.prediction == l as usize) as usize;
            }
            (Some(ok), Some(m))
        }
        None => (None, None),
    };
    Ok(EvalReport {
        model: model.name.clone(),
        source: samples.source.clone(),
        inputs: n,
        accuracy: correct.map(|c| c as f64 / n as f64),
        correct,
        confusion,
        predictions,
        wraps: results.iter().map(|r| r.wraps).sum(),
        inputs_with_wraps: results.iter().filter(|r| r.wraps > 0).count(),
        mean_sops: results.iter().map(|r| r.sops as f64).sum::<f64>() / n as f64,
        threads: pool.current_num_threads(),
        seconds,
        inferences_per_second: n as f64 / seconds.max(1e-9),
    })
}

/// The report as text lines.
pub fn report_text(r: &EvalReport) -> String {
    let mut out = format!(
        "model {} (golden model): {} inputs from {}\n",
        r.model, r.inputs, r.source
    );
    if let (Some(a), Some(c)) = (r.accuracy, r.correct) {
        out += &format!(
            "accuracy    {:.2} % ({c} of {} correct)\n",
            100.0 * a,
            r.inputs
        );
    }
    out += &format!(
        "wraps       {} wrap16 overflow(s) in {} input(s){}\n",
        r.wraps,
        r.inputs_with_wraps,
        if r.wraps > 0 {
            ": the model is not correctly quantized for these inputs"
        } else {
            ""
        }
    );
    out += &format!(
        "throughput  {:.0} inferences/s on {} thread(s) ({:.2} s; mean {:.0} SOPs per inference)\n",
        r.inferences_per_second, r.threads, r.seconds, r.mean_sops
    );
    match &r.confusion {
        Some(m) => {
            out += "confusion matrix (rows: label, columns: prediction)\n";
            let w = m
                .iter()
                .flatten()
                .map(|x| x.to_string().len())
                .max()
                .unwrap_or(1)
                .max(m.len().to_string().len());
            out += &format!("{:>w$}", "", w = w + 2);
            for j in 0..m.len() {
                out += &format!(" {j:>w$}");
            }
            out += "\n";
            for (i, row) in m.iter().enumerate() {
                out += &format!("{i:>w$}  ", w = w);
                for x in row {
                    out += &format!(" {x:>w$}");
                }
                out += "\n";
            }
        }
        None => {
            out += "predictions per class:";
            for (j, x) in r.predictions.iter().enumerate() {
                out += &format!(" {j}:{x}");
            }
            out += "\n";
        }
    }
    out
}
