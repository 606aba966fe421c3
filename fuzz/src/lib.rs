//! Fuzzing of revspike's parsers on stable Rust.
//!
//! cargo-fuzz needs a nightly compiler (libFuzzer's sanitizer coverage); the
//! project builds on stable, so this is a mutation fuzzer of its own, small
//! enough to read: a seed corpus per target (repository files, generated models
//! and inputs, encoded frames of every command and response), stacked
//! byte-level and token-level mutations drawn from a seeded ChaCha RNG (a run is
//! reproducible from its seed), and a pool that keeps mutants the target
//! accepted, so later mutations start from deeper valid structure. There is no
//! coverage feedback; the targets are parsers whose valid structure the seeds and
//! the token dictionary already span.
//!
//! Each case runs under `catch_unwind`; a panic is a finding, saved with its
//! message. A case slower than the per-case limit counts as a hang; one that
//! never returns is caught by a watchdog thread, which saves it and ends the
//! process. Peak memory is `getrusage`'s maximum resident set.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod targets;

pub use targets::{targets, Target};

/// How a fuzz run goes.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cases to run.
    pub execs: u64,
    /// RNG seed: the same seed gives the same cases.
    pub seed: u64,
    /// A case slower than this counts as a hang.
    pub case_limit: Duration,
    /// A case still running after this ends the process (the watchdog).
    pub abort_after: Duration,
    /// Longest case generated.
    pub max_len: usize,
    /// Where findings are written (None: not written).
    pub out: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            execs: 10_000,
            seed: 1,
            case_limit: Duration::from_secs(1),
            abort_after: Duration::from_secs(20),
            max_len: 1 << 16,
            out: None,
        }
    }
}

/// A panic found.
#[derive(Clone, Debug)]
pub struct Finding {
    pub message: String,
    pub case: Vec<u8>,
}

/// What a run found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub target: String,
    pub execs: u64,
    /// Cases the target accepted (parsed as valid).
    pub accepted: u64,
    pub panics: u64,
    /// Cases slower than the per-case limit.
    pub hangs: u64,
    pub slowest: Duration,
    pub seconds: f64,
    /// Peak resident memory of the process, KiB.
    pub peak_rss_kib: u64,
    /// The first few panics.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn execs_per_second(&self) -> f64 {
        self.execs as f64 / self.seconds.max(1e-9)
    }
}

/// Peak resident set of this process, KiB (Linux reports ru_maxrss in KiB).
pub fn peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| u.max_rss().max(0) as u64)
        .unwrap_or(0)
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the panic hook with one that records the message for the fuzzing
/// thread instead of printing a backtrace per finding.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if FUZZING.with(|f| *f.borrow()) {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let msg = info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
            } else {
                previous(info);
            }
        }));
    });
}

thread_local! {
    static FUZZING: RefCell<bool> = const { RefCell::new(false) };
}

/// Bytes and tokens mutations insert.
const TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"\"",
    b"-",
    b"0",
    b"1",
    b"255",
    b"256",
    b"-1",
    b"1e20",
    b"1e999",
    b"0.5",
    b"NaN",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"\xef\xbb\xbf",
    b"//",
    b"\\u0000",
    b"\"version\"",
    b"\"stages\"",
    b"\"weights\"",
    b"\"timesteps\"",
    b"\"classes\"",
    b"\"in\"",
    b"\"out\"",
    b"\"bias\"",
    b"\"shift\"",
    b"\"width\"",
    b"\"blocks\"",
    b"\"input\"",
    b"\"group_len\"",
    b"\"grouping\"",
    b"\"readout\"",
    b"\"split\"",
    b"\"repeat\"",
    b"\"sum\"",
    b"\"last\"",
    b"4294967296",
    b"18446744073709551616",
    b"\x00\x00\x08",
    b"\x1f\x8b",
    b"\xc0",
    b"\xdb",
    b"\xdc",
    b"\xdd",
    b"\xc0\xc0",
    b"\xdb\xdc",
    b"\xdb\xdd",
    b"\xdb\x00",
];

const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// One mutant of `base` (stacked mutations; `pool` for splicing).
pub fn mutate(rng: &mut ChaCha8Rng, base: &[u8], pool: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut d = base.to_vec();
    let stack = 1usize << rng.gen_range(0..4);
    for _ in 0..stack {
        let len = d.len();
        let pos = |rng: &mut ChaCha8Rng| if len == 0 { 0 } else { rng.gen_range(0..len) };
        match rng.gen_range(0..12) {
            0 if len > 0 => {
                let i = pos(rng);
                d[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = pos(rng);
                d[i] = rng.gen();
            }
            2 if len > 0 => {
                let i = pos(rng);
                d[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())] as u8;
            }
            3 => {
                let t = TOKENS[rng.gen_range(0..TOKENS.len())];
                let i = rng.gen_range(0..=len);
                d.splice(i..i, t.iter().copied());
            }
            4 if len > 0 => {
                let i = pos(rng);
                let n = rng.gen_range(1..=(len - i).min(64));
                d.drain(i..i + n);
            }
            5 if len > 0 => {
                // Copy a range elsewhere (repeats structure: arrays, frames).
                let i = pos(rng);
                let n = rng.gen_range(1..=(len - i).min(256));
                let chunk = d[i..i + n].to_vec();
                let j = rng.gen_range(0..=len);
                let times = if rng.gen_ratio(1, 16) {
                    rng.gen_range(2..64)
                } else {
                    1
                };
                for _ in 0..times {
                    d.splice(j..j, chunk.iter().copied());
                }
            }
            6 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                d.splice(i..i, bytes);
            }
            7 if !pool.is_empty() => {
                let other = &pool[rng.gen_range(0..pool.len())];
                let cut = rng.gen_range(0..=len);
                let from = rng.gen_range(0..=other.len());
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            8 if len > 0 => {
                d.truncate(pos(rng));
            }
            9 => {
                // Replace a decimal number in text with an edge value.
                if let Some(start) = (0..len)
                    .map(|k| (k + pos(rng)) % len.max(1))
                    .find(|&k| d[k].is_ascii_digit())
                {
                    let end = (start..len)
                        .find(|&k| !d[k].is_ascii_digit())
                        .unwrap_or(len);
                    let v = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                    let text = match rng.gen_range(0..4) {
                        0 => format!("-{v}"),
                        1 => format!("{}", v.wrapping_sub(1)),
                        _ => v.to_string(),
                    };
                    d.splice(start..end, text.bytes());
                }
            }
            10 if len >= 4 => {
                // An interesting integer over 2 or 4 bytes, either byte order.
                let v = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                let w = if rng.gen() { 2 } else { 4 };
                let i = rng.gen_range(0..=len - w);
                let b = if rng.gen() {
                    v.to_be_bytes()[8 - w..].to_vec()
                } else {
                    v.to_le_bytes()[..w].to_vec()
                };
                d[i..i + w].copy_from_slice(&b);
            }
            _ => {
                let i = rng.gen_range(0..=len);
                d.insert(i, rng.gen());
            }
        }
    }
    d.truncate(max_len);
    d
}

/// Runs `target` for `o.execs` cases.
pub fn fuzz(target: &Target, o: &Options) -> Report {
    quiet_panics();
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let seeds = (target.seeds)();
    assert!(!seeds.is_empty(), "{}: no seeds", target.name);
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let max_pool = seeds.len() + 512;
    let mut r = Report {
        target: target.name.to_string(),
        ..Default::default()
    };
    // The watchdog: a case still running after abort_after is saved and ends
    // the process (it cannot be stopped from outside its thread).
    let started = Arc::new(AtomicU64::new(0));
    let current: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let watchdog = {
        let (started, current, done) = (started.clone(), current.clone(), done.clone());
        let (limit, out, name) = (o.abort_after, o.out.clone(), target.name);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let s = started.load(Ordering::Relaxed);
                if s != 0 && epoch.elapsed().as_nanos() as u64 - s > limit.as_nanos() as u64 {
                    let case = current.lock().map(|c| c.clone()).unwrap_or_default();
                    let saved = save(out.as_deref(), name, "hang", &case);
                    eprintln!(
                        "revspike-fuzz: {name}: a case ran over {:.0} s ({} bytes{saved}); stopping",
                        limit.as_secs_f64(),
                        case.len()
                    );
                    std::process::exit(3);
                }
            }
        })
    };
    let t0 = Instant::now();
    for n in 0..o.execs {
        let case = if n < seeds.len() as u64 {
            seeds[n as usize].clone()
        } else if rng.gen_ratio(1, 64) {
            let len = rng.gen_range(0..256);
            (0..len).map(|_| rng.gen()).collect()
        } else {
            let base = &pool[rng.gen_range(0..pool.len())];
            mutate(&mut rng, base, &pool, o.max_len)
        };
        if let Ok(mut c) = current.lock() {
            c.clear();
            c.extend_from_slice(&case);
        }
        started.store(epoch.elapsed().as_nanos().max(1) as u64, Ordering::Relaxed);
        let t = Instant::now();
        FUZZING.with(|f| *f.borrow_mut() = true);
        let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(&case)));
        FUZZING.with(|f| *f.borrow_mut() = false);
        let took = t.elapsed();
        started.store(0, Ordering::Relaxed);
        r.execs += 1;
        r.slowest = r.slowest.max(took);
        if took > o.case_limit {
            r.hangs += 1;
            save(o.out.as_deref(), target.name, "slow", &case);
        }
        match outcome {
            Ok(true) => {
                r.accepted += 1;
                if pool.len() < max_pool {
                    pool.push(case);
                } else {
                    let i = rng.gen_range(seeds.len()..pool.len());
                    pool[i] = case;
                }
            }
            Ok(false) => {}
            Err(_) => {
                r.panics += 1;
                let message = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "panic".into());
                save(o.out.as_deref(), target.name, "panic", &case);
                if r.findings.len() < 8 {
                    r.findings.push(Finding { message, case });
                }
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    r.seconds = t0.elapsed().as_secs_f64();
    r.peak_rss_kib = peak_rss_kib();
    r
}

/// Writes a finding under `out/TARGET/KIND-HASH`; returns `, saved as PATH`.
fn save(out: Option<&Path>, target: &str, kind: &str, case: &[u8]) -> String {
    let Some(out) = out else {
        return String::new();
    };
    let dir = out.join(target);
    let hash = case.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let p = dir.join(format!("{kind}-{hash:016x}"));
    match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&p, case)) {
        Ok(()) => format!(", saved as {}", p.display()),
        Err(_) => String::new(),
    }
}
