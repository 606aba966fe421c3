//! Link fuzzing on the Verilated board top level (issue #17, "Fuzzing kept in the
//! project"): random and corrupted frames, with a valid CRC and not, sent to the small
//! build's top level (UART, link and spiking core at 12 Mbaud) over its UART pins.
//!
//! A reference of what docs/protocol.md promises splits every chunk of wire bytes the
//! way the device does (SLIP un-escaping, END boundaries, the half-frame timeout) and
//! predicts, for each fragment, whether it is answered and, for the link's own checks
//! (OVERSIZE, LENGTH, BAD_CRC, UNKNOWN_COMMAND, BAD_ARGUMENTS, NOT_LOADED), with which
//! error. It tracks `loaded` and `dirty` from the frames' effects, so STATUS must
//! agree with it, and an INFER of a valid input while the golden model is loaded must
//! return the golden logits. Every promised answer must come, with the fragment's
//! sequence number and command, and nothing else may come; the device must answer
//! IDENTIFY every 100 chunks; at the end a reloaded model must still match the golden
//! model, raw and packed.
//!
//! `REVSPIKE_LINK_FUZZ_CHUNKS` sets the number of chunks (default 250, for CI);
//! `scripts/link-fuzz.sh` runs 10,000 and prints the figures.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use revspike_golden::gen::{gen_input, gen_model};
use revspike_golden::sim::infer;
use revspike_golden::Model;
use revspike_proto::build::SMALL;
use revspike_proto::image::compile;
use revspike_proto::protocol::{
    crc16, frame_body, slip_encode, zero_run, Client, Command, CommandCode, Frame, Response,
    Transport, CORE_DETAIL_WATCHDOG, ERROR_CMD, MAX_PAYLOAD, MAX_READ_WORDS, RESPONSE_BIT,
    SLIP_END, SLIP_ESC, SLIP_ESC_END, SLIP_ESC_ESC,
};
use revspike_tests::BridgeTransport;

// Error codes (protocol::ErrorCode).
const BAD_CRC: u8 = 1;
const LENGTH: u8 = 2;
const OVERSIZE: u8 = 3;
const UNKNOWN: u8 = 4;
const BAD_ARGS: u8 = 5;
const NOT_LOADED: u8 = 6;
const CORE: u8 = 7;

/// What the device must answer to one fragment.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// This error code.
    Error(u8),
    /// The command's own outcome (a response, or CORE / NOT_LOADED where the
    /// reference cannot know the core's verdict).
    Command,
}

/// The device's view of the link, as far as the docs make it predictable.
struct Reference {
    /// A SLIP escape is pending (it survives a chunk boundary, not an END).
    esc: bool,
    /// After a timed-out fragment shorter than a header the device drops bytes up to
    /// the next END.
    hunting: bool,
    loaded: bool,
    dirty: bool,
    /// The loaded model is the golden one (loaded by the test itself).
    golden: bool,
}

/// The frames the device sees in `wire`: complete fragments (ended by END), and the
/// bytes of a fragment still open at the end.
fn split(r: &mut Reference, wire: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut done = Vec::new();
    let mut cur = Vec::new();
    for &b in wire {
        if b == SLIP_END {
            r.esc = false;
            if r.hunting {
                r.hunting = false;
            } else {
                done.push(std::mem::take(&mut cur));
            }
            cur.clear();
            continue;
        }
        if r.hunting {
            continue;
        }
        if b == SLIP_ESC && !r.esc {
            r.esc = true;
            continue;
        }
        let v = if r.esc && b == SLIP_ESC_END {
            0xC0
        } else if r.esc && b == SLIP_ESC_ESC {
            0xDB
        } else {
            b
        };
        r.esc = false;
        cur.push(v);
    }
    (done, cur)
}

impl Reference {
    /// The device saw a whole frame that the test itself sent (a reload or a probe):
    /// it begins with END, which ends any hunt, and ends with END.
    fn framed(&mut self) {
        self.hunting = false;
        self.esc = false;
    }
}

fn declared(f: &[u8]) -> usize {
    u16::from_le_bytes([f[2], f[3]]) as usize
}

fn args_ok(cmd: u8, len: usize) -> bool {
    CommandCode::from_code(cmd).is_some_and(|c| c.payload_rule().allows(len))
}

/// WRITE's and READ's address checks (docs/protocol.md, commands).
fn write_bad(addr: u32, len: usize) -> bool {
    addr >> 20 != 0 || (addr >> 16) > 2 || (addr & 0xFFFF) as usize + len / 2 > 0x1_0002
}

fn read_bad(addr: u32, count: usize) -> bool {
    addr >> 20 != 0
        || (addr >> 16) > 4
        || count > MAX_READ_WORDS
        || (addr & 0xFFFF) as usize + count > 0x1_0000
}

impl Reference {
    /// A complete, clean load: RUN and INFER may run.
    fn clean(&self) -> bool {
        self.loaded && !self.dirty
    }

    /// The answer a complete fragment (END-terminated) must get, if any.
    fn expect_complete(&self, f: &[u8]) -> Option<Expect> {
        if f.len() < 6 {
            return None;
        }
        let len = declared(f);
        let cmd = f[0];
        Some(if len > MAX_PAYLOAD {
            Expect::Error(OVERSIZE)
        } else if f.len() != len + 6 {
            Expect::Error(LENGTH)
        } else if crc16(&f[..len + 4]) != u16::from_le_bytes([f[len + 4], f[len + 5]]) {
            Expect::Error(BAD_CRC)
        } else if !(1..=12).contains(&cmd) {
            Expect::Error(UNKNOWN)
        } else if !args_ok(cmd, len) {
            Expect::Error(BAD_ARGS)
        } else if (cmd == 6 || cmd == 12) && !self.clean() {
            Expect::Error(NOT_LOADED)
        } else {
            let p = &f[4..4 + len];
            let addr = || u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
            match cmd {
                2 if write_bad(addr(), len) => Expect::Error(BAD_ARGS),
                3 if read_bad(addr(), u16::from_le_bytes([p[4], p[5]]) as usize) => {
                    Expect::Error(BAD_ARGS)
                }
                12 if zero_run::decode(p).is_err() => Expect::Error(BAD_ARGS),
                _ => Expect::Command,
            }
        })
    }

    /// The answer a fragment cut off by the half-frame timeout must get, if any; and
    /// whether the device then hunts for the next END.
    fn expect_cut(&mut self, f: &[u8]) -> Option<Expect> {
        if f.len() < 4 {
            self.hunting = !f.is_empty();
            return None;
        }
        Some(Expect::Error(if declared(f) > MAX_PAYLOAD {
            OVERSIZE
        } else {
            LENGTH
        }))
    }

    /// The effects of a WRITE fragment on `loaded` and `dirty`, once its answer is
    /// known to be an error or not.
    fn write_effects(&mut self, f: &[u8], failed: bool) {
        if f.len() < 4 || f[0] != 2 {
            return;
        }
        let len = declared(f);
        if failed {
            self.dirty = true;
        }
        if len > MAX_PAYLOAD {
            return;
        }
        let p = &f[4..];
        let got = p.len().min(len);
        if got < 4 {
            return;
        }
        let addr = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
        if !write_bad(addr, len) && (got - 4) / 2 > 0 && addr >> 17 == 0 {
            // Words of the model after LOAD_END.
            self.loaded = false;
            self.golden = false;
        }
    }
}

/// The chunk generator: well-formed commands, corrupted ones, noise, cut frames.
struct Gen {
    rng: ChaCha8Rng,
    seq: u8,
    /// The model's input length (valid INFERs).
    input_len: usize,
}

impl Gen {
    fn addr(&mut self) -> u32 {
        let region: u32 = match self.rng.gen_range(0..10) {
            0..=3 => 2,
            4..=5 => 0,
            6 => 1,
            7 => self.rng.gen_range(3..5),
            8 => self.rng.gen_range(5..16),
            _ => return self.rng.gen(),
        };
        let off: u32 = if self.rng.gen_bool(0.2) {
            0xFFFF - self.rng.gen_range(0..4)
        } else {
            self.rng.gen_range(0..0x200)
        };
        (region << 16) | off
    }

    fn input(&mut self) -> Vec<u8> {
        let n = if self.rng.gen_bool(0.4) {
            self.input_len
        } else {
            self.rng.gen_range(0..900)
        };
        (0..n)
            .map(|_| {
                if self.rng.gen_bool(0.5) {
                    0
                } else {
                    self.rng.gen()
                }
            })
            .collect()
    }

    /// A command payload that is well-formed for its command most of the time.
    fn command(&mut self) -> (u8, Vec<u8>) {
        let cmd: u8 = match self.rng.gen_range(0..100) {
            0..=7 => 1,
            8..=22 => 2,
            23..=37 => 3,
            38..=42 => 4,
            43..=47 => 5,
            48..=57 => 6,
            58..=62 => 7,
            63..=67 => 8,
            68..=75 => 9,
            76..=77 => 10,
            78..=80 => 11,
            81..=92 => 12,
            _ => self.rng.gen_range(13..=255),
        };
        let p = match cmd {
            2 => {
                let mut p = self.addr().to_le_bytes().to_vec();
                let n = self.rng.gen_range(0..16);
                p.extend((0..2 * n).map(|_| self.rng.gen::<u8>()));
                p
            }
            3 => {
                let mut p = self.addr().to_le_bytes().to_vec();
                let n: u16 = match self.rng.gen_range(0..20) {
                    0 => 2048,
                    1 => 2049,
                    _ => self.rng.gen_range(0..40),
                };
                p.extend(n.to_le_bytes());
                p
            }
            4 | 6 => self.input(),
            12 => {
                let x = self.input();
                let mut p = zero_run::encode(&x);
                match self.rng.gen_range(0..10) {
                    0 => p.push(0),
                    // Past MAX_PAYLOAD values in runs the expansion keeps pace with.
                    1 => p.extend(zero_run::encode(&[0; MAX_PAYLOAD + 1])),
                    _ => {}
                }
                p
            }
            7 => vec![self.rng.gen_range(0..6)],
            // Never the word count: a fuzzed load must not pass for a model.
            11 => (0x8_0000u32 | self.rng.gen::<u32>() & 0x7_FFFF)
                .to_le_bytes()
                .to_vec(),
            1 | 5 | 8 | 9 | 10 => Vec::new(),
            _ => (0..self.rng.gen_range(0..12))
                .map(|_| self.rng.gen())
                .collect(),
        };
        // Now and then the wrong length for the command.
        let mut p = p;
        if self.rng.gen_bool(0.05) {
            p.push(self.rng.gen());
        }
        (cmd, p)
    }

    /// One chunk of wire bytes, and what kind it is (for the figures).
    fn chunk(&mut self) -> (Vec<u8>, &'static str) {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let (cmd, p) = self.command();
        let body = frame_body(cmd, seq, &p);
        match self.rng.gen_range(0..100) {
            0..=34 => (slip_encode(&body), "valid CRC"),
            35..=59 => {
                let mut b = body;
                let i = self.rng.gen_range(0..b.len());
                b[i] ^= 1 << self.rng.gen_range(0..8);
                (slip_encode(&b), "bit flip")
            }
            60..=69 => {
                let mut w = slip_encode(&body);
                let i = self.rng.gen_range(1..w.len() - 1);
                match self.rng.gen_range(0..3) {
                    0 => {
                        w.remove(i);
                    }
                    1 => w.insert(i, self.rng.gen()),
                    _ => w[i] = self.rng.gen(),
                }
                (w, "wire byte")
            }
            70..=77 => {
                let mut b = body;
                if self.rng.gen_bool(0.5) {
                    let keep = self.rng.gen_range(0..b.len());
                    b.truncate(keep);
                } else {
                    b.extend((0..self.rng.gen_range(1..5)).map(|_| self.rng.gen::<u8>()));
                }
                if self.rng.gen_bool(0.5) && b.len() > 4 {
                    let n = b.len() - 2;
                    let c = crc16(&b[..n]).to_le_bytes();
                    b[n..].copy_from_slice(&c);
                }
                (slip_encode(&b), "length")
            }
            78..=81 => {
                let mut b = vec![cmd, seq, 0xFF, self.rng.gen_range(0x10..=0xFF)];
                b.extend((0..self.rng.gen_range(0..30)).map(|_| self.rng.gen::<u8>()));
                (slip_encode(&b), "oversize")
            }
            82..=87 => {
                let n = self.rng.gen_range(1..20);
                let mut w: Vec<u8> = (0..n).map(|_| self.rng.gen()).collect();
                w.push(SLIP_END);
                (w, "noise")
            }
            88..=93 => {
                let mut w = slip_encode(&body);
                w.pop();
                let keep = self.rng.gen_range(1..=w.len());
                w.truncate(keep);
                (w, "cut")
            }
            _ => {
                let mut w = slip_encode(&body);
                let i = self.rng.gen_range(1..w.len() - 1);
                w.insert(i, SLIP_ESC);
                (w, "bad escape")
            }
        }
    }
}

/// One expected answer: the fragment, and what it must get.
struct Pending {
    frag: Vec<u8>,
    expect: Expect,
}

fn small_model() -> Model {
    let opts = SMALL.small_gen_options();
    (9100..9500)
        .map(|s| gen_model(s, &opts))
        .find(|m| SMALL.check(m).is_ok() && m.input.group_len * m.timesteps <= 900)
        .expect("a generated model fits the small build")
}

fn input_len(m: &Model) -> usize {
    match m.input.grouping {
        revspike_golden::model::Grouping::Split => m.input.group_len * m.timesteps,
        revspike_golden::model::Grouping::Repeat => m.input.group_len,
    }
}

/// The outcome figures of a run.
#[derive(Default, Debug)]
struct Figures {
    chunks: usize,
    fragments: usize,
    answered: usize,
    by_kind: BTreeMap<&'static str, usize>,
    by_answer: BTreeMap<String, usize>,
    golden_runs: usize,
}

fn check_answer(
    r: &mut Reference,
    model: &Model,
    p: &Pending,
    frame: &Frame,
    fig: &mut Figures,
) -> Result<(), String> {
    let f = &p.frag;
    if frame.seq != f[1] {
        return Err(format!(
            "answer with seq {} to fragment {:02x?} (seq {})",
            frame.seq, f, f[1]
        ));
    }
    let resp = Response::parse(frame).map_err(|e| format!("{e} for {f:02x?}"))?;
    let failed = frame.cmd == ERROR_CMD;
    let name = match &resp {
        Response::Error { code, .. } => format!("error {code}"),
        _ => format!("0x{:02x}", frame.cmd),
    };
    *fig.by_answer.entry(name).or_default() += 1;
    if let Response::Error { cmd, code, .. } = resp {
        if cmd != f[0] {
            return Err(format!("error names command {cmd:#x}, fragment {f:02x?}"));
        }
        match &p.expect {
            Expect::Error(want) if *want != code => {
                return Err(format!(
                    "error {code}, expected {want}, for fragment {f:02x?}"
                ))
            }
            _ => {}
        }
    } else if frame.cmd != f[0] | RESPONSE_BIT || p.expect != Expect::Command {
        return Err(format!(
            "answer 0x{:02x}, expected {:?}, for fragment {f:02x?}",
            frame.cmd, p.expect
        ));
    }
    r.write_effects(f, failed);
    if p.expect != Expect::Command {
        return Ok(());
    }
    let cmd = f[0];
    let payload = &f[4..f.len() - 2];
    match (cmd, resp) {
        (1, Response::Identify(i)) if i == SMALL.info() => {}
        (2, Response::Written) => {}
        (3, Response::Read(w))
            if w.len() == u16::from_le_bytes([payload[4], payload[5]]) as usize => {}
        (4, Response::InputAccepted { .. }) => {}
        (4, Response::Error { code: CORE, .. }) => {}
        (
            5,
            Response::Error {
                code: NOT_LOADED, ..
            },
        ) if !r.clean() => {}
        (5, other) if !r.clean() => {
            return Err(format!("RUN with no clean model answered {other:?}"))
        }
        (
            5 | 6 | 12,
            Response::Error {
                code: CORE, detail, ..
            },
        ) => {
            if detail == CORE_DETAIL_WATCHDOG {
                r.loaded = false;
                r.golden = false;
            }
        }
        (5, Response::Run(_)) if r.clean() => {}
        (6 | 12, Response::Run(run)) => {
            let x = if cmd == 12 {
                zero_run::decode(payload).unwrap()
            } else {
                payload.to_vec()
            };
            if r.golden {
                let gold = infer(model, &x).map_err(|e| format!("golden refused: {e}"))?;
                let logits = run.logits_i64();
                if logits != gold.logits {
                    return Err(format!(
                        "INFER of {} values: logits differ from golden",
                        x.len()
                    ));
                }
                fig.golden_runs += 1;
            }
        }
        (7, Response::Rewound { .. } | Response::Error { code: CORE, .. }) => {}
        (8, Response::ResetDone) => {}
        (9, Response::Status(s)) => {
            if s.loaded != r.loaded || s.dirty != r.dirty {
                return Err(format!(
                    "STATUS says loaded {} dirty {}, the reference {} {}",
                    s.loaded, s.dirty, r.loaded, r.dirty
                ));
            }
        }
        (10, Response::LoadBegun) => {
            r.loaded = false;
            r.dirty = false;
            r.golden = false;
        }
        (11, Response::LoadEnded { loaded, .. }) => {
            r.loaded = loaded;
            r.golden = false;
        }
        (c, other) => return Err(format!("command 0x{c:02x} answered {other:?}")),
    }
    Ok(())
}

fn load_golden(c: &mut Client<BridgeTransport>, r: &mut Reference, model: &Model) {
    r.framed();
    let writes = compile(model, &SMALL).writes();
    assert!(
        c.load(&writes, 2).expect("load"),
        "the golden model did not load"
    );
    r.loaded = true;
    r.dirty = false;
    r.golden = true;
}

fn fuzz(chunks: usize, seed: u64) -> Figures {
    let start = Instant::now();
    let model = small_model();
    let mut c = Client::new(BridgeTransport::new(&SMALL).expect("the small top level"));
    c.transport.patience_cycles = 600_000;
    c.patience = 2;
    let mut r = Reference {
        esc: false,
        hunting: true,
        loaded: false,
        dirty: false,
        golden: false,
    };
    // Power-up: the device hunts for an END.
    c.send_raw(&[SLIP_END]).unwrap();
    r.framed();
    load_golden(&mut c, &mut r, &model);
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        seq: 0,
        input_len: input_len(&model),
    };
    let mut fig = Figures::default();
    let timeout_us = 1_100;
    for k in 0..chunks {
        if k % 400 == 399 {
            load_golden(&mut c, &mut r, &model);
        }
        let (wire, kind) = g.chunk();
        *fig.by_kind.entry(kind).or_default() += 1;
        fig.chunks += 1;
        // Send fragment by fragment (each up to its END), waiting for its answer, so
        // a long response never lets the next fragments overflow the receive FIFO.
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let cut = rest.iter().position(|&b| b == SLIP_END);
            let (piece, tail) = match cut {
                Some(i) => rest.split_at(i + 1),
                None => (rest, &[][..]),
            };
            rest = tail;
            let (done, open) = split(&mut r, piece);
            let mut pending: Vec<Pending> = done
                .into_iter()
                .filter(|f| !f.is_empty())
                .filter_map(|f| {
                    fig.fragments += 1;
                    r.expect_complete(&f)
                        .map(|e| Pending { frag: f, expect: e })
                })
                .collect();
            c.send_raw(piece).unwrap();
            if !open.is_empty() {
                // Sent in full, then silence past the half-frame timeout.
                fig.fragments += 1;
                c.transport.bridge.flush(u64::MAX / 2).unwrap();
                c.transport.pause(timeout_us).unwrap();
                if let Some(e) = r.expect_cut(&open) {
                    pending.push(Pending {
                        frag: open,
                        expect: e,
                    });
                }
            }
            for p in pending {
                let frame = match c.recv_frame() {
                    Ok(Ok(f)) => f,
                    Ok(Err(e)) => panic!("chunk {k} ({kind}): damaged answer: {e}"),
                    Err(e) => panic!(
                        "chunk {k} ({kind}): lost answer ({e}) to fragment {:02x?}, expected {:?}",
                        p.frag, p.expect
                    ),
                };
                fig.answered += 1;
                if let Err(e) = check_answer(&mut r, &model, &p, &frame, &mut fig) {
                    panic!("chunk {k} ({kind}) {wire:02x?}: {e}");
                }
            }
        }
        if k % 100 == 99 {
            // The device still answers, and nothing unexpected came first.
            c.send_raw(&Command::Identify.to_frame(0xEE).unwrap())
                .unwrap();
            r.framed();
            match c.recv_frame() {
                Ok(Ok(f)) if f.seq == 0xEE => match Response::parse(&f) {
                    Ok(Response::Identify(i)) if i == SMALL.info() => {}
                    other => panic!("chunk {k}: IDENTIFY answered {other:?}"),
                },
                other => panic!("chunk {k}: IDENTIFY after fuzzing got {other:?}"),
            }
        }
    }
    // The end: a clean load, and runs that equal golden, raw and packed.
    c.send_raw(&[SLIP_END; 2]).unwrap();
    load_golden(&mut c, &mut r, &model);
    for s in 0..4 {
        let x = gen_input(&model, 500 + s);
        for cmd in [
            Command::Infer { bytes: x.clone() },
            Command::InferPacked {
                packed: zero_run::encode(&x),
            },
        ] {
            match c.request(&cmd) {
                Ok(Response::Run(run)) => {
                    let gold = infer(&model, &x).unwrap();
                    let logits = run.logits_i64();
                    assert_eq!(logits, gold.logits, "final run {s}");
                    fig.golden_runs += 1;
                }
                other => panic!("final INFER answered {other:?}"),
            }
        }
    }
    let (sent, got) = c.transport.bridge.totals();
    println!(
        "link fuzz: {} chunks ({} fragments), {} answers, 0 lost, 0 lockups, {} runs equal \
         to golden; {} bytes sent, {} received, {} cycles simulated, {:.1} s",
        fig.chunks,
        fig.fragments,
        fig.answered,
        fig.golden_runs,
        sent,
        got,
        c.transport.bridge.model().cycles(),
        start.elapsed().as_secs_f64()
    );
    println!("chunks by kind: {:?}", fig.by_kind);
    println!("answers: {:?}", fig.by_answer);
    fig
}

fn chunks_from_env(default: usize) -> usize {
    std::env::var("REVSPIKE_LINK_FUZZ_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn link_fuzz_on_the_verilated_top_level() {
    let n = chunks_from_env(250);
    let fig = fuzz(n, 0x5EED_0017);
    assert_eq!(fig.chunks, n);
    assert!(fig.answered > n / 2, "{fig:?}");
    assert!(fig.golden_runs >= 8, "{fig:?}");
}

/// The rule the reference follows after a fragment too short to answer is cut by the
/// timeout (docs/protocol.md, "Timeouts and noise"): the device drops what follows
/// up to the next END, and any frame, beginning with END, ends that hunt.
#[test]
fn a_timed_out_short_fragment_drops_bytes_up_to_the_next_end() {
    let timeout_us = 1_100;
    // Random bytes that parse as an OVERSIZE header once the device is not hunting.
    let noise = [0xF9, 0xC3, 0xCB, 0x27, 0xD0, 0x00, 0x78, SLIP_END];
    let mut c = Client::new(BridgeTransport::new(&SMALL).expect("the small top level"));
    c.transport.patience_cycles = 600_000;
    c.patience = 2;
    let cut = |c: &mut Client<BridgeTransport>| {
        c.send_raw(&[SLIP_END, 0x03]).unwrap();
        c.transport.bridge.flush(u64::MAX / 2).unwrap();
        c.transport.pause(timeout_us).unwrap();
    };
    // The first frame back must be STATUS's answer: nothing came to dropped bytes.
    let status = |c: &mut Client<BridgeTransport>| {
        c.send_raw(&Command::Status.to_frame(0x55).unwrap())
            .unwrap();
        match c.recv_frame() {
            Ok(Ok(f)) if f.seq == 0x55 => match Response::parse(&f) {
                Ok(Response::Status(s)) => s,
                other => panic!("STATUS answered {other:?}"),
            },
            other => panic!("before STATUS's answer: {other:?}"),
        }
    };
    c.send_raw(&[SLIP_END]).unwrap();

    // Hunting: the noise is dropped, with its END; the next frame is answered.
    cut(&mut c);
    c.send_raw(&noise).unwrap();
    let s = status(&mut c);
    assert_eq!((s.timeouts, s.last_error), (1, 0), "{s:?}");

    // A frame ends the hunt: the same noise after it is a frame (OVERSIZE).
    cut(&mut c);
    c.send_raw(&Command::Identify.to_frame(0x44).unwrap())
        .unwrap();
    match c.recv_response(0x44) {
        Ok(Response::Identify(i)) => assert_eq!(i, SMALL.info()),
        other => panic!("IDENTIFY answered {other:?}"),
    }
    c.send_raw(&noise).unwrap();
    match c.recv_frame() {
        Ok(Ok(f)) => match Response::parse(&f) {
            Ok(Response::Error { cmd, code, .. }) => {
                assert_eq!((f.seq, cmd, code), (0xC3, 0xF9, OVERSIZE))
            }
            other => panic!("the noise was answered {other:?}"),
        },
        other => panic!("no answer to the noise after a frame: {other:?}"),
    }
}
