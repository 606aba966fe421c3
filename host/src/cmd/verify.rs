//! `revspike verify`: every device result against the golden model — logits and
//! prediction, and with --rewinds the turn-on state after each single-step REWIND
//! down to t = 0. Each mismatch is reported with its input (index and bytes); any
//! mismatch makes the command fail.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use revspike_golden::{Machine, Model};
use serde::Serialize;

use super::run::{load_samples, run_batch};
use super::state::trim;
use crate::dataset::Samples;
use crate::device::{ConnectArgs, Device};

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Model file (JSON, version 1).
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs to check.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
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

/// One disagreement between the device and the golden model.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    pub index: usize,
    /// What differed: "result", or "state after rewind to t=N".
    pub what: String,
    pub device: String,
    pub golden: String,
    pub input: Vec<u8>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    model: String,
    device: String,
    inputs: usize,
    results_checked: usize,
    rewinds_checked: usize,
    mismatches: Vec<Mismatch>,
    resent: u64,
    resyncs: u64,
    reloads: u64,
}

fn generated(model: &Model, count: usize, seed: u64) -> Samples {
    Samples {
        inputs: (0..count as u64)
            .map(|i| revspike_golden::gen_input(model, seed.wrapping_add(i)))
            .collect(),
        labels: None,
        source: format!("generated inputs (seed {seed})"),
    }
}

/// Rewinds input `i` one step at a time from T to 0 and compares each state, and
/// checks that one more REWIND at t = 0 is refused (the device stays at 0).
fn check_rewinds(
    dev: &mut Device,
    model: &Model,
    i: usize,
    input: &[u8],
    mismatches: &mut Vec<Mismatch>,
) -> Result<usize> {
    let mut mismatch = |what: String, device: String, golden: String| {
        mismatches.push(Mismatch {
            index: i,
            what,
            device,
            golden,
            input: input.to_vec(),
        })
    };
    let r = dev.infer(input)?;
    let g = revspike_golden::infer(model, input)?;
    let logits: Vec<i64> = r.logits.iter().map(|&x| x as i64).collect();
    if logits != g.logits || r.prediction as usize != g.prediction {
        mismatch(
            "result (before rewinding)".into(),
            format!("logits {logits:?} prediction {}", r.prediction),
            format!("logits {:?} prediction {}", g.logits, g.prediction),
        );
    }
    let mut m = Machine::new(model, input)?;
    while m.step() {}
    let stages = model.stages.len();
    let mut checked = 0;
    for t in (0..model.timesteps).rev() {
        let now = dev.rewind(1)? as usize;
        m.rewind()?;
        let state = trim(dev.state(stages)?, Some(model));
        checked += 1;
        if now != t || state != m.state() {
            mismatch(
                format!("state after rewind to t={t}"),
                format!("t={now} state {state:?}"),
                format!("t={t} state {:?}", m.state()),
            );
        }
    }
    let now = dev.rewind(1)?;
    if now != 0 {
        mismatch(
            "REWIND at t=0".into(),
            format!("t={now}"),
            "refused, t=0".into(),
        );
    }
    Ok(checked)
}

pub fn run(a: &VerifyArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    let samples = if a.dataset.is_some() || a.inputs.is_some() {
        load_samples(
            &model,
            a.dataset.as_deref(),
            a.inputs.as_deref(),
            a.offset,
            Some(a.count),
        )?
    } else {
        generated(&model, a.count, a.seed)
    };
    let conn = a.connect.connect()?;
    let mut dev = conn.device;
    dev.load(&model)?;
    let mut report = Report {
        model: model.name.clone(),
        device: dev.info.name.clone(),
        inputs: samples.inputs.len(),
        ..Default::default()
    };
    let summary = run_batch(&mut dev, &model, &samples, !a.json, |c| {
        if !c.agrees {
            report.mismatches.push(Mismatch {
                index: c.index,
                what: "result".into(),
                device: format!("logits {:?} prediction {}", c.logits, c.prediction),
                golden: format!(
                    "logits {:?} prediction {}",
                    c.golden_logits, c.golden_prediction
                ),
                input: samples.inputs[c.index].clone(),
            });
        }
    })?;
    report.results_checked = summary.inputs;
    if a.rewinds {
        for (i, x) in samples.inputs.iter().enumerate() {
            report.rewinds_checked +=
                check_rewinds(&mut dev, &model, i, x, &mut report.mismatches)?;
        }
    }
    report.mismatches.sort_by_key(|m| m.index);
    report.resent = dev.recovery.resent;
    report.resyncs = dev.recovery.resyncs;
    report.reloads = dev.recovery.reloads;
    drop(dev);
    if let Some(b) = conn.board {
        b.stop()?;
    }
    let text = if a.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        let mut t = String::new();
        for m in &report.mismatches {
            t += &format!(
                "MISMATCH input #{} ({}): device {} / golden {}; input bytes {}\n",
                m.index,
                m.what,
                m.device,
                m.golden,
                crate::input::to_json(&m.input)
            );
        }
        t += &format!(
            "verify: model {} on device '{}': {} inputs, {} results and {} rewound states \
             checked, {} mismatches ({} resent, {} resyncs, {} reloads)\n",
            report.model,
            report.device,
            report.inputs,
            report.results_checked,
            report.rewinds_checked,
            report.mismatches.len(),
            report.resent,
            report.resyncs,
            report.reloads
        );
        t
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
