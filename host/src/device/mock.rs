//! A device model speaking the protocol, with scripted faults, so the batch logic
//! (pipelining, loss detection, resync, reload-and-resume, sharding across boards,
//! failover, golden retries) is checked without a simulator. Its answers come back
//! at once; a missing answer is noticed after `patience` empty reads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use revspike_golden::Model;
use revspike_proto::build;
use revspike_proto::protocol::{
    self, zero_run, Command, DeviceStatus, ErrorCode, Response, RunResult, Transport,
};

use super::{Device, Faults, InputEncoding, LinkOptions, LinkTransport};

pub(crate) struct Mock {
    model: Model,
    rx: protocol::FrameDecoder,
    tx: Vec<u8>,
    loaded: bool,
    words: u32,
    /// INFERs received (shared, so a test can see how work was spread).
    pub infers: Arc<AtomicUsize>,
    /// Loads begun.
    pub loads: Arc<AtomicUsize>,
    /// Answer nothing to these INFERs (by count, from 1).
    pub drop_infer: Vec<usize>,
    /// Lose the model just before this INFER (by count, from 1).
    pub power_cycle_at: Option<usize>,
    /// Die (the port fails) at this INFER (by count, from 1), as an unplugged board.
    pub die_at: Option<usize>,
    /// From this INFER on (by count, from 1) until the next load, every logit is one
    /// more than the model's: the model was changed behind the host's back.
    pub corrupt_from: Option<usize>,
    /// Corrupt results even after a reload (a device that is simply wrong).
    pub corrupt_forever: bool,
    /// How long answers take to come back, as on a real link (so several mock
    /// boards in a batch all get work).
    pub latency: Duration,
    corrupted: bool,
    dead: bool,
    /// Most requests received between two reads of the host: > 1 when it pipelines.
    pub max_in_flight_seen: Arc<AtomicUsize>,
    unanswered: usize,
}

impl Mock {
    pub fn new(model: &Model) -> Mock {
        Mock {
            model: model.clone(),
            rx: protocol::FrameDecoder::new(),
            tx: Vec::new(),
            loaded: false,
            words: 0,
            infers: Default::default(),
            loads: Default::default(),
            drop_infer: Vec::new(),
            power_cycle_at: None,
            die_at: None,
            corrupt_from: None,
            corrupt_forever: false,
            latency: Duration::ZERO,
            corrupted: false,
            dead: false,
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
                self.loads.fetch_add(1, Ordering::SeqCst);
                self.loaded = false;
                self.words = 0;
                self.corrupted = self.corrupt_forever;
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
                    Command::InferPacked { packed } => zero_run::decode(packed).ok()?,
                    Command::Infer { bytes } => bytes.clone(),
                    _ => unreachable!("matched above"),
                };
                let k = self.infers.fetch_add(1, Ordering::SeqCst) + 1;
                if self.die_at == Some(k) {
                    self.dead = true;
                    return None;
                }
                if self.power_cycle_at == Some(k) {
                    self.loaded = false;
                    self.words = 0;
                }
                if self.corrupt_from == Some(k) {
                    self.corrupted = true;
                }
                if self.drop_infer.contains(&k) {
                    return None;
                }
                if !self.loaded {
                    return Some(err(ErrorCode::NotLoaded));
                }
                let g = revspike_golden::infer(&self.model, bytes).unwrap();
                let bump = i32::from(self.corrupted);
                Response::Run(RunResult {
                    timesteps: self.model.timesteps as u16,
                    prediction: g.prediction as u16,
                    cycles: 500,
                    status: 0,
                    logits: g.logits.iter().map(|&x| x as i32 + bump).collect(),
                })
            }
            _ => err(ErrorCode::UnknownCommand),
        })
    }
}

impl Transport for Mock {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.dead {
            return Err("the mock board is gone".into());
        }
        self.rx.push(bytes);
        while let Some(f) = self.rx.next_frame() {
            let Ok(f) = f else { continue };
            let cmd = Command::parse(&f).map_err(|e| e.to_string())?;
            self.unanswered += 1;
            self.max_in_flight_seen
                .fetch_max(self.unanswered, Ordering::SeqCst);
            if let Some(r) = self.answer(&cmd) {
                self.tx.extend(r.to_frame(f.cmd, f.seq).unwrap());
            }
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<Vec<u8>, String> {
        if self.dead {
            return Err("the mock board is gone".into());
        }
        self.unanswered = 0;
        if !self.tx.is_empty() {
            std::thread::sleep(self.latency);
        }
        Ok(std::mem::take(&mut self.tx))
    }
}

/// A generated model that fits the SMALL build the mock reports.
pub(crate) fn mock_model() -> Model {
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

/// A quiet device on `mock` with a short timeout.
pub(crate) fn mock_device(mock: Mock, label: &str) -> Device {
    let t = LinkTransport::new(Box::new(mock), Faults::default());
    let opts = LinkOptions {
        timeout: Duration::from_millis(30),
        retries: 4,
        window: 4,
        encoding: InputEncoding::Smallest,
    };
    let mut d = Device::connect(t, opts, label).expect("the mock identifies");
    d.set_quiet(true);
    d
}
