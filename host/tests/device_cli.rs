//! The device subcommands' argument and input checks: everything here fails before
//! a port is opened or a virtual board is started, with one clear line.

use assert_cmd::Command;

fn revspike() -> Command {
    let mut c = Command::cargo_bin("revspike").expect("the revspike binary");
    c.timeout(std::time::Duration::from_secs(60));
    c
}

fn model() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fashion-cu.json").to_string()
}

fn stderr_of(c: &mut Command) -> (Option<i32>, String) {
    let o = c.output().expect("revspike runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn run_needs_exactly_one_source_of_inputs() {
    let (code, err) = stderr_of(revspike().args(["run", "--model", &model()]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--dataset") && err.contains("--inputs"),
        "{err}"
    );
    let (code, err) = stderr_of(revspike().args([
        "run",
        "--model",
        &model(),
        "--dataset",
        "fashion-mnist",
        "--inputs",
        "x.bin",
    ]));
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn a_raw_inputs_file_of_the_wrong_length_is_refused_before_connecting() {
    let dir = std::env::temp_dir().join(format!("revspike-devcli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("short.bin");
    std::fs::write(&f, vec![7u8; 784 + 5]).unwrap();
    let (code, err) = stderr_of(revspike().args([
        "run",
        "--model",
        &model(),
        "--inputs",
        f.to_str().unwrap(),
        "--port",
        "/dev/revspike-never-opened",
    ]));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("789 bytes is not a whole number of 784-byte inputs"),
        "{err}"
    );
    assert!(!err.contains("revspike-never-opened"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_datasets_splits_and_builds_are_named() {
    let (code, err) = stderr_of(revspike().args([
        "run",
        "--model",
        &model(),
        "--dataset",
        "cifar10",
        "--port",
        "/dev/null",
    ]));
    assert_eq!(code, Some(1));
    assert!(err.contains("unknown dataset 'cifar10'"), "{err}");
    let (code, err) = stderr_of(revspike().args([
        "run",
        "--model",
        &model(),
        "--dataset",
        "fashion-mnist:validation",
        "--port",
        "/dev/null",
    ]));
    assert_eq!(code, Some(1));
    assert!(err.contains("unknown split 'validation'"), "{err}");
    let (code, err) = stderr_of(revspike().args(["state", "--board-build", "huge"]));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("unknown build 'huge' (builds: cu, cu-4m, small, wide)"),
        "{err}"
    );
}

#[test]
fn window_and_port_conflicts_are_usage_errors() {
    let (code, err) = stderr_of(revspike().args(["state", "--window", "0"]));
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = stderr_of(revspike().args(["state", "--virtual", "--port", "/dev/null"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn a_port_that_is_not_a_serial_device_fails_with_one_line() {
    let (code, err) = stderr_of(revspike().args(["state", "--port", "/dev/null"]));
    assert_eq!(code, Some(1));
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("/dev/null"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_count_of_zero_is_refused_alike_by_run_verify_and_bench() {
    for cmd in ["run", "verify", "bench"] {
        let (code, err) = stderr_of(revspike().args([
            cmd,
            "--model",
            &model(),
            "--dataset",
            "fashion-mnist",
            "--count",
            "0",
            "--port",
            "/dev/revspike-never-opened",
        ]));
        assert_eq!(code, Some(2), "{cmd}: {err}");
        assert!(err.contains("--count"), "{cmd}: {err}");
        assert!(!err.contains("revspike-never-opened"), "{cmd}: {err}");
    }
}

#[test]
fn virtual_board_counts_and_ports_are_checked_before_anything_starts() {
    let (code, err) = stderr_of(revspike().args(["state", "--virtual", "0"]));
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = stderr_of(revspike().args(["state", "--virtual", "2"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("state works on one board, 2 were given"),
        "{err}"
    );
    assert!(
        !err.contains("virtual board ("),
        "a board was started: {err}"
    );
    let (code, err) = stderr_of(revspike().args([
        "rewind",
        "1",
        "--port",
        "/dev/revspike-a",
        "--port",
        "/dev/revspike-b",
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("rewind works on one board, 2 were given"),
        "{err}"
    );
    let (code, err) = stderr_of(revspike().args([
        "run",
        "--model",
        &model(),
        "--dataset",
        "fashion-mnist",
        "--count",
        "2",
        "--port",
        "/dev/revspike-a",
        "--port",
        "/dev/revspike-a",
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("/dev/revspike-a: given twice (one --port per board)"),
        "{err}"
    );
}

#[test]
fn a_results_file_is_left_alone_when_the_device_cannot_be_had() {
    let dir = std::env::temp_dir().join(format!("revspike-devcli-res-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let results = dir.join("results.jsonl");
    std::fs::write(&results, "an earlier run's results\n").unwrap();
    let (code, err) = stderr_of(revspike().args([
        "run",
        "--model",
        &model(),
        "--dataset",
        "fashion-mnist",
        "--count",
        "1",
        "--port",
        "/dev/revspike-never-opened",
        "--results",
        results.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("revspike-never-opened"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&results).unwrap(),
        "an earlier run's results\n"
    );
    // A results path that cannot be written fails before any device is touched.
    let (code, err) = stderr_of(revspike().args([
        "run",
        "--model",
        &model(),
        "--dataset",
        "fashion-mnist",
        "--count",
        "1",
        "--port",
        "/dev/revspike-never-opened",
        "--results",
        dir.join("no-such-dir/r.jsonl").to_str().unwrap(),
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("r.jsonl: cannot create"), "{err}");
    assert!(!err.contains("revspike-never-opened"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pseudo-terminal whose other end is held open and never answers: what a port
/// looks like when the program behind it hung or was never started.
#[test]
fn a_pty_with_nothing_behind_it_fails_within_the_port_timeout_saying_so() {
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let path = nix::unistd::ttyname(&pty.slave).expect("its name");
    let t = std::time::Instant::now();
    let (code, err) = stderr_of(revspike().args(["state", "--port", path.to_str().unwrap()]));
    let took = t.elapsed();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // The port default, not the virtual board's 20 s: the host did not start
    // whatever is behind a --port, whatever its path.
    assert!(
        err.contains("nothing answered IDENTIFY within 2.0 s (3 tries)"),
        "{err}"
    );
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    eprintln!("failed after {took:?}");
    drop(pty);
}
