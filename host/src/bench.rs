//! End-to-end throughput over the link against the line-rate bound, for each
//! window size (frames in flight), on one board or several.
//!
//! On virtual boards the figure that means something is board time: each board's
//! clock runs only with its own simulation (sim/src/vboard.rs), and of that clock
//! only the busy cycles count: those in which a byte moves on the UART either way
//! or the board's busy LED is lit. A simulated board also idles while this host,
//! slowed by the simulations beside it, prepares the next frame; those cycles
//! depend on the machine's load, not on the board, and are left out. So a batch's
//! board cycles are what the Alchitry Cu itself would take with a host that keeps
//! it fed. What identifying and loading cost is measured on boards that only do
//! that (each stopped right after its load) and subtracted board by board. The
//! boards run side by side, so the batch's board time is the longest board's, and
//! total board-time throughput is all inferences over that time
//! ([`crate::batch::Summary::set_board_cycles`]). Wall time is the simulation's
//! speed and does not scale past the machine's cores.

use anyhow::{bail, Result};
use revspike_golden::Model;

use crate::batch::{run_batch, BatchOptions, Summary};
use crate::dataset::Samples;
use crate::device::{Boards, ConnectOptions};

/// Measures `samples` once per window size, each on freshly connected devices (so
/// every window starts from the same device state). Fails if any result disagrees
/// with the golden model.
pub fn bench(
    model: &Model,
    samples: &Samples,
    connect: &ConnectOptions,
    windows: &[usize],
) -> Result<Vec<Summary>> {
    if windows.iter().any(|&w| w == 0 || w > 16) {
        bail!("--windows: each window must be 1..=16");
    }
    let virtual_boards = connect.ports.is_empty();
    // Simulated cycles of boards that only identify and load, each stopped as soon
    // as its own load is done: subtracted, board by board in the order started,
    // from the boards of each window, which start on the inputs as soon as their
    // own load is done and are stopped as soon as no input is left for them.
    let baseline: Option<Vec<u64>> = if virtual_boards {
        let mut boards = Boards::connect(connect)?;
        boards.check(model)?;
        let loaded: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = boards
                .boards
                .iter_mut()
                .map(|b| {
                    s.spawn(move || {
                        b.device.load(model)?;
                        b.stop_virtual()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| bail!("loading panicked")))
                .collect()
        });
        loaded.into_iter().collect::<Result<Vec<()>>>()?;
        Some(
            boards
                .finish()?
                .into_iter()
                .map(|s| s.map_or(0, |s| s.busy_cycles.unwrap_or(s.cycles)))
                .collect(),
        )
    } else {
        None
    };
    let mut rows = Vec::new();
    for &w in windows {
        let mut c = connect.clone();
        c.window = w;
        let mut boards = Boards::connect(&c)?;
        boards.check(model)?;
        let opts = BatchOptions {
            progress: false,
            load_first: true,
            stop_when_idle: true,
        };
        let mut s = run_batch(&mut boards, model, samples, &opts, |_| {})?;
        if !s.disagree.is_empty() {
            bail!(
                "window {w}: results disagree with the golden model: {:?}",
                s.disagree
            );
        }
        let clock = boards.boards[0].device.info.clock_hz;
        let cycles: Vec<Option<u64>> = boards
            .finish()?
            .into_iter()
            .enumerate()
            .map(|(k, c)| match (c, &baseline) {
                (Some(c), Some(base)) => {
                    Some(c.busy_cycles.unwrap_or(c.cycles).saturating_sub(base[k]))
                }
                _ => None,
            })
            .collect();
        s.set_board_cycles(&cycles, clock);
        rows.push(s);
    }
    Ok(rows)
}

/// The rows as a table, with a line per board when there are several.
pub fn table(model: &Model, samples: &Samples, rows: &[Summary]) -> String {
    let boards = rows.first().map_or(0, |r| r.boards.len());
    let mut t = format!(
        "bench: model {} on {boards} x '{}', {} inputs from {} per window\n\
         window  boards  inferences/s  link B/s sent  line rate B/s  B/inference  line-bound inf/s  utilization  board-time inf/s\n",
        model.name,
        rows.first().map(|r| r.device.as_str()).unwrap_or("?"),
        samples.inputs.len(),
        samples.source
    );
    let mut virtual_boards = false;
    for s in rows {
        let board = s
            .board_time_inferences_per_second
            .map_or("-".to_string(), |x| format!("{x:.1}"));
        virtual_boards |= s.board_time_inferences_per_second.is_some();
        t += &format!(
            "{:>6}  {:>6}  {:>12.1}  {:>13.0}  {:>13.0}  {:>11.0}  {:>16.1}  {:>10.2}%  {:>16}\n",
            s.window,
            s.boards.len(),
            s.inferences_per_second,
            s.bytes_sent as f64 / s.seconds,
            s.line_rate_bytes_per_second,
            s.bytes_sent_per_inference,
            s.line_bound_inferences_per_second,
            100.0 * s.link_utilization,
            board
        );
        if s.boards.len() > 1 {
            for b in &s.boards {
                t += &crate::batch::board_line(b);
            }
        }
        for f in &s.board_failures {
            t += &format!("  {f}\n");
        }
    }
    if virtual_boards {
        t += "(virtual boards: inferences/s is wall time, set by the simulation's speed; \
              board-time inf/s counts simulated clock cycles at the build's clock, what the \
              boards themselves would do with this host: all inferences over the longest \
              board's time, as the boards run side by side)\n";
    }
    t
}
