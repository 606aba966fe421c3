//! Driving a revspike device over the link: the Alchitry Cu's serial port or a
//! virtual board's pseudo-terminal.
//!
//! [`Device`] wraps the protocol [`Client`] with what a long batch needs: the capacity
//! check against the build the device reports, loading, pipelined INFER within the
//! flow-control rules of docs/protocol.md, retry with resynchronization after damaged
//! frames and timeouts, and reloading the model when the device has lost it (power
//! cycle, reconfiguration), resuming from the input that failed.

pub mod board;
pub mod connect;
pub mod link;
#[cfg(test)]
pub(crate) mod mock;
pub mod serial;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use revspike_golden::Model;
use revspike_proto::build::{self, Build, Excess, FitError};
use revspike_proto::contract::ConfigReg;
use revspike_proto::protocol::{
    self, addr, is_retryable, padding_ends, zero_run, BuildInfo, Client, ClientError, Command,
    CommandCode, DeviceStatus, ErrorCode, FrameError, ProtocolError, Response, RunResult,
    MAX_WRITE_WORDS, SLIP_END,
};

pub use connect::{Board, Boards, ConnectOptions};
pub use link::{Faults, LinkCounters, LinkTransport};

/// The INFER encoding of inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InputEncoding {
    /// INFER or INFER_PACKED, whichever is shorter on the wire for each input.
    #[default]
    Smallest,
    /// Always INFER with the raw values.
    Raw,
    /// Always INFER_PACKED.
    Packed,
}

impl InputEncoding {
    /// Every encoding, by the name [`InputEncoding::name`] gives it.
    pub const ALL: [InputEncoding; 3] = [
        InputEncoding::Smallest,
        InputEncoding::Raw,
        InputEncoding::Packed,
    ];

    /// The name a command line or a configuration uses.
    pub const fn name(self) -> &'static str {
        match self {
            InputEncoding::Smallest => "smallest",
            InputEncoding::Raw => "raw",
            InputEncoding::Packed => "packed",
        }
    }

    /// The INFER command for `input`.
    pub fn command(self, input: &[u8]) -> Command {
        match self {
            InputEncoding::Smallest => Command::infer_smallest(input),
            InputEncoding::Raw => Command::Infer {
                bytes: input.to_vec(),
            },
            InputEncoding::Packed => Command::InferPacked {
                packed: zero_run::encode(input),
            },
        }
    }
}

impl std::str::FromStr for InputEncoding {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        InputEncoding::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = InputEncoding::ALL.iter().map(|e| e.name()).collect();
                format!("unknown encoding '{s}' (encodings: {})", names.join(", "))
            })
    }
}

/// Retry and pipelining settings of a [`Device`].
#[derive(Clone, Copy, Debug)]
pub struct LinkOptions {
    pub timeout: Duration,
    pub retries: usize,
    pub window: usize,
    pub encoding: InputEncoding,
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
    /// The port this device is on, for messages when several boards run at once.
    pub label: String,
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
        // IDENTIFY does not say; a named build's own figure is taken below.
        stem: build::by_name(&info.name).is_some_and(|named| named.stem),
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

/// What a batch makes of a result the device returned (see [`Device::infer_stream`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Take it.
    Accept,
    /// Distrust it: reload the model (the reason is reported) and run the input again.
    Retry(String),
}

/// Why a batch reloads the model.
enum Reload {
    /// The device lost it (power cycle, reset, reconfiguration).
    Lost(String),
    /// Its results stopped agreeing with the golden model: it may have been changed.
    Disagree(String),
}

/// Whether `REVSPIKE_TRACE` asks for a line per link event on stderr.
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("REVSPIKE_TRACE").is_some_and(|v| !v.is_empty()))
}

/// A trace line naming the device's port: `revspike trace /dev/pts/3: ...`.
macro_rules! trace {
    ($label:expr, $($t:tt)*) => {
        if tracing() {
            crate::note!("revspike trace {}: {}", $label, format!($($t)*));
        }
    };
}

fn ce(e: ClientError) -> anyhow::Error {
    anyhow!(e)
}

impl Device {
    /// Opens a device on `transport`: flushes any half frame with END bytes and
    /// identifies it. `label` names the port in messages.
    ///
    /// IDENTIFY gets three tries within `opts.timeout` in all, not three full
    /// timeouts: a port with nothing revspike behind it fails quickly, with a message
    /// that says whether anything came back at all.
    pub fn connect(transport: LinkTransport, opts: LinkOptions, label: &str) -> Result<Device> {
        const TRIES: u32 = 3;
        let mut client = Client::new(transport);
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
            label: label.to_string(),
        };
        dev.set_patience((opts.timeout / TRIES).max(Duration::from_millis(50)));
        let mut answer = Err(ClientError::Timeout("IDENTIFY"));
        for _ in 0..TRIES {
            answer = dev.client.identify();
            match &answer {
                Err(e) if is_retryable(e) => {
                    dev.client.send_raw(&[SLIP_END; 4]).map_err(ce)?;
                }
                _ => break,
            }
        }
        dev.set_patience(opts.timeout);
        let info = match answer {
            Ok(info) => info,
            Err(e @ ClientError::Transport(_)) => return Err(ce(e)),
            Err(e) => {
                let got = dev.client.transport.counters.bytes_received;
                let secs = opts.timeout.as_secs_f64();
                if got == 0 {
                    bail!(
                        "nothing answered IDENTIFY within {secs:.1} s ({TRIES} tries): no revspike \
                         device is answering on this port (a board: is it powered, with the \
                         revspike bitstream? a virtual board: is it still running?)"
                    );
                }
                bail!(
                    "no valid answer to IDENTIFY within {secs:.1} s ({TRIES} tries; {got} bytes \
                     came back, last: {e}): not a revspike device, or not at this baud"
                );
            }
        };
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

    /// How long a request waits for its answer, counted in the transport's
    /// empty reads of [`serial::READ_SLICE`].
    fn set_patience(&mut self, wait: Duration) {
        let slice = serial::READ_SLICE.as_millis().max(1) as usize;
        self.client.patience = (wait.as_millis() as usize).div_ceil(slice).max(2);
    }

    /// Suppresses the stderr reports of recovery events (they are still counted).
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    fn report(&self, msg: &str) {
        if !self.quiet {
            crate::note!("revspike: {}: {msg}", self.label);
        }
    }

    /// INFER frames kept in flight once the first result is in.
    pub fn window(&self) -> usize {
        self.opts.window
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

    /// Loads the model again after the device lost it or its results stopped
    /// agreeing with the golden model: identify it afresh (it may have been
    /// reconfigured with another build), then load.
    fn recover_model(&mut self, at_input: usize, why: &Reload) -> Result<()> {
        let msg = match why {
            Reload::Lost(why) => format!(
                "device lost its model ({why}) at input #{at_input}: reloading it and \
                 resuming from input #{at_input}"
            ),
            Reload::Disagree(why) => {
                format!("{why}: reloading the model and running input #{at_input} again")
            }
        };
        self.report(&msg);
        self.recovery.events.push(format!("{}: {msg}", self.label));
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

    /// The INFER request for one input. The one place a request's encoding is
    /// chosen, so the wire bytes and the padding below follow it.
    fn infer_command(&self, input: &[u8]) -> Command {
        self.opts.encoding.command(input)
    }

    /// Whether `frame` can be the answer to an INFER: its response, or an error
    /// frame. Anything else with a matching sequence number is a stale answer to
    /// another request (or another host's), not a result.
    fn answers_infer(frame: &protocol::Frame) -> bool {
        frame.cmd == protocol::ERROR_CMD
            || frame.cmd == (CommandCode::Infer.code() | 0x80)
            || frame.cmd == (CommandCode::InferPacked.code() | 0x80)
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
        let mut next = 0..inputs.len();
        self.infer_stream(
            inputs,
            || next.next(),
            |i, r| {
                each(i, r);
                Verdict::Accept
            },
        )
    }

    /// As [`Device::infer_batch`], for the inputs `next` hands out one at a time
    /// (indices into `inputs`) until it returns `None`; it is asked again whenever
    /// there is room in the window, so several devices can share one queue. Each
    /// result goes to `each`, which accepts it or asks for the model to be reloaded
    /// and that input run again ([`Verdict::Retry`]). Returns when `next` has no more
    /// and every input taken is answered; on an error, the inputs taken and not
    /// accepted are the caller's to give to another device.
    pub fn infer_stream<N, F>(&mut self, inputs: &[Vec<u8>], mut next: N, mut each: F) -> Result<()>
    where
        N: FnMut() -> Option<usize>,
        F: FnMut(usize, &RunResult) -> Verdict,
    {
        let classes = match &self.loaded {
            Some(l) => l.model.classes,
            None => bail!("no model loaded"),
        };
        let timing = self.info.bit_timing()?;
        // Inputs taken from `next` that must be sent (again) before new ones.
        let mut queue: VecDeque<usize> = VecDeque::new();
        let mut inflight: VecDeque<(u8, usize)> = VecDeque::new();
        let mut attempts: HashMap<usize, usize> = HashMap::new();
        let mut reload_at: Option<(usize, Reload)> = None;
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
                let Some(i) = queue.pop_front().or_else(&mut next) else {
                    break;
                };
                if i >= inputs.len() {
                    bail!("input #{i} is past the batch's {} inputs", inputs.len());
                }
                let tries = attempts.entry(i).or_insert(0);
                *tries += 1;
                if *tries > self.opts.retries + 1 {
                    bail!(
                        "input #{i}: no good answer after {} attempts",
                        self.opts.retries + 1
                    );
                }
                if *tries > 1 {
                    self.recovery.resent += 1;
                }
                let tries = *tries;
                let request = self.infer_command(&inputs[i]);
                let req = request.to_frame(0).map_err(|e| anyhow!(e))?.len();
                let seq = self.client.send(&request).map_err(ce)?;
                let (_, resp) = infer_wire_bytes(inputs[i].len(), classes);
                // The run time varies with the input's activity: pad for the
                // longest seen so far plus a quarter, and for a response longer
                // than the request (END bytes take no room in the device's FIFO).
                let cycles = self.last_cycles.unwrap_or(0) as u64;
                let pad = padding_ends(cycles + cycles / 4, timing) + resp.saturating_sub(req);
                self.client.send_raw(&vec![SLIP_END; pad]).map_err(ce)?;
                trace!(
                    self.label,
                    "INFER input #{i} seq {seq} (attempt {tries}), {pad} END"
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
                        Reload::Lost(format!(
                            "the core refused the input ({why}) and STATUS says not loaded"
                        )),
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
                    trace!(self.label, "damaged frame: {e}");
                    self.recovery.damaged += 1;
                    if let Some((_, i)) = inflight.pop_front() {
                        queue.push_front(i);
                    }
                    continue;
                }
                Err(ClientError::Timeout(_)) => {
                    trace!(self.label, "timeout with {} in flight", inflight.len());
                    let lost: Vec<usize> = inflight.drain(..).map(|(_, i)| i).collect();
                    let first = lost[0];
                    requeue(&mut queue, lost);
                    let s = self.resync()?;
                    if !s.loaded && reload_at.is_none() {
                        reload_at = Some((
                            first,
                            Reload::Lost("no answer, then STATUS: not loaded".into()),
                        ));
                    }
                    continue;
                }
                Err(e) => return Err(ce(e)),
            };
            trace!(
                self.label,
                "frame cmd 0x{:02x} seq {} ({} payload bytes)",
                frame.cmd,
                frame.seq,
                frame.payload.len()
            );
            if !Self::answers_infer(&frame) {
                continue;
            }
            let Some(pos) = inflight.iter().position(|&(s, _)| s == frame.seq) else {
                continue; // a late answer to a request already given up on
            };
            // The device answers strictly in order: anything sent before this one
            // that has not been answered was lost on the way.
            let lost: Vec<usize> = inflight.drain(..pos).map(|(_, i)| i).collect();
            let (_, i) = inflight.pop_front().expect("position found above");
            // Resent in input order: this one (if it must be) first, then the lost.
            let resend = match Response::parse(&frame) {
                Ok(Response::Run(r)) => {
                    if r.logits.len() != classes {
                        bail!(
                            "input #{i}: the device returned {} logits for a {classes}-class model",
                            r.logits.len()
                        );
                    }
                    self.last_cycles = Some(self.last_cycles.unwrap_or(0).max(r.cycles));
                    match each(i, &r) {
                        Verdict::Accept => false,
                        Verdict::Retry(why) => {
                            reload_at.get_or_insert((i, Reload::Disagree(why)));
                            true
                        }
                    }
                }
                Ok(Response::Error { code, detail, .. }) => match ErrorCode::from_code(code) {
                    Some(ErrorCode::BadCrc | ErrorCode::Length | ErrorCode::Overrun) => true,
                    Some(ErrorCode::NotLoaded) => {
                        if reload_at.is_none() {
                            reload_at =
                                Some((i, Reload::Lost("the device answered NOT_LOADED".into())));
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
        Ok(self.read(ConfigReg::Stages.address(), 1)?[0] as usize)
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

#[cfg(test)]
mod tests {
    use super::mock::{mock_device, mock_model, Mock};
    use super::*;

    #[test]
    fn encodings_parse_by_their_names_and_nothing_else() {
        for e in InputEncoding::ALL {
            assert_eq!(e.name().parse::<InputEncoding>(), Ok(e));
        }
        assert_eq!(
            "zip".parse::<InputEncoding>(),
            Err("unknown encoding 'zip' (encodings: smallest, raw, packed)".into())
        );
    }

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
        let mut dev = mock_device(mock, "mock");
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
        let mut dev = mock_device(mock, "mock");
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
        let mut dev = mock_device(mock, "mock");
        assert_eq!(run_all(&mut dev, &m, &xs), expected(&m, &xs));
        assert_eq!(dev.recovery.reloads, 1, "{:?}", dev.recovery);
        assert_eq!(dev.recovery.events.len(), 1);
        let e = &dev.recovery.events[0];
        assert!(e.contains("NOT_LOADED"), "{e}");
        assert!(e.ends_with("resuming from input #5"), "{e}");
    }

    #[test]
    fn a_retry_verdict_reloads_the_model_and_runs_that_input_again() {
        let m = mock_model();
        let xs: Vec<Vec<u8>> = (0..8).map(|i| revspike_golden::gen_input(&m, i)).collect();
        let mock = Mock::new(&m);
        let loads = mock.loads.clone();
        let infers = mock.infers.clone();
        let mut dev = mock_device(mock, "mock");
        dev.load(&m).expect("load");
        let mut seen = vec![0usize; xs.len()];
        let mut next = 0..xs.len();
        dev.infer_stream(
            &xs,
            || next.next(),
            |i, _| {
                seen[i] += 1;
                if i == 3 && seen[i] == 1 {
                    Verdict::Retry("input #3 looks wrong".into())
                } else {
                    Verdict::Accept
                }
            },
        )
        .expect("batch");
        assert_eq!(seen, vec![1, 1, 1, 2, 1, 1, 1, 1]);
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(infers.load(std::sync::atomic::Ordering::SeqCst), 9);
        assert_eq!(dev.recovery.reloads, 1);
        let e = &dev.recovery.events[0];
        assert!(
            e.ends_with("input #3 looks wrong: reloading the model and running input #3 again"),
            "{e}"
        );
    }

    #[test]
    fn a_port_that_never_answers_fails_with_a_clear_message() {
        struct Silent;
        impl protocol::Transport for Silent {
            fn send(&mut self, _: &[u8]) -> Result<(), String> {
                Ok(())
            }
            fn recv(&mut self) -> Result<Vec<u8>, String> {
                Ok(Vec::new())
            }
        }
        let t = LinkTransport::new(Box::new(Silent), Faults::default());
        let opts = LinkOptions {
            timeout: Duration::from_millis(2000),
            retries: 8,
            window: 4,
            encoding: InputEncoding::Smallest,
        };
        let e = Device::connect(t, opts, "silent").err().expect("no answer");
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with("nothing answered IDENTIFY within 2.0 s (3 tries)"),
            "{msg}"
        );
    }
}
