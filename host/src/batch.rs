//! The batch engine `run`, `verify` and `bench` share: a batch of inputs sharded
//! across one or more devices, every result checked against the golden model.
//!
//! - **Sharding**: one thread per board; each takes the next input from one shared
//!   queue whenever its window has room, so a faster board simply takes more
//!   (work stealing at the granularity of one input).
//! - **Order**: results are handed to the caller in input order, whatever order the
//!   boards finish them in.
//! - **A board failing**: its port fails, it stops answering for good, or it cannot
//!   recover its model. The inputs it had taken and not finished go back to the
//!   queue for the other boards; the failure is reported and counted. Only when every
//!   board has failed does the batch fail, saying how many inputs are left.
//! - **Golden check with one retry**: a result that disagrees with the golden model
//!   is not taken at once. The board's model may have been changed behind the host's
//!   back (a stray WRITE, a glitch), so the model is loaded again and the input run
//!   again; only a second disagreement is declared a mismatch.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use revspike_golden::Model;
use serde::Serialize;

use crate::dataset::{self, Samples};
use crate::device::{Board, Boards, Device, Verdict};

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
    /// The port of the board that computed it.
    pub board: String,
}

/// Figures of one board in a batch.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BoardSummary {
    pub port: String,
    pub device: String,
    /// Results taken from this board.
    pub inputs: usize,
    /// Wall time from the start of the batch until this board ran out of work (or
    /// failed).
    pub seconds: f64,
    pub inferences_per_second: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub resent: u64,
    pub resyncs: u64,
    pub reloads: u64,
    pub damaged_frames: u64,
    /// Why the board dropped out of the batch, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// Virtual board only: simulated clock cycles (what they cover is said where
    /// they are filled in: [`Summary::set_board_cycles`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_time_inferences_per_second: Option<f64>,
}

/// Figures of a batch, over all its boards.
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
    /// Results that disagreed with the golden model once and were run again after
    /// the model was reloaded.
    pub golden_retries: usize,
    /// INFER frames kept in flight per board.
    pub window: usize,
    pub seconds: f64,
    /// Over all boards, by wall time.
    pub inferences_per_second: f64,
    /// Over all boards.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub link_bytes_per_second: f64,
    /// The line rate of all the boards' links together (each its own UART).
    pub line_rate_bytes_per_second: f64,
    pub link_utilization: f64,
    pub bytes_sent_per_inference: f64,
    /// What the links allow for the bytes sent per inference, all boards together.
    pub line_bound_inferences_per_second: f64,
    /// Mean core cycles per inference, as the device reports them.
    pub device_cycles_per_inference: u32,
    /// Virtual boards only: the longest board's simulated clock cycles, and the
    /// batch's inferences per second of board time: all inferences over the longest
    /// board time, since the boards run side by side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_time_inferences_per_second: Option<f64>,
    pub resent: u64,
    pub resyncs: u64,
    pub reloads: u64,
    pub damaged_frames: u64,
    pub recovery_events: Vec<String>,
    /// One line per board that dropped out of the batch.
    pub board_failures: Vec<String>,
    pub boards: Vec<BoardSummary>,
}

impl Summary {
    /// Fills in the board-time figures from each board's simulated cycles (None for
    /// a real board) at `clock_hz`. Each board's clock runs only with its own
    /// simulation, and the boards of a batch run side by side, so the batch takes
    /// the longest board's time: total board-time throughput is all inferences over
    /// that, and each board's own is its inferences over its own time.
    pub fn set_board_cycles(&mut self, cycles: &[Option<u64>], clock_hz: u32) {
        let clock = clock_hz.max(1) as f64;
        for (b, c) in self.boards.iter_mut().zip(cycles) {
            b.board_cycles = *c;
            b.board_time_inferences_per_second = c
                .filter(|&c| c > 0)
                .map(|c| b.inputs as f64 / (c as f64 / clock));
        }
        let longest = cycles.iter().flatten().copied().max();
        if cycles.iter().all(Option::is_some) {
            self.board_cycles = longest;
            self.board_time_inferences_per_second = longest
                .filter(|&c| c > 0)
                .map(|c| self.inputs as f64 / (c as f64 / clock));
        }
    }
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

/// Loads the batch a `run`/`bench`/`verify` names: `count` inputs (all when None)
/// from `offset` of a dataset or an inputs file, checked against the model.
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

/// `count` generated inputs for `model` (input i uses seed + i).
pub fn generated(model: &Model, count: usize, seed: u64) -> Samples {
    Samples {
        inputs: (0..count as u64)
            .map(|i| revspike_golden::gen_input(model, seed.wrapping_add(i)))
            .collect(),
        labels: None,
        source: format!("generated inputs (seed {seed})"),
    }
}

/// The inputs of a sharded batch: who holds what.
struct Pool {
    /// Inputs no board holds, in input order.
    queue: VecDeque<usize>,
    /// Per board: inputs taken and not finished.
    held: Vec<BTreeSet<usize>>,
    alive: Vec<bool>,
    /// Inputs not finished.
    left: usize,
    failures: Vec<String>,
    /// Boards that left the batch when they ran out of inputs.
    retired: usize,
}

/// Inputs shared by the boards of a batch; each board's thread takes from it.
pub struct Shard {
    pool: Mutex<Pool>,
    changed: Condvar,
}

impl Shard {
    fn new(items: usize, alive: Vec<bool>) -> Shard {
        Shard {
            pool: Mutex::new(Pool {
                queue: (0..items).collect(),
                held: vec![BTreeSet::new(); alive.len()],
                alive,
                left: items,
                failures: Vec::new(),
                retired: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next input for board `b`, or None when none is free now.
    pub fn take(&self, b: usize) -> Option<usize> {
        let mut p = self.lock();
        let i = p.queue.pop_front()?;
        p.held[b].insert(i);
        Some(i)
    }

    /// Board `b` finished input `i`.
    pub fn finish(&self, b: usize, i: usize) {
        let mut p = self.lock();
        if p.held[b].remove(&i) {
            p.left -= 1;
            if p.left == 0 {
                self.changed.notify_all();
            }
        }
    }

    /// Blocks until an input is free (true) or every input is finished (false).
    /// With `retire`, board `b` does not wait for inputs the others hold (they come
    /// back only if one fails): it leaves the batch at once (false).
    fn wait_for_work(&self, b: usize, retire: bool) -> bool {
        let mut p = self.lock();
        loop {
            if p.left == 0 {
                return false;
            }
            if !p.queue.is_empty() {
                return true;
            }
            if retire {
                p.alive[b] = false;
                p.retired += 1;
                return false;
            }
            p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Board `b` is out: what it held goes back to the queue, in input order.
    /// Returns the failure line and the boards still working.
    fn fail(&self, b: usize, port: &str, e: &anyhow::Error) -> (String, usize) {
        let mut p = self.lock();
        p.alive[b] = false;
        let back = std::mem::take(&mut p.held[b]);
        let n = back.len();
        let mut all: Vec<usize> = p.queue.drain(..).chain(back).collect();
        all.sort_unstable();
        p.queue = all.into();
        let others = p.alive.iter().filter(|&&a| a).count();
        let line = format!(
            "board {port} failed: {}; its {n} unfinished inputs go back to the queue \
             (boards still working: {others})",
            crate::one_line(e)
        );
        p.failures.push(line.clone());
        self.changed.notify_all();
        (line, others)
    }
}

/// Runs `work` on every board at once, one thread each, until every one of `items`
/// is finished. `work(b, board, shard)` takes inputs with `shard.take(b)` and
/// reports each done with `shard.finish(b, i)`; it may return early and is called
/// again while inputs are free. A board whose `work` fails is out, and what it held
/// goes to the others. `opts` may have each board load the model first, and stop
/// each virtual board when it runs out of inputs ([`BatchOptions`]). Returns each
/// board's working time in seconds, and the failure lines; fails when every board
/// failed with inputs left.
pub fn shard_inputs<W>(
    boards: &mut [Board],
    items: usize,
    bar: &ProgressBar,
    opts: &ShardOptions,
    work: W,
) -> Result<(Vec<f64>, Vec<String>)>
where
    W: Fn(usize, &mut Board, &Shard) -> Result<()> + Sync,
{
    let alive: Vec<bool> = boards.iter().map(|b| b.failed.is_none()).collect();
    if !alive.contains(&true) {
        bail!("no board is left: every one failed earlier in this command");
    }
    let shard = Shard::new(items, alive);
    let start = Instant::now();
    let seconds: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = boards
            .iter_mut()
            .enumerate()
            .map(|(b, board)| {
                let shard = &shard;
                let work = &work;
                s.spawn(move || {
                    let mut busy = 0.0;
                    if board.failed.is_some() {
                        return busy;
                    }
                    let mut loading = opts.load_first;
                    while shard.wait_for_work(b, opts.stop_when_idle) {
                        let r = match loading.take() {
                            Some(m) => board.device.load(m),
                            None => work(b, board, shard),
                        };
                        busy = start.elapsed().as_secs_f64();
                        if let Err(e) = r {
                            let (line, _) = shard.fail(b, &board.name(), &e);
                            bar.suspend(|| crate::note!("revspike: {line}"));
                            board.failed = Some(line);
                            return busy;
                        }
                    }
                    if opts.stop_when_idle {
                        if let Err(e) = board.stop_virtual() {
                            let line = format!("board {}: {}", board.name(), crate::one_line(&e));
                            bar.suspend(|| eprintln!("revspike: {line}"));
                        }
                    }
                    busy
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0.0))
            .collect()
    });
    let p = shard.lock();
    if p.left > 0 {
        let retired = if p.retired > 0 {
            format!(" ({} had already left, out of inputs)", p.retired)
        } else {
            String::new()
        };
        bail!(
            "every board failed{retired}, {} of {items} inputs unfinished: {}",
            p.left,
            p.failures.join("; ")
        );
    }
    Ok((seconds, p.failures.clone()))
}

/// A progress bar on stderr, or a hidden one.
pub fn progress_bar(n: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(n as u64);
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

/// What the result threads share.
struct Results<F> {
    results: Vec<Option<Checked>>,
    /// Results handed to `on_result` so far (a prefix of the inputs).
    emitted: usize,
    retried: Vec<bool>,
    golden_retries: usize,
    correct: usize,
    golden_correct: usize,
    /// Results taken from each board.
    per_board: Vec<usize>,
    failure: Option<anyhow::Error>,
    on_result: F,
}

/// How a batch runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchOptions {
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Each board loads the model in its own thread and starts on the inputs at
    /// once, instead of the model being loaded on every board beforehand
    /// ([`Boards::load`]), so no board's clock idles while it waits for the others
    /// to load (for board-time figures). Check the capacity first
    /// ([`Boards::check`]); a board that fails to load is a failing board.
    pub load_first: bool,
    /// Stop each virtual board as soon as no input is left for it, so its clock
    /// stops with its last result rather than idling on while the other boards
    /// finish theirs (for board-time figures; a board stopped so cannot take the
    /// inputs of a board that fails after it).
    pub stop_when_idle: bool,
}

/// How [`shard_inputs`] runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardOptions<'a> {
    /// Load this model on each board, in its thread, before its first input.
    pub load_first: Option<&'a Model>,
    /// As [`BatchOptions::stop_when_idle`].
    pub stop_when_idle: bool,
}

/// Runs `samples` on every board of `boards` (the model loaded on each), sharded
/// as the module says. `on_result` gets each result in input order.
pub fn run_batch<F>(
    boards: &mut Boards,
    model: &Model,
    samples: &Samples,
    opts: &BatchOptions,
    on_result: F,
) -> Result<Summary>
where
    F: FnMut(&Checked) + Send,
{
    let n = samples.inputs.len();
    let bar = progress_bar(n, opts.progress);
    // Each board's link counters and recovery figures when it starts on the
    // inputs (after its load, when it loads in the batch), so the batch's figures
    // are the inputs' own.
    let before: Mutex<Vec<_>> = Mutex::new(
        boards
            .boards
            .iter()
            .map(|b| (b.device.counters(), b.device.recovery.clone()))
            .collect(),
    );
    let state = Mutex::new(Results {
        results: vec![None; n],
        emitted: 0,
        retried: vec![false; n],
        golden_retries: 0,
        correct: 0,
        golden_correct: 0,
        per_board: vec![0; boards.len()],
        failure: None,
        on_result,
    });
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let start = Instant::now();
    let started: Vec<std::sync::atomic::AtomicBool> =
        (0..boards.len()).map(|_| Default::default()).collect();
    let shard_opts = ShardOptions {
        load_first: opts.load_first.then_some(model),
        stop_when_idle: opts.stop_when_idle,
    };
    let (seconds, failures) = shard_inputs(
        &mut boards.boards,
        n,
        &bar,
        &shard_opts,
        |b, board: &mut Board, shard| {
            let port = board.name();
            let dev: &mut Device = &mut board.device;
            if opts.load_first {
                let mut first = before.lock().unwrap_or_else(|p| p.into_inner());
                if !started[b].swap(true, std::sync::atomic::Ordering::SeqCst) {
                    first[b] = (dev.counters(), dev.recovery.clone());
                }
            }
            dev.infer_stream(
                &samples.inputs,
                || shard.take(b),
                |i, r| {
                    let g = match golden(model, &samples.inputs[i], i) {
                        Ok(g) => g,
                        Err(e) => {
                            lock().failure.get_or_insert(e);
                            shard.finish(b, i);
                            return Verdict::Accept;
                        }
                    };
                    let logits = r.logits_i64();
                    let prediction = r.prediction as usize;
                    let agrees = logits == g.logits && prediction == g.prediction;
                    let mut guard = lock();
                    let st = &mut *guard;
                    if !agrees && !st.retried[i] {
                        st.retried[i] = true;
                        st.golden_retries += 1;
                        return Verdict::Retry(format!(
                            "input #{i} disagrees with the golden model (device logits \
                             {logits:?} prediction {prediction}, golden logits {:?} \
                             prediction {})",
                            g.logits, g.prediction
                        ));
                    }
                    let label = samples.labels.as_ref().map(|l| l[i]);
                    if let Some(l) = label {
                        st.correct += usize::from(prediction == l as usize);
                        st.golden_correct += usize::from(g.prediction == l as usize);
                    }
                    if !agrees {
                        bar.suspend(|| {
                            crate::note!(
                                "revspike: input #{i} DISAGREES with the golden model on {port} \
                                 (also after reloading the model): device logits {logits:?} \
                                 prediction {prediction}, golden logits {:?} prediction {}",
                                g.logits,
                                g.prediction
                            )
                        });
                    }
                    st.results[i] = Some(Checked {
                        index: i,
                        label,
                        prediction,
                        logits,
                        cycles: r.cycles,
                        timesteps: r.timesteps,
                        golden_prediction: g.prediction,
                        golden_logits: g.logits,
                        agrees,
                        board: port.clone(),
                    });
                    st.per_board[b] += 1;
                    while st.emitted < n {
                        let Some(c) = &st.results[st.emitted] else {
                            break;
                        };
                        (st.on_result)(c);
                        st.emitted += 1;
                    }
                    let done = st.correct;
                    drop(guard);
                    shard.finish(b, i);
                    bar.inc(1);
                    if label.is_some() {
                        let pos = bar.position().max(1) as f64;
                        bar.set_message(format!("acc {:.1}%", 100.0 * done as f64 / pos));
                    }
                    Verdict::Accept
                },
            )
        },
    )?;
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64().max(1e-9);
    let st = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = st.failure {
        return Err(e);
    }
    let taken = st.per_board;
    let results: Vec<Checked> = st.results.into_iter().flatten().collect();
    if results.len() != n {
        bail!("{} of {n} inputs have no result", n - results.len());
    }
    let disagree: Vec<usize> = results
        .iter()
        .filter(|c| !c.agrees)
        .map(|c| c.index)
        .collect();
    let mut per_board = Vec::new();
    let (mut sent, mut received) = (0u64, 0u64);
    let (mut resent, mut resyncs, mut reloads, mut damaged) = (0, 0, 0, 0);
    let mut events = Vec::new();
    let mut line = 0.0;
    let before = before.into_inner().unwrap_or_else(|p| p.into_inner());
    for (k, board) in boards.boards.iter().enumerate() {
        let dev = &board.device;
        let (c1, r1) = (dev.counters(), &dev.recovery);
        // A board that loaded in the batch and found no input left did no work.
        let idle = (c1, r1.clone());
        let (c0, r0) = if opts.load_first && !started[k].load(std::sync::atomic::Ordering::SeqCst) {
            &idle
        } else {
            &before[k]
        };
        let bs = BoardSummary {
            port: board.name(),
            device: dev.info.name.clone(),
            inputs: taken[k],
            seconds: seconds[k],
            inferences_per_second: taken[k] as f64 / seconds[k].max(1e-9),
            bytes_sent: c1.bytes_sent - c0.bytes_sent,
            bytes_received: c1.bytes_received - c0.bytes_received,
            resent: r1.resent - r0.resent,
            resyncs: r1.resyncs - r0.resyncs,
            reloads: r1.reloads - r0.reloads,
            damaged_frames: r1.damaged - r0.damaged,
            failed: board.failed.clone(),
            board_cycles: None,
            board_time_inferences_per_second: None,
        };
        sent += bs.bytes_sent;
        received += bs.bytes_received;
        resent += bs.resent;
        resyncs += bs.resyncs;
        reloads += bs.reloads;
        damaged += bs.damaged_frames;
        events.extend(r1.events[r0.events.len()..].iter().cloned());
        line += dev.info.baud as f64 / 10.0;
        per_board.push(bs);
    }
    let per_inf = sent as f64 / n.max(1) as f64;
    let first = &boards.boards[0].device;
    let mut devices: Vec<&str> = boards
        .boards
        .iter()
        .map(|b| b.device.info.name.as_str())
        .collect();
    devices.dedup();
    Ok(Summary {
        model: model.name.clone(),
        device: devices.join(", "),
        source: samples.source.clone(),
        inputs: n,
        accuracy: samples
            .labels
            .as_ref()
            .map(|_| st.correct as f64 / n.max(1) as f64),
        golden_accuracy: samples
            .labels
            .as_ref()
            .map(|_| st.golden_correct as f64 / n.max(1) as f64),
        agree: n - disagree.len(),
        disagree,
        golden_retries: st.golden_retries,
        window: first.window(),
        seconds: wall,
        inferences_per_second: n as f64 / wall,
        bytes_sent: sent,
        bytes_received: received,
        link_bytes_per_second: sent.max(received) as f64 / wall,
        line_rate_bytes_per_second: line,
        link_utilization: sent.max(received) as f64 / wall / line.max(1.0),
        bytes_sent_per_inference: per_inf,
        line_bound_inferences_per_second: if per_inf > 0.0 { line / per_inf } else { 0.0 },
        device_cycles_per_inference: (results.iter().map(|c| c.cycles as u64).sum::<u64>()
            / n.max(1) as u64) as u32,
        board_cycles: None,
        board_time_inferences_per_second: None,
        resent,
        resyncs,
        reloads,
        damaged_frames: damaged,
        recovery_events: events,
        board_failures: failures,
        boards: per_board,
    })
}

/// The summary as text lines.
pub fn summary_text(s: &Summary) -> String {
    let mut out = String::new();
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    let on = if s.boards.len() > 1 {
        format!("{} boards ('{}')", s.boards.len(), s.device)
    } else {
        format!("device '{}'", s.device)
    };
    out += &format!(
        "model {} on {on}: {} inputs from {}\n",
        s.model, s.inputs, s.source
    );
    if let (Some(a), Some(g)) = (s.accuracy, s.golden_accuracy) {
        out += &format!("accuracy          {} (golden model: {})\n", pct(a), pct(g));
    }
    out += &format!(
        "golden agreement  {}/{} results identical (logits and prediction){}{}\n",
        s.agree,
        s.inputs,
        if s.disagree.is_empty() {
            String::new()
        } else {
            format!("; DISAGREE: {:?}", s.disagree)
        },
        if s.golden_retries > 0 {
            format!(
                "; {} run again after a disagreement and a model reload",
                s.golden_retries
            )
        } else {
            String::new()
        }
    );
    out += &format!(
        "throughput        {:.1} inferences/s ({:.2} s wall time, window {})\n",
        s.inferences_per_second, s.seconds, s.window
    );
    if let (Some(c), Some(r)) = (s.board_cycles, s.board_time_inferences_per_second) {
        out += &format!(
            "board time        {c} cycles simulated on the longest board (load included): \
             {r:.1} inferences/s of board time (the wall-time figure above is the \
             simulation's speed)\n"
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
    if s.boards.len() > 1 {
        for b in &s.boards {
            out += &board_line(b);
        }
    }
    out
}

/// One board's line of a summary.
pub fn board_line(b: &BoardSummary) -> String {
    let board_time = b
        .board_time_inferences_per_second
        .map_or(String::new(), |r| {
            format!(", {r:.1} inferences/s of board time")
        });
    let failed = b
        .failed
        .as_ref()
        .map_or(String::new(), |_| " (FAILED, see above)".to_string());
    format!(
        "  board {}: {} inputs, {:.1} inferences/s wall{board_time}{failed}\n",
        b.port, b.inputs, b.inferences_per_second
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::device::mock::{mock_device, mock_model, Mock};
    use crate::device::Board;

    fn boards(mocks: Vec<Mock>, model: &Model) -> Boards {
        let mut bs = Boards {
            boards: mocks
                .into_iter()
                .map(|mut m| {
                    m.latency = std::time::Duration::from_millis(5);
                    m
                })
                .enumerate()
                .map(|(k, m)| Board {
                    port: format!("mock{k}").into(),
                    device: mock_device(m, &format!("mock{k}")),
                    virtual_board: None,
                    failed: None,
                    stopped: None,
                })
                .collect(),
        };
        bs.load(model).expect("load");
        bs
    }

    fn samples(model: &Model, n: usize) -> Samples {
        generated(model, n, 1)
    }

    fn run(bs: &mut Boards, model: &Model, s: &Samples) -> (Result<Summary>, Vec<Checked>) {
        let mut got = Vec::new();
        let r = run_batch(bs, model, s, &BatchOptions::default(), |c| {
            got.push(c.clone())
        });
        (r, got)
    }

    #[test]
    fn a_batch_is_shared_by_the_boards_and_comes_back_in_input_order() {
        let m = mock_model();
        let s = samples(&m, 60);
        let mocks: Vec<Mock> = (0..3).map(|_| Mock::new(&m)).collect();
        let infers: Vec<_> = mocks.iter().map(|k| k.infers.clone()).collect();
        let mut bs = boards(mocks, &m);
        let (r, got) = run(&mut bs, &m, &s);
        let sum = r.expect("batch");
        assert_eq!(
            got.iter().map(|c| c.index).collect::<Vec<_>>(),
            (0..60).collect::<Vec<_>>()
        );
        assert!(got.iter().all(|c| c.agrees));
        assert_eq!(sum.agree, 60);
        assert_eq!(sum.boards.len(), 3);
        assert_eq!(sum.boards.iter().map(|b| b.inputs).sum::<usize>(), 60);
        for (k, i) in infers.iter().enumerate() {
            assert!(i.load(Ordering::SeqCst) > 0, "board {k} did no work");
        }
        assert!(sum.board_failures.is_empty());
    }

    #[test]
    fn a_failing_board_hands_its_inputs_to_the_others() {
        let m = mock_model();
        let s = samples(&m, 30);
        let mut dying = Mock::new(&m);
        dying.die_at = Some(4);
        let mut bs = boards(vec![Mock::new(&m), dying], &m);
        let (r, got) = run(&mut bs, &m, &s);
        let sum = r.expect("the other board finishes the batch");
        assert_eq!(got.len(), 30);
        assert_eq!(
            got.iter().map(|c| c.index).collect::<Vec<_>>(),
            (0..30).collect::<Vec<_>>()
        );
        let late = got.iter().filter(|c| c.board == "mock0").count();
        assert_eq!(late, sum.boards[0].inputs);
        assert_eq!(sum.agree, 30);
        assert_eq!(sum.board_failures.len(), 1, "{:?}", sum.board_failures);
        assert!(
            sum.board_failures[0].starts_with("board mock1 failed: "),
            "{}",
            sum.board_failures[0]
        );
        assert!(sum.boards[1].failed.is_some());
        assert!(sum.boards[1].inputs < 4, "{:?}", sum.boards[1]);
        assert_eq!(sum.boards[0].inputs + sum.boards[1].inputs, 30);
        // A later batch of the same command leaves the failed board out.
        let (r, got) = run(&mut bs, &m, &s);
        let sum = r.expect("the second batch");
        assert_eq!(got.len(), 30);
        assert_eq!(sum.boards[1].inputs, 0);
        assert_eq!(sum.boards[0].inputs, 30);
    }

    #[test]
    fn when_every_board_fails_the_batch_fails_and_says_what_is_left() {
        let m = mock_model();
        let s = samples(&m, 20);
        let mocks: Vec<Mock> = (0..2)
            .map(|k| {
                let mut d = Mock::new(&m);
                d.die_at = Some(3 + k);
                d
            })
            .collect();
        let mut bs = boards(mocks, &m);
        let (r, got) = run(&mut bs, &m, &s);
        let e = crate::one_line(&r.expect_err("no board is left"));
        assert!(e.starts_with("every board failed, "), "{e}");
        assert!(
            e.contains("board mock0 failed") && e.contains("board mock1 failed"),
            "{e}"
        );
        let left: usize = e
            .trim_start_matches("every board failed, ")
            .split(' ')
            .next()
            .and_then(|x| x.parse().ok())
            .expect("a count of inputs left");
        assert_eq!(left + got.len(), 20, "{e}");
    }

    #[test]
    fn a_changed_model_is_reloaded_and_the_disagreeing_inputs_run_again() {
        let m = mock_model();
        let s = samples(&m, 12);
        let mut mock = Mock::new(&m);
        mock.corrupt_from = Some(5);
        let loads = mock.loads.clone();
        let mut bs = boards(vec![mock], &m);
        let (r, got) = run(&mut bs, &m, &s);
        let sum = r.expect("batch");
        assert_eq!(sum.agree, 12, "{:?}", sum.disagree);
        assert!(got.iter().all(|c| c.agrees));
        assert!(sum.golden_retries >= 1);
        assert_eq!(sum.reloads, 1, "{:?}", sum.recovery_events);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert!(
            sum.recovery_events[0].contains("disagrees with the golden model"),
            "{:?}",
            sum.recovery_events
        );
    }

    #[test]
    fn a_device_still_wrong_after_the_reload_is_a_mismatch() {
        let m = mock_model();
        let s = samples(&m, 6);
        let mut mock = Mock::new(&m);
        mock.corrupt_from = Some(1);
        mock.corrupt_forever = true;
        let mut bs = boards(vec![mock], &m);
        let (r, got) = run(&mut bs, &m, &s);
        let sum = r.expect("the batch completes, with mismatches");
        assert_eq!(sum.disagree, (0..6).collect::<Vec<_>>());
        assert_eq!(sum.golden_retries, 6);
        assert!(got.iter().all(|c| !c.agrees));
    }
}
