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
        err.contains("unknown build 'huge' (known: cu, small, wide)"),
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
