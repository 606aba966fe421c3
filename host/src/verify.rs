//! Verification against the golden model: every device result (logits and
//! prediction) and, optionally, the turn-on state after each single-step REWIND
//! down to t = 0. Both phases are sharded across the boards like any batch.

use std::sync::Mutex;

use anyhow::Result;
use revspike_golden::{Machine, Model};
use serde::Serialize;

use crate::batch::{progress_bar, run_batch, shard_inputs, BatchOptions, ShardOptions};
use crate::dataset::Samples;
use crate::device::{Boards, Device};
use crate::state::trim;

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

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub model: String,
    pub device: String,
    pub boards: usize,
    pub inputs: usize,
    pub results_checked: usize,
    pub rewinds_checked: usize,
    pub mismatches: Vec<Mismatch>,
    pub golden_retries: usize,
    pub resent: u64,
    pub resyncs: u64,
    pub reloads: u64,
    pub board_failures: Vec<String>,
}

/// Rewinds input `i` one step at a time from T to 0 and compares each state, and
/// checks that one more REWIND at t = 0 is refused (the device stays at 0). Returns
/// the states checked.
pub fn check_rewinds(
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
    let logits = r.logits_i64();
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

/// Checks every input of `samples` on `boards` (the model loaded on each), and with
/// `rewinds` every rewound state too. `progress` shows a bar on stderr.
pub fn verify(
    boards: &mut Boards,
    model: &Model,
    samples: &Samples,
    rewinds: bool,
    progress: bool,
) -> Result<Report> {
    let mut mismatches = Vec::new();
    let opts = BatchOptions {
        progress,
        ..Default::default()
    };
    let summary = run_batch(boards, model, samples, &opts, |c| {
        if !c.agrees {
            mismatches.push(Mismatch {
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
    let mut report = Report {
        model: model.name.clone(),
        device: summary.device.clone(),
        boards: boards.len(),
        inputs: samples.inputs.len(),
        results_checked: summary.inputs,
        golden_retries: summary.golden_retries,
        board_failures: summary.board_failures.clone(),
        ..Default::default()
    };
    if rewinds {
        let found = Mutex::new((Vec::new(), 0usize));
        let n = samples.inputs.len();
        let bar = progress_bar(n, progress);
        let (_, failures) = shard_inputs(
            &mut boards.boards,
            n,
            &bar,
            &ShardOptions::default(),
            |b, board, shard| {
                while let Some(i) = shard.take(b) {
                    let mut here = Vec::new();
                    let k =
                        check_rewinds(&mut board.device, model, i, &samples.inputs[i], &mut here)?;
                    let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                    f.0.extend(here);
                    f.1 += k;
                    drop(f);
                    shard.finish(b, i);
                    bar.inc(1);
                }
                Ok(())
            },
        )?;
        bar.finish_and_clear();
        let (m, k) = found.into_inner().unwrap_or_else(|p| p.into_inner());
        mismatches.extend(m);
        report.rewinds_checked = k;
        report.board_failures.extend(failures);
    }
    mismatches.sort_by_key(|m| m.index);
    report.mismatches = mismatches;
    for b in &boards.boards {
        report.resent += b.device.recovery.resent;
        report.resyncs += b.device.recovery.resyncs;
        report.reloads += b.device.recovery.reloads;
    }
    Ok(report)
}

/// The report as text: one line per mismatch, then the totals.
pub fn report_text(r: &Report) -> String {
    let mut t = String::new();
    for m in &r.mismatches {
        t += &format!(
            "MISMATCH input #{} ({}): device {} / golden {}; input bytes {}\n",
            m.index,
            m.what,
            m.device,
            m.golden,
            crate::input::to_json(&m.input)
        );
    }
    for f in &r.board_failures {
        t += &format!("{f}\n");
    }
    let on = if r.boards > 1 {
        format!("{} boards ('{}')", r.boards, r.device)
    } else {
        format!("device '{}'", r.device)
    };
    t += &format!(
        "verify: model {} on {on}: {} inputs, {} results and {} rewound states \
         checked, {} mismatches ({} resent, {} resyncs, {} reloads)\n",
        r.model,
        r.inputs,
        r.results_checked,
        r.rewinds_checked,
        r.mismatches.len(),
        r.resent,
        r.resyncs,
        r.reloads
    );
    t
}
