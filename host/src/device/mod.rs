//! Driving a revspike device over the link: the Alchitry Cu's serial port or a
//! virtual board's pseudo-terminal.
//!
//! [`Device`] wraps the protocol [`Client`] with what a long batch needs: the capacity
//! check against the build the device reports, loading, pipelined INFER within the
//! flow-control rules of docs/protocol.md, retry with resynchronization after damaged
//! frames and timeouts, and reloading the model when the device has lost it (power
//! cycle, reconfiguration), resuming from the input that failed.

pub mod board;
pub mod link;
pub mod serial;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use revspike_golden::Model;
use revspike_proto::build::{self, Build, Excess, FitError};
use revspike_proto::protocol::{
    self, addr, is_retryable, padding_ends, zero_run, BuildInfo, Client, ClientError, Command,
    CommandCode, DeviceStatus, ErrorCode, FrameError, ProtocolError, Response, RunResult,
    MAX_WRITE_WORDS, SLIP_END,
};

pub use link::{Faults, LinkCounters, LinkTransport};

/// How to reach a device; shared by every subcommand that talks to one.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Serial port of the board (e.g. /dev/ttyUSB1) or of a running virtual board
    /// (the pty `revspike-vboard` prints). Without it a virtual board is started.
    #[arg(long, value_name = "PATH")]
    pub port: Option<PathBuf>,
    /// Start a virtual board (the emitted Verilog in Verilator behind a pty) for this
    /// command and stop it at the end; the default when --port is not given.
    #[arg(long = "virtual", conflicts_with = "port")]
    pub virtual_board: bool,
    /// Build the virtual board simulates (cu, small, wide).
    #[arg(long = "board-build", value_name = "NAME", default_value = "cu")]
    pub board_build: String,
    /// Baud rate to open --port at (a pty ignores it). Default: the rate of the
    /// build behind the port, found by trying the named builds' rates (12 Mbaud, then
    /// 4 Mbaud) until the device answers IDENTIFY.
    #[arg(long)]
    pub baud: Option<u32>,
    /// How long to wait for a response before resynchronizing, in milliseconds
    /// (default 2000 on a port, 20000 on a virtual board, which simulates slowly).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Attempts per request (and per input) after the first before giving up.
    #[arg(long, default_value_t = 8)]
    pub retries: usize,
    /// INFER frames kept in flight (1 = ping-pong); docs/protocol.md, flow control.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub window: u16,
    /// Testing: flip a bit in every Nth frame sent (exercises recovery).
    #[arg(long, hide = true, default_value_t = 0)]
    pub corrupt_sent_every: u32,
    /// Testing: flip a bit in every Nth chunk received (exercises recovery).
    #[arg(long, hide = true, default_value_t = 0)]
    pub corrupt_received_every: u32,
}

/// Retry and pipelining settings of a [`Device`].
#[derive(Clone, Copy, Debug)]
pub struct LinkOptions {
    pub timeout: Duration,
    pub retries: usize,
    pub window: usize,
}

/// What recovery the host had to do; every event is also reported on stderr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Requests or inputs sent again after a damaged or missing answer.
    pub resent: u64,
    /// Resynchronizations after a timeout.
    pub resyncs: u64,
    /// Model reloads after the device lost its model.
    pub reloads: u64,
    /// Damaged frames received (failed CRC, escape or length).
    pub damaged: u64,
    /// One line per reload, naming the input the batch resumed from.
    pub events: Vec<String>,
}

/// A model compiled for the device's build, kept for reloads.
struct Loaded {
    model: Model,
    writes: Vec<(u32, Vec<u16>)>,
}

/// A device behind a link.
pub struct Device {
    client: Client<LinkTransport>,
    /// What the device reported in IDENTIFY.
    pub info: BuildInfo,
    /// The build reconstructed from `info`, which the capacity check and the
    /// compiler use.
    pub build: &'static Build,
    opts: LinkOptions,
    loaded: Option<Loaded>,
    /// Most execution cycles an INFER took so far, for the flow-control padding.
    last_cycles: Option<u32>,
    pub recovery: Recovery,
    quiet: bool,
}

/// The Build a device describes in its IDENTIFY answer. A named build with the same
/// figures is returned as itself; otherwise the figures are taken as they are.
pub fn build_from_info(info: &BuildInfo) -> &'static Build {
    let b = Build {
        name: "device",
        lanes: info.lanes as usize,
        max_width: info.max_width as usize,
        row_bits: info.row_bits as usize,
        rows: info.rows as usize,
        input_entries: info.input_entries as usize,
        state_buffer_entries: info.state_entries as usize,
        clock_hz: info.clock_hz,
        baud: info.baud,
    };
    if let Some(named) = build::by_name(&info.name) {
        let same = Build {
            name: named.name,
            ..b.clone()
        };
        if same == *named {
            return named;
        }
    }
    // One per connection: a CLI run holds a handful at most.
    Box::leak(Box::new(Build {
        name: Box::leak(info.name.clone().into_boxed_str()),
        ..b
    }))
}

/// Checks `model` against the device's capacity: the build's own check, plus the
/// limits IDENTIFY states separately. Lists every excess.
pub fn check_fit(model: &Model, info: &BuildInfo) -> Result<(), FitError> {
    let b = build_from_info(info);
    let mut excess = match b.check(model) {
        Ok(()) => Vec::new(),
        Err(e) => e.excess,
    };
    let mut need = |what: String, needed: usize, available: u16| {
        if needed > available as usize && !excess.iter().any(|e| e.what == what) {
            excess.push(Excess {
                what,
                needed,
                available: available as usize,
            });
        }
    };
    for (l, st) in model.stages.iter().enumerate() {
        need(format!("stages[{l}].width"), st.width, info.max_width);
        need(
            format!("stages[{l}].blocks"),
            st.blocks.len(),
            info.max_blocks,
        );
    }
    need("classes".into(), model.classes, info.max_classes);
    need("stages".into(), model.stages.len(), info.max_stages);
    need("timesteps".into(), model.timesteps, info.max_timesteps);
    let input = model.expected_input_len();
    if input > info.max_payload as usize {
        excess.push(Excess {
            what: "input bytes per frame".into(),
            needed: input,
            available: info.max_payload as usize,
        });
    }
    if excess.is_empty() {
        Ok(())
    } else {
        Err(FitError {
            build: b.name,
            excess,
        })
    }
}

/// Splits the image writes into WRITE frames of at most `max` words, merging
/// writes to consecutive addresses.
pub fn chunk_writes(writes: &[(u32, Vec<u16>)], max: usize) -> Vec<(u32, Vec<u16>)> {
    let mut merged: Vec<(u32, Vec<u16>)> = Vec::new();
    for (a, w) in writes {
        match merged.last_mut() {
            Some((la, lw)) if *la as usize + lw.len() == *a as usize => lw.extend_from_slice(w),
            _ => merged.push((*a, w.clone())),
        }
    }
    let mut out = Vec::new();
    for (a, w) in merged {
        for (k, c) in w.chunks(max.max(1)).enumerate() {
            out.push((a + (k * max) as u32, c.to_vec()));
        }
    }
    out
}

/// Bytes an INFER request of `input_len` bytes and its response take on the wire
/// (SLIP framing, header, CRC; escapes not counted).
pub fn infer_wire_bytes(input_len: usize, classes: usize) -> (usize, usize) {
    let req = 2 + protocol::FRAME_OVERHEAD + input_len;
    let resp = 2 + protocol::FRAME_OVERHEAD + 10 + 4 * classes;
    (req, resp)
}

/// The outcome of one input of a batch.
pub type InferOutcome = RunResult;

/// Whether `REVSPIKE_TRACE` asks for a line per link event on stderr.
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("REVSPIKE_TRACE").is_some_and(|v| !v.is_empty()))
}

macro_rules! trace {
    ($($t:tt)*) => {
        if tracing() {
            eprintln!("revspike trace: {}", format!($($t)*));
        }
    };
}

fn ce(e: ClientError) -> anyhow::Error {
    anyhow!(e)
}

impl Device {
    /// Opens a device on `transport`: flushes any half frame with END bytes and
    /// identifies it.
    pub fn connect(transport: LinkTransport, opts: LinkOptions) -> Result<Device> {
        let mut client = Client::new(transport);
        let slice = serial::READ_SLICE.as_millis().max(1) as usize;
        client.patience = (opts.timeout.as_millis() as usize).div_ceil(slice).max(2);
        client.send_raw(&[SLIP_END; 4]).map_err(ce)?;
        let mut dev = Device {
            client,
            info: BuildInfo::default(),
            build: &build::CU,
            opts,
            loaded: None,
            last_cycles: None,
            recovery: Recovery::default(),
            quiet: false,
        };
        // A few attempts only: a port with no revspike device behind it should fail
        // quickly, not after the full retry budget.
        let mut answer = Err(ClientError::Timeout("IDENTIFY"));
        for _ in 0..3 {
            answer = dev.client.identify();
            match &answer {
                Err(e) if is_retryable(e) => {
                    dev.client.send_raw(&[SLIP_END; 4]).map_err(ce)?;
                }
                _ => break,
            }
        }
        let info = answer.map_err(ce).context(
            "the device does not identify itself (is this a revspike board, at the right \
             baud, with the bitstream loaded?)",
        )?;
        if info.protocol_version != protocol::PROTOCOL_VERSION {
            bail!(
                "the device speaks protocol version {}, this host version {}",
                info.protocol_version,
                protocol::PROTOCOL_VERSION
            );
        }
        dev.build = build_from_info(&info);
        dev.info = info;
        Ok(dev)
    }

    /// Suppresses the stderr reports of recovery events (they are still counted).
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    fn report(&self, msg: &str) {
        if !self.quiet {
            eprintln!("revspike: {msg}");
        }
    }

    /// Byte counters of the link.
    pub fn counters(&self) -> LinkCounters {
        self.client.transport.counters
    }

    /// The model currently loaded by this host, if any.
    pub fn model(&self) -> Option<&Model> {
        self.loaded.as_ref().map(|l| &l.model)
    }

    /// Ends any half frame in the device, then asks for STATUS until a clean answer
    /// arrives; stale and damaged frames on the way are skipped.
    pub fn resync(&mut self) -> Result<DeviceStatus> {
        self.recovery.resyncs += 1;
        let mut last = None;
        for _ in 0..=self.opts.retries {
            self.client.send_raw(&[SLIP_END; 4]).map_err(ce)?;
            match self.client.status() {
                Ok(s) => return Ok(s),
                Err(e) if is_retryable(&e) => {
                    if matches!(e, ClientError::Frame(_)) {
                        self.recovery.damaged += 1;
                    }
                    last = Some(e)
                }
                Err(e) => return Err(ce(e)),
            }
        }
        Err(anyhow!(
            "the device does not answer STATUS after {} attempts (last: {})",
            self.opts.retries + 1,
            last.map(|e| e.to_string()).unwrap_or_default()
        ))
    }

    /// Sends an idempotent request and returns its response, resending after
    /// damaged frames, link errors and timeouts. Error frames other than link
    /// errors become errors.
    pub fn request(&mut self, cmd: &Command) -> Result<Response> {
        let mut last = None;
        for attempt in 0..=self.opts.retries {
            if attempt > 0 {
                self.recovery.resent += 1;
            }
            match self.client.request(cmd) {
                Ok(r) => return Ok(r),
                Err(e) if is_retryable(&e) => {
                    if matches!(e, ClientError::Frame(_)) {
                        self.recovery.damaged += 1;
                    }
                    if matches!(e, ClientError::Timeout(_)) {
                        self.resync()?;
                    }
                    last = Some(e);
                }
                Err(e) => return Err(ce(e)).with_context(|| cmd.code().name().to_string()),
            }
        }
        Err(anyhow!(
            "{}: no good answer after {} attempts (last: {})",
            cmd.code().name(),
            self.opts.retries + 1,
            last.map(|e| e.to_string()).unwrap_or_default()
        ))
    }

    /// STATUS.
    pub fn status(&mut self) -> Result<DeviceStatus> {
        match self.request(&Command::Status)? {
            Response::Status(s) => Ok(s),
            r => bail!("the device answered STATUS with {r:?}"),
        }
    }

    /// READ of `count` words (split into READs the protocol allows).
    pub fn read(&mut self, addr: u32, count: usize) -> Result<Vec<u16>> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let n = (count - out.len()).min(protocol::MAX_READ_WORDS);
            let a = addr + out.len() as u32;
            match self.request(&Command::Read {
                addr: a,
                count: n as u16,
            })? {
                Response::Read(w) if w.len() == n => out.extend(w),
                r => bail!("READ of {n} words at 0x{a:05x} answered with {r:?}"),
            }
        }
        Ok(out)
    }

    /// Checks that `model` fits the device's build; the error lists every figure
    /// that does not fit. Nothing is sent.
    pub fn check(&self, model: &Model) -> Result<()> {
        check_fit(model, &self.info).map_err(|e| {
            anyhow!(
                "{e} (device '{}': {} lanes, {} rows of {} bits, {} input entries, \
                 {} state-buffer entries)",
                self.info.name,
                self.info.lanes,
                self.info.rows,
                self.info.row_bits,
                self.info.input_entries,
                self.info.state_entries
            )
        })
    }

    /// Checks the capacity, then loads `model`: LOAD_BEGIN, WRITEs, LOAD_END,
    /// repeating the whole load while the device reports it dirty or incomplete.
    pub fn load(&mut self, model: &Model) -> Result<()> {
        self.check(model)?;
        let image = revspike_proto::image::compile(model, self.build);
        let writes = chunk_writes(&image.writes(), MAX_WRITE_WORDS);
        self.loaded = Some(Loaded {
            model: model.clone(),
            writes,
        });
        self.last_cycles = None;
        self.reload()
    }

    fn reload(&mut self) -> Result<()> {
        let writes = match &self.loaded {
            Some(l) => l.writes.clone(),
            None => bail!("no model to load"),
        };
        let expected: u32 = writes.iter().map(|(_, w)| w.len() as u32).sum();
        let mut last = String::new();
        for attempt in 0..=self.opts.retries {
            if attempt > 0 {
                self.recovery.resent += 1;
            }
            match self.load_once(&writes, expected)? {
                None => return Ok(()),
                Some(why) => last = why,
            }
        }
        bail!(
            "loading the model ({expected} words) failed {} times (last: {last})",
            self.opts.retries + 1
        )
    }

    /// One load: LOAD_BEGIN, the WRITEs, LOAD_END. Returns why it must be repeated,
    /// or None when the device reports the model loaded. After a damaged or missing
    /// WRITE answer, STATUS tells whether the WRITE landed (the word counter moved
    /// by its length and nothing is dirty), never arrived (counter unchanged), or
    /// spoiled the load (dirty).
    fn load_once(&mut self, writes: &[(u32, Vec<u16>)], expected: u32) -> Result<Option<String>> {
        match self.request(&Command::LoadBegin)? {
            Response::LoadBegun => {}
            r => bail!("the device answered LOAD_BEGIN with {r:?}"),
        }
        let mask = (1u32 << 20) - 1;
        let mut total: u32 = 0;
        for (a, words) in writes {
            let mut tries = 0;
            loop {
                let e = match self.client.write(*a, words) {
                    Ok(()) => break,
                    Err(e) if is_retryable(&e) => e,
                    Err(e) => return Err(ce(e)).context("loading the model"),
                };
                if matches!(e, ClientError::Frame(_)) {
                    self.recovery.damaged += 1;
                }
                let s = self.resync()?;
                if s.dirty {
                    return Ok(Some(format!(
                        "WRITE at 0x{a:05x} failed ({e}); the load is dirty"
                    )));
                }
                let after = total + words.len() as u32;
                if s.words_written == after & mask {
                    break; // it landed; only its answer was lost
                }
                if s.words_written != total & mask {
                    return Ok(Some(format!(
                        "after a lost WRITE the device counts {} words, expected {total} or {after}",
                        s.words_written
                    )));
                }
                tries += 1;
                self.recovery.resent += 1;
                if tries > self.opts.retries {
                    bail!("WRITE at 0x{a:05x}: no good answer after {tries} attempts (last: {e})");
                }
            }
            total += words.len() as u32;
        }
        match self.request(&Command::LoadEnd {
            expected_words: expected,
        })? {
            Response::LoadEnded { loaded: true, .. } => Ok(None),
            Response::LoadEnded { words, dirty, .. } => Ok(Some(format!(
                "LOAD_END: the device counts {words} of {expected} words{}",
                if dirty { ", dirty" } else { "" }
            ))),
            r => bail!("the device answered LOAD_END with {r:?}"),
        }
    }

    /// After the device lost its model: identify it afresh (it may have been
    /// reconfigured with another build) and load the model again.
    fn recover_model(&mut self, at_input: usize, why: &str) -> Result<()> {
        let msg = format!(
            "device lost its model ({why}) at input #{at_input}: reloading it and \
             resuming from input #{at_input}"
        );
        self.report(&msg);
        self.recovery.events.push(msg);
        self.recovery.reloads += 1;
        let info = match self.request(&Command::Identify)? {
            Response::Identify(i) => i,
            r => bail!("the device answered IDENTIFY with {r:?}"),
        };
        if info != self.info {
            bail!(
                "the device came back as another build ('{}' instead of '{}'): \
                 start again against the new build",
                info.name,
                self.info.name
            );
        }
        self.reload()
    }

    /// Runs every input through the loaded model, keeping up to `window` INFER
    /// frames in flight. Calls `each(index, result)` once per input, in completion
    /// order, with a result from a response that passed its CRC. Damaged or missing
    /// answers are resent; a device that lost its model gets it again and the batch
    /// resumes from the input that failed.
    pub fn infer_batch<F>(&mut self, inputs: &[Vec<u8>], mut each: F) -> Result<()>
    where
        F: FnMut(usize, &RunResult),
    {
        let classes = match &self.loaded {
            Some(l) => l.model.classes,
            None => bail!("no model loaded"),
        };
        let timing = self.info.bit_timing()?;
        let mut queue: VecDeque<usize> = (0..inputs.len()).collect();
        let mut inflight: VecDeque<(u8, usize)> = VecDeque::new();
        let mut attempts = vec![0usize; inputs.len()];
        let mut reload_at: Option<(usize, String)> = None;
        // A CORE refusal waiting for STATUS: (input, core status).
        let mut refused: Option<(usize, u16)> = None;
        let requeue = |queue: &mut VecDeque<usize>, lost: Vec<usize>| {
            for i in lost.into_iter().rev() {
                queue.push_front(i);
            }
        };
        loop {
            // The first answer gives the execution time the padding needs; until
            // then, and while a reload is pending, one frame at a time.
            let window = if self.last_cycles.is_some() {
                self.opts.window
            } else {
                1
            };
            while reload_at.is_none() && refused.is_none() && inflight.len() < window {
                let Some(i) = queue.pop_front() else { break };
                attempts[i] += 1;
                if attempts[i] > self.opts.retries + 1 {
                    bail!(
                        "input #{i}: no good answer after {} attempts",
                        self.opts.retries + 1
                    );
                }
                if attempts[i] > 1 {
                    self.recovery.resent += 1;
                }
                // INFER or INFER_PACKED, whichever is shorter on the wire.
                let cmd = Command::infer_smallest(&inputs[i]);
                let seq = self.client.send(&cmd).map_err(ce)?;
                let (_, resp) = infer_wire_bytes(inputs[i].len(), classes);
                let req = 2 + protocol::FRAME_OVERHEAD + zero_run::wire_len(&cmd.payload());
                // The run time varies with the input's activity: pad for the
                // longest seen so far plus a quarter, and for a response longer
                // than the request (END bytes take no room in the device's FIFO).
                let cycles = self.last_cycles.unwrap_or(0) as u64;
                let pad = padding_ends(cycles + cycles / 4, timing) + resp.saturating_sub(req);
                self.client.send_raw(&vec![SLIP_END; pad]).map_err(ce)?;
                trace!(
                    "INFER input #{i} seq {seq} (attempt {}), {pad} END",
                    attempts[i]
                );
                inflight.push_back((seq, i));
            }
            if inflight.is_empty() {
                if let Some((i, detail)) = refused.take() {
                    let why = protocol::core_status_message(detail);
                    if self.resync()?.loaded {
                        bail!("input #{i}: the core refused it: {why} (status {detail})");
                    }
                    reload_at.get_or_insert((
                        i,
                        format!("the core refused the input ({why}) and STATUS says not loaded"),
                    ));
                }
                match reload_at.take() {
                    Some((i, why)) => {
                        self.recover_model(i, &why)?;
                        continue;
                    }
                    None if queue.is_empty() => return Ok(()),
                    None => continue,
                }
            }
            let frame = match self.client.recv_frame() {
                Ok(Ok(f)) => f,
                Ok(Err(FrameError::TooShort(_))) => continue, // line noise, not an answer
                Ok(Err(e)) => {
                    // The device answers every frame once and in order, so a damaged
                    // frame is most likely the oldest request's answer: resend that
                    // request now rather than after a timeout. (Were it noise, the
                    // real answer arrives later and is ignored as stale; INFER may
                    // run twice.)
                    trace!("damaged frame: {e}");
                    self.recovery.damaged += 1;
                    if let Some((_, i)) = inflight.pop_front() {
                        queue.push_front(i);
                    }
                    continue;
                }
                Err(ClientError::Timeout(_)) => {
                    trace!("timeout with {} in flight", inflight.len());
                    let lost: Vec<usize> = inflight.drain(..).map(|(_, i)| i).collect();
                    let first = lost[0];
                    requeue(&mut queue, lost);
                    let s = self.resync()?;
                    if !s.loaded && reload_at.is_none() {
                        reload_at = Some((first, "no answer, then STATUS: not loaded".into()));
                    }
                    continue;
                }
                Err(e) => return Err(ce(e)),
            };
            trace!(
                "frame cmd 0x{:02x} seq {} ({} payload bytes)",
                frame.cmd,
                frame.seq,
                frame.payload.len()
            );
            let Some(pos) = inflight.iter().position(|&(s, _)| s == frame.seq) else {
                continue; // a late answer to a request already given up on
            };
            // The device answers strictly in order: anything sent before this one
            // that has not been answered was lost on the way.
            let lost: Vec<usize> = inflight.drain(..pos).map(|(_, i)| i).collect();
            let (_, i) = inflight.pop_front().expect("position found above");
            // Resent in input order: this one (if it must be) first, then the lost.
            let resend = match Response::parse(&frame) {
                Ok(Response::Run(r))
                    if frame.cmd == (CommandCode::Infer.code() | 0x80)
                        || frame.cmd == (CommandCode::InferPacked.code() | 0x80) =>
                {
                    if r.logits.len() != classes {
                        bail!(
                            "input #{i}: the device returned {} logits for a {classes}-class model",
                            r.logits.len()
                        );
                    }
                    self.last_cycles = Some(self.last_cycles.unwrap_or(0).max(r.cycles));
                    each(i, &r);
                    false
                }
                Ok(Response::Error { code, detail, .. }) => match ErrorCode::from_code(code) {
                    Some(ErrorCode::BadCrc | ErrorCode::Length | ErrorCode::Overrun) => true,
                    Some(ErrorCode::NotLoaded) => {
                        if reload_at.is_none() {
                            reload_at = Some((i, "the device answered NOT_LOADED".into()));
                        }
                        true
                    }
                    Some(ErrorCode::Core) => {
                        // A device that lost its model may refuse the input for its
                        // length (its configuration registers are zero) before it
                        // checks `loaded`: STATUS decides, once the frames in flight
                        // are answered.
                        if refused.is_none() {
                            refused = Some((i, detail));
                        }
                        true
                    }
                    Some(c) => bail!("input #{i}: the device answered INFER with {c}"),
                    None => bail!("input #{i}: unknown device error code {code}"),
                },
                Ok(r) => bail!("input #{i}: the device answered INFER with {r:?}"),
                Err(e) => bail!("input #{i}: {e}"),
            };
            if resend {
                queue.push_front(i);
            }
            requeue(&mut queue, lost);
        }
    }

    /// One input: INFER (ping-pong), with the same recovery as a batch.
    pub fn infer(&mut self, input: &[u8]) -> Result<RunResult> {
        let mut out = None;
        self.infer_batch(&[input.to_vec()], |_, r| out = Some(r.clone()))?;
        out.ok_or_else(|| anyhow!("no result"))
    }

    /// Timesteps done, from the core's status word 0.
    pub fn timesteps_done(&mut self) -> Result<u16> {
        Ok(self.status()?.core.timesteps)
    }

    /// Rewinds up to `k` timesteps. REWIND is not idempotent, so after a damaged or
    /// missing answer the host reads the timesteps done from STATUS before deciding
    /// whether to send again. Returns the timesteps done afterwards; stops early
    /// (without error) when the device reaches t = 0.
    pub fn rewind(&mut self, k: usize) -> Result<u16> {
        let start = self.timesteps_done()? as usize;
        let target = start.saturating_sub(k);
        let mut now = start;
        let mut tries = 0;
        while now > target {
            let steps = (now - target).min(255) as u8;
            match self.client.request(&Command::Rewind { steps }) {
                Ok(Response::Rewound { timesteps }) => now = timesteps as usize,
                Ok(r) => bail!("the device answered REWIND with {r:?}"),
                Err(ClientError::Protocol(ProtocolError::Device {
                    code: ErrorCode::Core,
                    detail: 2,
                    ..
                })) => {
                    now = self.timesteps_done()? as usize;
                    break;
                }
                Err(e) if is_retryable(&e) => {
                    tries += 1;
                    self.recovery.resent += 1;
                    if tries > self.opts.retries {
                        bail!("REWIND: no good answer after {tries} attempts (last: {e})");
                    }
                    if matches!(e, ClientError::Timeout(_)) {
                        self.resync()?;
                    }
                    now = self.timesteps_done()? as usize;
                }
                Err(e) => return Err(ce(e)).context("REWIND"),
            }
        }
        Ok(now as u16)
    }

    /// Turn-on state per stage: `stages` rows of `max_width` membranes (region 2).
    pub fn state(&mut self, stages: usize) -> Result<Vec<Vec<i16>>> {
        let p = self.info.max_width as usize;
        let words = self.read(addr::STATE, stages * p)?;
        Ok(words
            .chunks(p.max(1))
            .map(|c| c.iter().map(|&w| w as i16).collect())
            .collect())
    }

    /// The stage count of the model in the device (configuration register 7).
    pub fn configured_stages(&mut self) -> Result<usize> {
        Ok(self.read(addr::CONFIG + 7, 1)?[0] as usize)
    }

    /// RESET: turn-on state to zero, t = 0, counters cleared; the model stays.
    pub fn reset(&mut self) -> Result<()> {
        match self.request(&Command::Reset)? {
            Response::ResetDone => Ok(()),
            r => bail!("the device answered RESET with {r:?}"),
        }
    }

    /// Gives the transport back (to count bytes after the device is done).
    pub fn into_transport(self) -> LinkTransport {
        self.client.transport
    }
}

/// An open connection: the device, and the virtual board behind it when this
/// command started one.
pub struct Connection {
    pub device: Device,
    pub board: Option<board::VirtualDevice>,
}

impl ConnectArgs {
    fn faults(&self) -> Faults {
        Faults {
            corrupt_sent_every: self.corrupt_sent_every,
            corrupt_received_every: self.corrupt_received_every,
        }
    }

    /// Opens --port, or starts a virtual board and opens its pty.
    pub fn connect(&self) -> Result<Connection> {
        let (path, board) = match &self.port {
            Some(p) => (p.clone(), None),
            None => {
                let b = build::by_name(&self.board_build).ok_or_else(|| {
                    anyhow!(
                        "unknown build '{}' (known: {})",
                        self.board_build,
                        build::BUILDS.map(|b| b.name).join(", ")
                    )
                })?;
                let vb = board::VirtualDevice::start(b)?;
                eprintln!(
                    "revspike: virtual board ({} build) on {}",
                    b.name,
                    vb.path().display()
                );
                (vb.path().to_path_buf(), Some(vb))
            }
        };
        // The rates to try: the one asked for, the virtual board's, or every named
        // build's (the device reports its own in IDENTIFY).
        let mut bauds: Vec<u32> = Vec::new();
        match (self.baud, &board) {
            (Some(b), _) => bauds.push(b),
            (None, Some(vb)) => bauds.push(vb.build.baud),
            (None, None) => {
                for b in build::BUILDS {
                    if !bauds.contains(&b.baud) {
                        bauds.push(b.baud);
                    }
                }
            }
        }
        let default_ms = if board.is_some() || is_virtual_path(&path) {
            20_000
        } else {
            2_000
        };
        let opts = LinkOptions {
            timeout: Duration::from_millis(self.timeout_ms.unwrap_or(default_ms)),
            retries: self.retries,
            window: self.window as usize,
        };
        let mut tried = 0;
        let device = loop {
            let baud = bauds[tried];
            tried += 1;
            let (mut serial, latency) = serial::SerialTransport::open(&path, baud)?;
            // Answers a previous host left unread would otherwise be taken for ours.
            serial.discard_input();
            if tried == 1 && self.port.is_some() && latency != serial::Latency::NotUsbSerial {
                eprintln!("revspike: {latency}");
            }
            let transport = LinkTransport::new(Box::new(serial), self.faults());
            match Device::connect(transport, opts) {
                Ok(d) => break d,
                Err(e) if tried < bauds.len() => {
                    eprintln!(
                        "revspike: {}: no answer at {baud} baud ({e:#}); trying {} baud",
                        path.display(),
                        bauds[tried]
                    );
                }
                Err(e) => return Err(e.context(format!("{}", path.display()))),
            }
        };
        Ok(Connection { device, board })
    }
}

fn is_virtual_path(p: &std::path::Path) -> bool {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .starts_with("/dev/pts")
}

impl Connection {
    /// Stops the virtual board, if this command started one, and returns its figures.
    pub fn finish(self) -> Result<Option<revspike_sim::vboard::VboardStats>> {
        drop(self.device);
        match self.board {
            Some(b) => Ok(Some(b.stop()?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_builds_come_back_from_their_identify_answer() {
        for b in build::BUILDS {
            assert_eq!(build_from_info(&b.info()), b);
        }
    }

    #[test]
    fn an_unknown_build_keeps_its_figures() {
        let mut info = build::SMALL.info();
        info.name = "custom".into();
        info.rows = 77;
        let b = build_from_info(&info);
        assert_eq!(b.name, "custom");
        assert_eq!(b.rows, 77);
        assert_eq!(b.lanes, build::SMALL.lanes);
    }

    #[test]
    fn fit_check_lists_every_excess_with_numbers() {
        let model = revspike_golden::Model::load(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-cu.json"),
        )
        .expect("the shipped model loads");
        assert!(check_fit(&model, &build::CU.info()).is_ok());
        let e = check_fit(&model, &build::SMALL.info()).expect_err("too big for SMALL");
        let msg = e.to_string();
        assert!(
            msg.contains("stages[0].width needs 64, build has 16"),
            "{msg}"
        );
        assert!(
            msg.contains("input memory entries needs 787, build has 256"),
            "{msg}"
        );
        let rows = revspike_proto::image::rows_needed(&model, &build::SMALL);
        assert!(
            msg.contains(&format!("row memory rows needs {rows}, build has 512")),
            "{msg}"
        );
        let mut info = build::CU.info();
        info.max_timesteps = 1;
        let e = check_fit(&model, &info).expect_err("T = 2 > 1");
        assert!(
            e.to_string().contains("timesteps needs 2, build has 1"),
            "{e}"
        );
    }

    #[test]
    fn writes_are_merged_and_split_to_frame_size() {
        let writes = vec![
            (0u32, (0..5000u32).map(|x| x as u16).collect::<Vec<_>>()),
            (0x10000, vec![1]),
            (0x10001, vec![2]),
            (0x10003, vec![3]),
        ];
        let c = chunk_writes(&writes, 2048);
        let shape: Vec<(u32, usize)> = c.iter().map(|(a, w)| (*a, w.len())).collect();
        assert_eq!(
            shape,
            vec![
                (0, 2048),
                (2048, 2048),
                (4096, 904),
                (0x10000, 2),
                (0x10003, 1)
            ]
        );
        assert_eq!(c[1].1[0], 2048);
    }

    /// A device model speaking the protocol, with scripted faults, so the batch
    /// logic (pipelining, loss detection, resync, reload-and-resume) is checked
    /// without a simulator. Its answers come back at once; a missing answer is
    /// noticed after `patience` empty reads.
    struct Mock {
        model: Model,
        rx: protocol::FrameDecoder,
        tx: Vec<u8>,
        loaded: bool,
        words: u32,
        infers: usize,
        /// Answer nothing to these INFERs (by count, from 1).
        drop_infer: Vec<usize>,
        /// Lose the model just before this INFER (by count, from 1).
        power_cycle_at: Option<usize>,
        /// Most requests received between two reads of the host: > 1 when it pipelines.
        max_in_flight_seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        unanswered: usize,
    }

    impl Mock {
        fn new(model: &Model) -> Mock {
            Mock {
                model: model.clone(),
                rx: protocol::FrameDecoder::new(),
                tx: Vec::new(),
                loaded: false,
                words: 0,
                infers: 0,
                drop_infer: Vec::new(),
                power_cycle_at: None,
                max_in_flight_seen: Default::default(),
                unanswered: 0,
            }
        }
        fn answer(&mut self, cmd: &Command) -> Option<Response> {
            let err = |code: ErrorCode| Response::Error {
                cmd: cmd.code().code(),
                code: code.code(),
                detail: 0,
            };
            Some(match cmd {
                Command::Identify => Response::Identify(build::SMALL.info()),
                Command::LoadBegin => {
                    self.loaded = false;
                    self.words = 0;
                    Response::LoadBegun
                }
                Command::Write { words, .. } => {
                    self.words += words.len() as u32;
                    Response::Written
                }
                Command::LoadEnd { expected_words } => {
                    self.loaded = *expected_words == self.words;
                    Response::LoadEnded {
                        words: self.words,
                        loaded: self.loaded,
                        dirty: false,
                    }
                }
                Command::Status => Response::Status(DeviceStatus {
                    loaded: self.loaded,
                    words_written: self.words,
                    ..Default::default()
                }),
                Command::Infer { .. } | Command::InferPacked { .. } => {
                    let bytes = &match cmd {
                        Command::InferPacked { packed } => zero_run::decode(packed).unwrap(),
                        Command::Infer { bytes } => bytes.clone(),
                        _ => unreachable!(),
                    };
                    self.infers += 1;
                    if self.power_cycle_at == Some(self.infers) {
                        self.loaded = false;
                        self.words = 0;
                    }
                    if self.drop_infer.contains(&self.infers) {
                        return None;
                    }
                    if !self.loaded {
                        return Some(err(ErrorCode::NotLoaded));
                    }
                    let g = revspike_golden::infer(&self.model, bytes).unwrap();
                    Response::Run(RunResult {
                        timesteps: self.model.timesteps as u16,
                        prediction: g.prediction as u16,
                        cycles: 500,
                        status: 0,
                        logits: g.logits.iter().map(|&x| x as i32).collect(),
                    })
                }
                _ => err(ErrorCode::UnknownCommand),
            })
        }
    }

    impl protocol::Transport for Mock {
        fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
            self.rx.push(bytes);
            while let Some(f) = self.rx.next_frame() {
                let Ok(f) = f else { continue };
                let cmd = Command::parse(&f).map_err(|e| e.to_string())?;
                self.unanswered += 1;
                self.max_in_flight_seen
                    .fetch_max(self.unanswered, std::sync::atomic::Ordering::SeqCst);
                if let Some(r) = self.answer(&cmd) {
                    self.tx.extend(r.to_frame(f.cmd, f.seq).unwrap());
                }
            }
            Ok(())
        }
        fn recv(&mut self) -> Result<Vec<u8>, String> {
            self.unanswered = 0;
            Ok(std::mem::take(&mut self.tx))
        }
    }

    fn mock_model() -> Model {
        let opts = revspike_golden::GenOptions {
            max_width: 8,
            max_classes: 8,
            max_stages: 1,
            max_group_len: 40,
            max_timesteps: 2,
            ..revspike_golden::GenOptions::default()
        };
        (1..200u64)
            .map(|seed| revspike_golden::gen_model(seed, &opts))
            .find(|m| build::SMALL.check(m).is_ok())
            .expect("a generated model fits SMALL")
    }

    fn mock_device(mock: Mock) -> Device {
        let t = LinkTransport::new(Box::new(mock), Faults::default());
        let opts = LinkOptions {
            timeout: Duration::from_millis(30),
            retries: 4,
            window: 4,
        };
        let mut d = Device::connect(t, opts).expect("the mock identifies");
        d.set_quiet(true);
        d
    }

    fn run_all(dev: &mut Device, model: &Model, xs: &[Vec<u8>]) -> Vec<Option<Vec<i32>>> {
        dev.load(model).expect("load");
        let mut got = vec![None; xs.len()];
        dev.infer_batch(xs, |i, r| {
            assert!(got[i].is_none(), "input #{i} answered twice");
            got[i] = Some(r.logits.clone());
        })
        .expect("batch");
        got
    }

    fn expected(model: &Model, xs: &[Vec<u8>]) -> Vec<Option<Vec<i32>>> {
        xs.iter()
            .map(|x| {
                let g = revspike_golden::infer(model, x).unwrap();
                Some(g.logits.iter().map(|&v| v as i32).collect())
            })
            .collect()
    }

    #[test]
    fn a_clean_batch_is_pipelined_and_exact() {
        let m = mock_model();
        let xs: Vec<Vec<u8>> = (0..10).map(|i| revspike_golden::gen_input(&m, i)).collect();
        let mock = Mock::new(&m);
        let seen = mock.max_in_flight_seen.clone();
        let mut dev = mock_device(mock);
        assert_eq!(run_all(&mut dev, &m, &xs), expected(&m, &xs));
        assert_eq!(dev.recovery, Recovery::default());
        assert_eq!(
            seen.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "window of 4"
        );
    }

    #[test]
    fn lost_answers_in_the_middle_and_at_the_end_are_resent() {
        let m = mock_model();
        let xs: Vec<Vec<u8>> = (0..10).map(|i| revspike_golden::gen_input(&m, i)).collect();
        let mut mock = Mock::new(&m);
        // The 3rd INFER's answer is lost with later ones behind it (noticed when
        // the 4th answers); the 11th (10 inputs and one resend) is the last one
        // sent, so only the timeout notices it.
        mock.drop_infer = vec![3, 11];
        let mut dev = mock_device(mock);
        assert_eq!(run_all(&mut dev, &m, &xs), expected(&m, &xs));
        assert!(dev.recovery.resent >= 2, "{:?}", dev.recovery);
        assert!(dev.recovery.resyncs >= 1, "{:?}", dev.recovery);
        assert_eq!(dev.recovery.reloads, 0);
    }

    #[test]
    fn a_lost_model_is_reloaded_and_the_batch_resumes_from_the_failed_input() {
        let m = mock_model();
        let xs: Vec<Vec<u8>> = (0..10).map(|i| revspike_golden::gen_input(&m, i)).collect();
        let mut mock = Mock::new(&m);
        mock.power_cycle_at = Some(6);
        let mut dev = mock_device(mock);
        assert_eq!(run_all(&mut dev, &m, &xs), expected(&m, &xs));
        assert_eq!(dev.recovery.reloads, 1, "{:?}", dev.recovery);
        assert_eq!(dev.recovery.events.len(), 1);
        let e = &dev.recovery.events[0];
        assert!(e.contains("NOT_LOADED"), "{e}");
        assert!(e.ends_with("resuming from input #5"), "{e}");
    }
}
