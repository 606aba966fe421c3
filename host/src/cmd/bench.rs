//! `revspike bench`: end-to-end inferences per second over the link (the board or
//! a virtual board), ping-pong and pipelined, against the line-rate bound for the
//! bytes each inference puts on the wire.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use super::run::{load_samples, run_batch, Summary};
use crate::device::ConnectArgs;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Model file.
    #[arg(long, default_value = "models/fashion-cu.json")]
    pub model: PathBuf,
    /// Dataset the inputs come from.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Inputs per measured window size.
    #[arg(long, default_value_t = 40)]
    pub count: usize,
    /// Window sizes (frames in flight) to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub windows: Vec<u16>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    window: usize,
    /// On a virtual board: simulated clock cycles of the batch alone (the load and
    /// the idle tail measured on a board that only loads are subtracted), and the
    /// inferences per second of board time they give.
    #[serde(skip_serializing_if = "Option::is_none")]
    board_cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    board_time_inferences_per_second: Option<f64>,
    #[serde(flatten)]
    summary: Summary,
}

pub fn run(a: &BenchArgs) -> Result<()> {
    if a.windows.iter().any(|&w| w == 0 || w > 16) {
        bail!("--windows: each window must be 1..=16");
    }
    let model = super::load_model(&a.model)?;
    let samples = load_samples(&model, Some(&a.dataset), None, 0, Some(a.count))?;
    // On a virtual board, the simulated cycles of a board that only identifies and
    // loads: subtracted from each window's total to leave the batch's own.
    let baseline = if a.connect.port.is_none() {
        let conn = a.connect.connect()?;
        let mut dev = conn.device;
        dev.load(&model)?;
        drop(dev);
        match conn.board {
            Some(b) => Some(b.stop()?.cycles),
            None => None,
        }
    } else {
        None
    };
    let mut rows = Vec::new();
    for &w in &a.windows {
        let mut c = a.connect.clone();
        c.window = w;
        // A fresh connection per window, so each starts from the same device state.
        let conn = c.connect()?;
        let mut dev = conn.device;
        dev.load(&model)?;
        let mut s = run_batch(&mut dev, &model, &samples, false, |_| {})?;
        s.window = w as usize;
        if !s.disagree.is_empty() {
            bail!(
                "window {w}: results disagree with the golden model: {:?}",
                s.disagree
            );
        }
        let clock = dev.info.clock_hz.max(1) as f64;
        drop(dev);
        let board_cycles = match (conn.board, baseline) {
            (Some(b), Some(base)) => Some(b.stop()?.cycles.saturating_sub(base)),
            _ => None,
        };
        rows.push(Row {
            window: w as usize,
            board_cycles,
            board_time_inferences_per_second: board_cycles
                .filter(|&c| c > 0)
                .map(|c| s.inputs as f64 / (c as f64 / clock)),
            summary: s,
        });
    }
    let text = if a.json {
        serde_json::to_string(&rows)? + "\n"
    } else {
        let mut t = format!(
            "bench: model {} on '{}', {} inputs from {} per window\n\
             window  inferences/s  link B/s sent  line rate B/s  B/inference  line-bound inf/s  utilization  board-time inf/s\n",
            model.name,
            rows.first().map(|r| r.summary.device.as_str()).unwrap_or("?"),
            samples.inputs.len(),
            samples.source
        );
        for r in &rows {
            let s = &r.summary;
            let board = r
                .board_time_inferences_per_second
                .map_or("-".to_string(), |x| format!("{x:.1}"));
            t += &format!(
                "{:>6}  {:>12.1}  {:>13.0}  {:>13.0}  {:>11.0}  {:>16.1}  {:>10.2}%  {:>16}\n",
                r.window,
                s.inferences_per_second,
                s.bytes_sent as f64 / s.seconds,
                s.line_rate_bytes_per_second,
                s.bytes_sent_per_inference,
                s.line_bound_inferences_per_second,
                100.0 * s.link_utilization,
                board
            );
        }
        if baseline.is_some() {
            t += "(virtual board: inferences/s is wall time, set by the simulation's speed; \
                  board-time inf/s counts simulated clock cycles at the build's clock, \
                  what the Cu itself would do with this host)\n";
        }
        t
    };
    super::write_out(None, &text)
}
