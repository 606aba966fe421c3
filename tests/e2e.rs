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
    assert_eq!(v["line_rate_bytes_per_second"].as_f64(), Some(1_200_000.0));
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

/// A generated version 2 model (a conv stem in front of stage 0) that fits the SMALL
/// build's stem unit, with no wraps. Deterministic.
fn conv_model() -> &'static (Model, String) {
    static M: OnceLock<(Model, String)> = OnceLock::new();
    M.get_or_init(|| {
        let opts = GenOptions {
            max_stem_layers: 3,
            max_stem_channels: SMALL.lanes,
            max_timesteps: 3,
            avoid_wraps: true,
            ..SMALL.small_gen_options()
        };
        for seed in 1..500u64 {
            let m = revspike_golden::gen_model(seed, &opts);
            if m.stem.len() >= 2 && m.timesteps >= 2 && SMALL.check(&m).is_ok() {
                let text = m.to_json_string();
                return (m, text);
            }
        }
        panic!("no generated conv model fits the SMALL build");
    })
}

#[test]
fn a_conv_model_runs_and_verifies_with_rewinds_on_the_virtual_board() {
    let dir = scratch("conv");
    let model = dir.join("conv.json");
    std::fs::write(&model, &conv_model().1).expect("model file");
    let m = &conv_model().0;
    let x = revspike_golden::gen_input(m, 9);
    let input = dir.join("x.bin");
    std::fs::write(&input, &x).unwrap();
    let mut args = vec![
        "run",
        "--model",
        model.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    args.extend(virtual_small());
    let v = json(ok(&revspike(&args)));
    let g = revspike_golden::infer(m, &x).unwrap();
    let logits: Vec<i64> = serde_json::from_value(v["logits"].clone()).unwrap();
    assert_eq!(logits, g.logits);
    assert_eq!(v["golden_agrees"], Value::Bool(true));

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
    assert_eq!(v["results_checked"].as_u64(), Some(4));
    assert_eq!(v["rewinds_checked"].as_u64(), Some(4 * m.timesteps as u64));
    assert_eq!(v["mismatches"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(dir);
}

/// The shipped conv model on the virtual Cu (the Cu build's top level with its conv
/// stem unit): Fashion-MNIST test images through the host, the pty, the UART pins and
/// the link, with every result and every rewound turn-on state checked against the
/// golden model.
#[test]
fn the_shipped_conv_model_verifies_with_rewinds_on_the_virtual_cu() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-conv.json");
    let v = json(ok(&revspike(&[
        "verify",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        "fashion-mnist:test",
        "--count",
        "3",
        "--rewinds",
        "--json",
        "--virtual",
        "--board-build",
        "cu",
        "--timeout-ms",
        TIMEOUT_MS,
    ])));
    assert_eq!(v["results_checked"].as_u64(), Some(3), "{v}");
    // The conv model has T = 2: two rewound states an image.
    assert_eq!(v["rewinds_checked"].as_u64(), Some(6), "{v}");
    assert_eq!(v["mismatches"], serde_json::json!([]));
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
    // A real HX8K bitstream: flash checks its header before it looks for iceprog.
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../bitstreams/alchitry-cu/revspike-cu.bin"
        ),
        &bin,
    )
    .unwrap();
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

/// Runs the binary with `args` and `env`, handing each stderr line to `on_line` as
/// it arrives (to act on the device mid-batch), killing it at the deadline.
fn revspike_watching(args: &[&str], env: &[(&str, &str)], mut on_line: impl FnMut(&str)) -> Output {
    use std::io::BufRead;
    let mut child = Command::new(revspike_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the revspike binary starts");
    let mut out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let t_err = std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut stderr = String::new();
    let mut take = |line: String, stderr: &mut String| {
        on_line(&line);
        // Trace lines are for acting on; the rest is what the test checks.
        if !line.starts_with("revspike trace ") {
            stderr.push_str(&line);
            stderr.push('\n');
        }
    };
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                take(line, &mut stderr);
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(s) = child.try_wait().expect("waiting for revspike") {
                    break Some(s);
                }
            }
        }
        if let Some(s) = child.try_wait().expect("waiting for revspike") {
            break Some(s);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
    };
    let _ = t_err.join();
    for line in rx.try_iter() {
        take(line, &mut stderr);
    }
    let o = Output {
        code: status.and_then(|s| s.code()),
        stdout: t_out.join().unwrap_or_default(),
        stderr,
    };
    assert!(
        status.is_some(),
        "revspike {args:?} ran past {DEADLINE:?}; stderr: {}",
        o.stderr
    );
    o
}

/// The trace line of an INFER answer received from the board on `port`.
fn infer_answer_line(port: &str) -> String {
    format!(
        "revspike trace {port}: frame cmd 0x{:02x} ",
        revspike_proto::protocol::CommandCode::Infer.code() | 0x80
    )
}

/// The results file's indices and boards, in file order.
fn results_file(path: &Path) -> Vec<(usize, String, bool)> {
    std::fs::read_to_string(path)
        .expect("the results file")
        .lines()
        .map(|l| {
            let v = json(l);
            (
                v["index"].as_u64().expect("index") as usize,
                v["board"].as_str().expect("board").to_string(),
                v["agrees"].as_bool().expect("agrees"),
            )
        })
        .collect()
}

#[test]
fn a_batch_on_two_virtual_boards_is_shared_and_comes_back_in_input_order() {
    let dir = scratch("two-boards");
    let model = write_model(&dir);
    let n = 16;
    let xs = inputs(n, 700);
    let file = write_inputs(&dir, &xs);
    let results = dir.join("results.jsonl");
    let o = revspike(&[
        "run",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        file.to_str().unwrap(),
        "--json",
        "--results",
        results.to_str().unwrap(),
        "--virtual",
        "2",
        "--board-build",
        "small",
        "--timeout-ms",
        TIMEOUT_MS,
    ]);
    let v = json(ok(&o));
    assert_eq!(
        o.stderr
            .matches("virtual board (small build) on /dev/")
            .count(),
        2,
        "{}",
        o.stderr
    );
    assert_eq!(v["agree"].as_u64(), Some(n as u64), "{}", o.stderr);
    let boards = v["boards"].as_array().expect("per-board figures");
    assert_eq!(boards.len(), 2, "{v}");
    let mut total = 0;
    for b in boards {
        let k = b["inputs"].as_u64().unwrap();
        assert!(k > 0, "a board did no work: {v}");
        assert!(
            b["board_time_inferences_per_second"].as_f64().unwrap() > 0.0,
            "{v}"
        );
        total += k;
    }
    assert_eq!(total, n as u64);
    assert!(v["board_time_inferences_per_second"].as_f64().unwrap() > 0.0);
    // Two links: twice one board's line rate.
    assert_eq!(v["line_rate_bytes_per_second"].as_f64(), Some(2_400_000.0));
    let lines = results_file(&results);
    assert_eq!(
        lines.iter().map(|l| l.0).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    let ports: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(ports.len(), 2, "{lines:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_board_dying_mid_batch_hands_its_inputs_to_the_other() {
    let dir = scratch("one-dies");
    let model = write_model(&dir);
    let n = 16;
    let xs = inputs(n, 800);
    let file = write_inputs(&dir, &xs);
    let results = dir.join("results.jsonl");
    let a = small_board(None);
    let mut b = Some(small_board(None));
    let port_a = a.path().to_str().unwrap().to_string();
    let port_b = b.as_ref().unwrap().path().to_str().unwrap().to_string();
    let answer_b = infer_answer_line(&port_b);
    let mut answers_b = 0;
    let o = revspike_watching(
        &[
            "run",
            "--model",
            model.to_str().unwrap(),
            "--inputs",
            file.to_str().unwrap(),
            "--json",
            "--results",
            results.to_str().unwrap(),
            "--port",
            &port_a,
            "--port",
            &port_b,
            "--timeout-ms",
            TIMEOUT_MS,
        ],
        &[("REVSPIKE_TRACE", "1")],
        |line| {
            if line.starts_with(&answer_b) {
                answers_b += 1;
                // Board B is unplugged after its second answer, with more in flight.
                if answers_b == 2 {
                    b.take().expect("board B").stop().expect("board B stops");
                }
            }
        },
    );
    let v = json(ok(&o));
    assert!(answers_b >= 2, "board B never answered twice: {}", o.stderr);
    assert_eq!(v["agree"].as_u64(), Some(n as u64), "{}", o.stderr);
    let failures = v["board_failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{v}");
    let f = failures[0].as_str().unwrap();
    assert!(f.starts_with(&format!("board {port_b} failed: ")), "{f}");
    assert!(
        o.stderr.contains(f),
        "the failure is reported: {}",
        o.stderr
    );
    let boards = v["boards"].as_array().unwrap();
    assert!(boards[1]["failed"].is_string(), "{v}");
    let from_b = boards[1]["inputs"].as_u64().unwrap();
    assert!(from_b >= 2, "{v}");
    assert_eq!(boards[0]["inputs"].as_u64().unwrap() + from_b, n as u64);
    let lines = results_file(&results);
    assert_eq!(
        lines.iter().map(|l| l.0).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    assert!(lines.iter().all(|l| l.2));
    a.stop().expect("board A stops");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn when_every_board_dies_the_batch_fails_saying_what_is_left() {
    let dir = scratch("all-die");
    let model = write_model(&dir);
    let n = 16;
    let xs = inputs(n, 900);
    let file = write_inputs(&dir, &xs);
    let mut boards = [Some(small_board(None)), Some(small_board(None))];
    let ports: Vec<String> = boards
        .iter()
        .map(|b| b.as_ref().unwrap().path().to_str().unwrap().to_string())
        .collect();
    let lines: Vec<String> = ports.iter().map(|p| infer_answer_line(p)).collect();
    let o = revspike_watching(
        &[
            "run",
            "--model",
            model.to_str().unwrap(),
            "--inputs",
            file.to_str().unwrap(),
            "--port",
            &ports[0],
            "--port",
            &ports[1],
            "--timeout-ms",
            TIMEOUT_MS,
        ],
        &[("REVSPIKE_TRACE", "1")],
        |line| {
            for (k, l) in lines.iter().enumerate() {
                if line.starts_with(l.as_str()) {
                    if let Some(b) = boards[k].take() {
                        b.stop().expect("the board stops");
                    }
                }
            }
        },
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    let last = o.stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: every board failed, "),
        "{}",
        o.stderr
    );
    assert!(
        last.contains(&format!("of {n} inputs unfinished")),
        "{last}"
    );
    for p in &ports {
        assert!(last.contains(&format!("board {p} failed")), "{last}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The model of `m`'s image with every head bias moved by one logit step: what a
/// stray WRITE to the head's parameter rows does.
fn overwritten_head(m: &Model) -> (Model, u32, Vec<u16>) {
    let mut changed = m.clone();
    let step = 1i32 << m.head.shift;
    for b in &mut changed.head.bias {
        *b = if *b + step < (1 << 24) {
            *b + step
        } else {
            *b - step
        };
    }
    let words = |m: &Model| -> Vec<u16> { revspike_proto::image::compile(m, &SMALL).rows.concat() };
    let (old, new) = (words(m), words(&changed));
    let differ: Vec<usize> = (0..old.len()).filter(|&k| old[k] != new[k]).collect();
    let (lo, hi) = (differ[0], *differ.last().unwrap());
    assert!(
        hi - lo < 256,
        "the head's parameter rows are close together"
    );
    (changed, lo as u32, new[lo..=hi].to_vec())
}

#[test]
fn a_model_overwritten_mid_batch_is_refused_reloaded_and_its_inputs_run_again() {
    let dir = scratch("overwritten");
    let model = write_model(&dir);
    let m = &small_model().0;
    let n = 12;
    let xs = inputs(n, 1100);
    let file = write_inputs(&dir, &xs);
    let (changed, addr, words) = overwritten_head(m);
    for x in &xs {
        assert_ne!(
            revspike_golden::infer(m, x).unwrap().logits,
            revspike_golden::infer(&changed, x).unwrap().logits,
            "the overwrite changes every result"
        );
    }
    let board = small_board(None);
    let port = board.path().to_str().unwrap().to_string();
    // Another program's handle on the board's port, opened first and without a lock
    // (so the host's exclusive open still succeeds): it only ever writes.
    let mut other = std::fs::OpenOptions::new()
        .write(true)
        .open(&port)
        .expect("a second handle on the board's pty");
    let write = revspike_proto::protocol::Command::Write { addr, words }
        .to_frame(200)
        .expect("a WRITE frame");
    let answer = infer_answer_line(&port);
    let mut answers = 0;
    let o = revspike_watching(
        &[
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
        ],
        &[("REVSPIKE_TRACE", "1")],
        |line| {
            if line.starts_with(&answer) {
                answers += 1;
                if answers == 3 {
                    std::io::Write::write_all(&mut other, &write).expect("the stray WRITE");
                }
            }
        },
    );
    let v = json(ok(&o));
    assert_eq!(v["agree"].as_u64(), Some(n as u64), "{}", o.stderr);
    assert!(v["reloads"].as_u64().unwrap() >= 1, "{v}");
    // A WRITE to the model after LOAD_END clears `loaded` on the device (issue #17),
    // so the device refuses the next input rather than running the changed model.
    let events = v["recovery_events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e
            .as_str()
            .unwrap()
            .contains("device lost its model (the device answered NOT_LOADED)")),
        "{v}"
    );
    drop(other);
    board.stop().expect("the board stops");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bench_on_two_virtual_boards_reports_each_and_names_every_field_once() {
    let dir = scratch("bench");
    let model = write_model(&dir);
    let xs = inputs(8, 1200);
    let file = write_inputs(&dir, &xs);
    let o = revspike(&[
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        file.to_str().unwrap(),
        "--count",
        "8",
        "--windows",
        "2",
        "--json",
        "--virtual",
        "2",
        "--board-build",
        "small",
        "--timeout-ms",
        TIMEOUT_MS,
    ]);
    let text = ok(&o);
    let rows = json(text);
    let rows = rows.as_array().expect("one row per window");
    assert_eq!(rows.len(), 1);
    // serde_json keeps the last of duplicate keys: count them in the text itself.
    for key in [
        "window",
        "board_cycles",
        "board_time_inferences_per_second",
        "inputs",
    ] {
        let top = rows[0].as_object().unwrap();
        assert!(top.contains_key(key), "{key} missing: {text}");
    }
    let row_text = text.trim().trim_start_matches('[').trim_end_matches(']');
    let top_level = row_text.split("\"boards\":").next().unwrap();
    for key in [
        "\"window\":",
        "\"board_cycles\":",
        "\"board_time_inferences_per_second\":",
    ] {
        assert_eq!(top_level.matches(key).count(), 1, "{key} in {text}");
    }
    assert_eq!(rows[0]["window"].as_u64(), Some(2));
    // The INFER frames and their padding only: the loads are not the batch's.
    let per = rows[0]["bytes_sent_per_inference"].as_f64().unwrap();
    let input = small_model().0.expected_input_len() as f64;
    assert!(
        per >= input + 8.0 && per < input + 40.0,
        "{per} for {input}-byte inputs"
    );
    let boards = rows[0]["boards"].as_array().unwrap();
    assert_eq!(boards.len(), 2);
    let mut total = 0;
    for b in boards {
        let k = b["inputs"].as_u64().unwrap();
        total += k;
        // A board that found no input left once its load was done did nothing.
        if k > 0 {
            assert!(b["board_cycles"].as_u64().unwrap() > 0, "{text}");
        }
    }
    assert_eq!(total, 8);
    let longest = boards
        .iter()
        .map(|b| b["board_cycles"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(rows[0]["board_cycles"].as_u64(), Some(longest));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn verify_with_rewinds_on_two_virtual_boards_checks_every_input_once() {
    let dir = scratch("verify-two");
    let model = write_model(&dir);
    let o = revspike(&[
        "verify",
        "--model",
        model.to_str().unwrap(),
        "--count",
        "6",
        "--rewinds",
        "--json",
        "--virtual",
        "2",
        "--board-build",
        "small",
        "--timeout-ms",
        TIMEOUT_MS,
    ]);
    let v = json(ok(&o));
    let t = small_model().0.timesteps as u64;
    assert_eq!(v["boards"].as_u64(), Some(2), "{v}");
    assert_eq!(v["results_checked"].as_u64(), Some(6));
    assert_eq!(v["rewinds_checked"].as_u64(), Some(6 * t));
    assert_eq!(v["mismatches"], serde_json::json!([]));
    assert_eq!(v["board_failures"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(dir);
}
