//! End to end: the `revspike` binary drives a virtual board (the SMALL build's top
//! level in Verilator behind a pseudo-terminal) exactly as it drives the Alchitry
//! Cu's serial port: load, single run, batch, verify with rewinds, state, rewind,
//! and the error paths (a model too large for the build, corrupted frames, a
//! device power cycle in the middle of a batch).
//!
//! The binary is the one `cargo test --workspace` builds (target/<profile>/revspike);
//! `REVSPIKE_BIN` names another. Every child process runs under a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use revspike_golden::{GenOptions, Grouping, Model};
use revspike_proto::build::SMALL;
use revspike_proto::protocol::{Client, Transport};
use revspike_sim::vboard::{VirtualBoard, VirtualBoardOptions};
use serde_json::Value;

/// Longest any one command may take before the test fails (the child is killed).
const DEADLINE: Duration = Duration::from_secs(300);
/// The host's response timeout in these tests: long enough for a loaded machine,
/// short enough that a lost frame costs little.
const TIMEOUT_MS: &str = "4000";

fn revspike_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REVSPIKE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-HASH -> target/<profile>/revspike
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("revspike"))
        .expect("target directory");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p revspike`; `cargo test --workspace` does)",
        bin.display()
    );
    bin
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args`, killing it at the deadline.
fn revspike(args: &[&str]) -> Output {
    let mut child = Command::new(revspike_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the revspike binary starts");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for revspike") {
            break Some(s);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let o = Output {
        code: status.and_then(|s| s.code()),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "revspike {args:?} ran past {DEADLINE:?}; stderr: {}",
        o.stderr
    );
    o
}

fn ok(o: &Output) -> &str {
    assert_eq!(
        o.code,
        Some(0),
        "revspike failed: stdout {} stderr {}",
        o.stdout,
        o.stderr
    );
    &o.stdout
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revspike-e2e-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// A generated model that fits the SMALL build, with a sizeable input (so a batch
/// keeps several frames in flight) and no wraps. Deterministic.
fn small_model() -> &'static (Model, String) {
    static M: OnceLock<(Model, String)> = OnceLock::new();
    M.get_or_init(|| {
        let opts = GenOptions {
            max_width: SMALL.max_width,
            max_classes: SMALL.max_width,
            max_stages: 2,
            max_blocks: 2,
            max_timesteps: 3,
            max_group_len: 160,
            grouping: Some(Grouping::Repeat),
            avoid_wraps: true,
            ..GenOptions::default()
        };
        for seed in 1..500u64 {
            let m = revspike_golden::gen_model(seed, &opts);
            if m.timesteps >= 2
                && m.input.group_len >= 64
                && m.classes >= 2
                && SMALL.check(&m).is_ok()
            {
                let text = m.to_json_string();
                return (m, text);
            }
        }
        panic!("no generated model fits the SMALL build");
    })
}

fn write_model(dir: &Path) -> PathBuf {
    let p = dir.join("small.json");
    std::fs::write(&p, &small_model().1).expect("model file");
    p
}

fn inputs(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let m = &small_model().0;
    (0..n as u64)
        .map(|i| revspike_golden::gen_input(m, seed + i))
        .collect()
}

fn write_inputs(dir: &Path, xs: &[Vec<u8>]) -> PathBuf {
    let p = dir.join("inputs.bin");
    std::fs::write(&p, xs.concat()).expect("inputs file");
    p
}

/// A SMALL virtual board started by the test itself (for the checks that need to
/// look at the device after the binary is done, or to power-cycle it).
fn small_board(power_cycle_after_bytes: Option<u64>) -> VirtualBoard {
    let verilog = revspike_hdl::top::top_verilog(&SMALL).expect("SMALL top level");
    VirtualBoard::start(
        &verilog,
        VirtualBoardOptions {
            timing: SMALL.bit_timing().expect("the small build's bit timing"),
            power_cycle_after_bytes,
            ..Default::default()
        },
    )
    .expect("the SMALL virtual board starts")
}

struct Port(Box<dyn serialport::SerialPort>);

impl Transport for Port {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        std::io::Write::write_all(&mut self.0, bytes).map_err(|e| e.to_string())
    }
    fn recv(&mut self) -> Result<Vec<u8>, String> {
        let mut b = [0u8; 512];
        match self.0.read(&mut b) {
            Ok(n) => Ok(b[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn client(path: &Path) -> Client<Port> {
    let port = serialport::new(path.to_string_lossy(), SMALL.baud)
        .timeout(Duration::from_millis(100))
        .open()
        .or_else(|_| {
            serialport::new(path.to_string_lossy(), 115_200)
                .timeout(Duration::from_millis(100))
                .open()
        })
        .expect("the test opens the virtual board's pty");
    let mut c = Client::new(Port(port));
    c.patience = 100;
    c
}

fn virtual_small() -> Vec<&'static str> {
    vec![
        "--virtual",
        "--board-build",
        "small",
        "--timeout-ms",
        TIMEOUT_MS,
    ]
}

#[test]
fn single_run_matches_golden() {
    let dir = scratch("single");
    let model = write_model(&dir);
    let x = &inputs(1, 7)[0];
    let input = dir.join("x.json");
    std::fs::write(&input, serde_json::to_string(x).unwrap()).unwrap();
    let mut args = vec!["run", "--model", model.to_str().unwrap()];
    args.extend(virtual_small());
    args.push(input.to_str().unwrap());
    let o = revspike(&args);
    let v = json(ok(&o));
    let g = revspike_golden::infer(&small_model().0, x).unwrap();
    let logits: Vec<i64> = serde_json::from_value(v["logits"].clone()).unwrap();
    assert_eq!(logits, g.logits);
    assert_eq!(v["prediction"].as_u64(), Some(g.prediction as u64));
    assert_eq!(v["golden_agrees"], Value::Bool(true));
    assert_eq!(
        v["timesteps"].as_u64(),
        Some(small_model().0.timesteps as u64)
    );
    assert!(v["cycles"].as_u64().unwrap() > 0);
    assert!(
        o.stderr.contains("virtual board (small build) on /dev/"),
        "{}",
        o.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn batch_agrees_with_golden_and_reports_throughput() {
    let dir = scratch("batch");
    let model = write_model(&dir);
    let xs = inputs(12, 100);
    let file = write_inputs(&dir, &xs);
    let mut args = vec![
        "run",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        file.to_str().unwrap(),
        "--json",
    ];
    args.extend(virtual_small());
    let v = json(ok(&revspike(&args)));
    assert_eq!(v["inputs"].as_u64(), Some(12));
    assert_eq!(v["agree"].as_u64(), Some(12));
    assert_eq!(v["disagree"], serde_json::json!([]));
    assert!(v["inferences_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(v["line_rate_bytes_per_second"].as_f64(), Some(400_000.0));
    // Every inference sends at least its INFER frame.
    let per = v["bytes_sent_per_inference"].as_f64().unwrap();
    assert!(
        per >= (small_model().0.expected_input_len() + 8) as f64,
        "{per}"
    );
    assert_eq!(v["reloads"].as_u64(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn verify_with_rewinds_passes_and_counts_states() {
    let dir = scratch("verify");
    let model = write_model(&dir);
    let mut args = vec![
        "verify",
        "--model",
        model.to_str().unwrap(),
        "--count",
        "4",
        "--rewinds",
        "--json",
    ];
    args.extend(virtual_small());
    let v = json(ok(&revspike(&args)));
    let t = small_model().0.timesteps as u64;
    assert_eq!(v["results_checked"].as_u64(), Some(4));
    assert_eq!(v["rewinds_checked"].as_u64(), Some(4 * t));
    assert_eq!(v["mismatches"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn state_and_rewind_match_the_golden_machine() {
    let dir = scratch("rewind");
    let model = write_model(&dir);
    let x = &inputs(1, 42)[0];
    let input = dir.join("x.bin");
    std::fs::write(&input, x).unwrap();
    let m = &small_model().0;
    let t = m.timesteps;

    let mut args = vec![
        "state",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    args.extend(virtual_small());
    let v = json(ok(&revspike(&args)));
    assert_eq!(v["timesteps"].as_u64(), Some(t as u64));
    assert_eq!(v["matches_golden"], Value::Bool(true));
    let mut golden = revspike_golden::Machine::new(m, x).unwrap();
    while golden.step() {}
    let state: Vec<Vec<i16>> = serde_json::from_value(v["state"].clone()).unwrap();
    assert_eq!(state, golden.state());

    let mut args = vec![
        "rewind",
        "1",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    args.extend(virtual_small());
    let v = json(ok(&revspike(&args)));
    assert_eq!(v["timesteps_before"].as_u64(), Some(t as u64));
    assert_eq!(v["timesteps"].as_u64(), Some(t as u64 - 1));
    golden.rewind().unwrap();
    let state: Vec<Vec<i16>> = serde_json::from_value(v["state"].clone()).unwrap();
    assert_eq!(state, golden.state());
    assert_eq!(v["matches_golden"], Value::Bool(true));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_model_too_large_is_refused_before_anything_is_sent() {
    let dir = scratch("too-large");
    let board = small_board(None);
    // Up to 32 channels and classes on a build of 16 (8 lanes, two tiles).
    let opts = GenOptions {
        max_width: 32,
        max_classes: 32,
        max_stages: 1,
        max_group_len: 32,
        ..GenOptions::default()
    };
    let big = (1..400u64)
        .map(|s| revspike_golden::gen_model(s, &opts))
        .find(|m| m.stages[0].width > 16 && m.classes > 16)
        .expect("a generated model wider than the SMALL build");
    let model = dir.join("big.json");
    std::fs::write(&model, big.to_json_string()).unwrap();
    let x = dir.join("x.bin");
    std::fs::write(&x, revspike_golden::gen_input(&big, 1)).unwrap();
    let port = board.path().to_str().unwrap().to_string();
    let o = revspike(&[
        "run",
        "--model",
        model.to_str().unwrap(),
        "--port",
        &port,
        "--timeout-ms",
        TIMEOUT_MS,
        x.to_str().unwrap(),
    ]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    let width = big.stages[0].width;
    for needle in [
        "model does not fit build 'small'".to_string(),
        format!("stages[0].width needs {width}, build has 16"),
        format!("classes needs {}, build has 16", big.classes),
    ] {
        assert!(
            o.stderr.contains(&needle),
            "missing {needle:?} in {}",
            o.stderr
        );
    }
    // Nothing was written: no load began, no word was counted.
    let mut c = client(board.path());
    let s = c.status().expect("STATUS after the refusal");
    assert_eq!(s.words_written, 0);
    assert!(!s.loaded);
    drop(c);
    board.stop().expect("the board stops");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn corrupted_frames_both_ways_are_resent_and_results_stay_exact() {
    let dir = scratch("corrupt");
    let model = write_model(&dir);
    let xs = inputs(10, 300);
    let file = write_inputs(&dir, &xs);
    let mut args = vec![
        "run",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        file.to_str().unwrap(),
        "--json",
        "--corrupt-sent-every",
        "4",
        "--corrupt-received-every",
        "5",
    ];
    args.extend(virtual_small());
    let o = revspike(&args);
    let v = json(ok(&o));
    assert_eq!(v["agree"].as_u64(), Some(10), "{}", o.stderr);
    assert!(v["resent"].as_u64().unwrap() > 0, "nothing was resent: {v}");
    assert!(v["damaged_frames"].as_u64().unwrap() > 0, "{v}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_power_cycle_mid_batch_reloads_the_model_and_resumes() {
    let dir = scratch("power-cycle");
    let model = write_model(&dir);
    let m = &small_model().0;
    let n = 12;
    let xs = inputs(n, 500);
    let file = write_inputs(&dir, &xs);
    // Bytes before the batch: IDENTIFY and the load (each WRITE word is 2 bytes,
    // plus framing; escapes add a little). Cut the power half-way through the batch.
    let image = revspike_proto::image::compile(m, &SMALL);
    let load_bytes = 64 + 2 * image.word_count() as u64 * 9 / 8 + 32 * 4;
    let infer_bytes = (m.expected_input_len() + 16) as u64;
    let at = load_bytes + infer_bytes * (n as u64 / 2);
    let board = small_board(Some(at));
    let port = board.path().to_str().unwrap().to_string();
    let o = revspike(&[
        "run",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        file.to_str().unwrap(),
        "--json",
        "--port",
        &port,
        "--timeout-ms",
        TIMEOUT_MS,
    ]);
    let v = json(ok(&o));
    assert_eq!(v["agree"].as_u64(), Some(n as u64), "{}", o.stderr);
    assert_eq!(v["reloads"].as_u64(), Some(1), "{v}");
    let events = v["recovery_events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 1, "{v}");
    let e = events[0].as_str().unwrap();
    assert!(e.contains("device lost its model"), "{e}");
    let k: usize = e
        .split("resuming from input #")
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no resume index in {e:?}"));
    assert!(k > 0 && k < n, "resumed from input #{k} of {n}");
    assert!(o.stderr.contains("device lost its model"), "{}", o.stderr);
    board.stop().expect("the board stops");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn flash_without_iceprog_names_the_missing_tool() {
    let dir = scratch("flash");
    let bin = dir.join("x.bin");
    std::fs::write(&bin, [0u8; 16]).unwrap();
    let o = revspike(&[
        "flash",
        bin.to_str().unwrap(),
        "--iceprog",
        "/nonexistent/iceprog",
    ]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr
            .contains("/nonexistent/iceprog not found: install fpga-icestorm"),
        "{}",
        o.stderr
    );
    let o = revspike(&["flash", "/nonexistent/revspike.bin"]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("cannot read the bitstream"),
        "{}",
        o.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_port_that_is_not_a_board_fails_with_one_line() {
    let dir = scratch("noport");
    let model = write_model(&dir);
    let o = revspike(&[
        "state",
        "--port",
        "/dev/revspike-no-such-port",
        "--model",
        model.to_str().unwrap(),
    ]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
    assert!(
        o.stderr.contains("/dev/revspike-no-such-port"),
        "{}",
        o.stderr
    );
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    let _ = std::fs::remove_dir_all(dir);
}
