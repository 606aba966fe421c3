//! What a hostile or careless user gives the `revspike` binary: malformed and
//! ambiguous inputs, endless files, gzip bombs, absurd counts, a full stdout,
//! settings no device can work with, and files that are no bitstream. Each is
//! one `error: ...` line naming what was wrong, exit code 1, and never a panic,
//! a hang or a read until memory runs out.
//!
//! Device commands are pointed at a port that does not exist: every check here
//! must fail before a device is opened.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn bin() -> Command {
    let mut c = Command::cargo_bin("revspike").unwrap();
    c.timeout(std::time::Duration::from_secs(60));
    c
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revspike-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny.json")
}

fn tiny_input() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-input.json")
}

/// Runs a command that must fail with exit code 1 and one `error:` line (no
/// panic); returns that line.
fn error_line(c: &mut Command) -> String {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1,
        "not one error line: {err}"
    );
    err.trim_end().to_string()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = Vec::new();
    let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap();
    gz
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

const NO_PORT: &str = "/dev/revspike-no-such-port";

fn run_inputs(file: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.arg("run")
        .arg("--model")
        .arg(tiny())
        .arg("--inputs")
        .arg(file)
        .args(["--port", NO_PORT])
        .args(extra);
    c
}

#[test]
fn malformed_json_inputs_report_the_parse_error() {
    let d = tmpdir("json");
    // 22 bytes of text: once taken as a raw input of the right length.
    for (name, text, want) in [
        (
            "comma.json",
            "[1,2,3,4,5,6,7,8,9,1,]",
            "trailing comma at line 1 column 22",
        ),
        (
            "comma",
            "[1,2,3,4,5,6,7,8,9,1,]",
            "trailing comma at line 1 column 22",
        ),
        ("nan", "[1, NaN, 3]", "expected value at line 1 column 5"),
        (
            "cut.json",
            "[1, 2, 3,",
            "EOF while parsing a value at line 1 column 9",
        ),
        ("comment", "// x\n[1]", "text that is not a JSON array"),
    ] {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let e = error_line(bin().arg("golden").arg(tiny()).arg(&p));
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
        assert!(!e.contains("input has"), "{name}: {e}");
    }
    // A byte order mark in front of a valid array is fine.
    let p = d.join("bom.json");
    let mut text = b"\xef\xbb\xbf".to_vec();
    text.extend_from_slice(&std::fs::read(tiny_input()).unwrap());
    std::fs::write(&p, text).unwrap();
    bin().arg("golden").arg(tiny()).arg(&p).assert().success();
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn damaged_batch_files_are_errors_not_raw_inputs() {
    let d = tmpdir("batch");
    // A gzip cut short, of a length that is a whole number of 22-byte inputs.
    let mut gz = gzip(&idx(&[40, 22], &[3; 880]));
    gz.truncate(44);
    for name in ["cut.gz", "cut"] {
        let p = d.join(name);
        std::fs::write(&p, &gz).unwrap();
        let e = error_line(&mut run_inputs(&p, &[]));
        assert!(e.contains(name) && e.contains("gzip"), "{e}");
    }
    // IDX header says 3 items of 22, the data has 2 (44 bytes after the header:
    // a whole number of inputs if it were taken as raw).
    let p = d.join("short");
    let mut b = idx(&[3, 22], &[1; 44]);
    b.truncate(44);
    std::fs::write(&p, &b).unwrap();
    let e = error_line(&mut run_inputs(&p, &[]));
    assert!(e.contains("IDX") && e.contains("truncated"), "{e}");
    // A 1-dimensional IDX file.
    let p = d.join("labels.idx");
    std::fs::write(&p, idx(&[22], &[1; 22])).unwrap();
    let e = error_line(&mut run_inputs(&p, &[]));
    assert!(e.contains("a 1-dimensional IDX file (22 values"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn endless_and_huge_files_are_refused_early() {
    let e = error_line(bin().arg("golden").arg(tiny()).arg("/dev/zero"));
    assert!(e.contains("/dev/zero: more than"), "{e}");
    let e = error_line(&mut run_inputs(Path::new("/dev/zero"), &[]));
    assert!(
        e.contains("/dev/zero: more than") && e.contains("larger than a batch"),
        "{e}"
    );
    // A gzip bomb: 2 MB that would unpack to 2 GB; refused from the IDX header.
    let d = tmpdir("bomb");
    let mut plain = idx(&[100_000_000, 22], &[]);
    plain.extend_from_slice(&vec![0; 8 << 20]);
    let p = d.join("bomb.gz");
    std::fs::write(&p, gzip(&plain)).unwrap();
    let e = error_line(&mut run_inputs(&p, &[]));
    assert!(
        e.contains("100000000 items, more than a batch may hold"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_huge_count_is_clamped_not_a_panic() {
    let d = tmpdir("count");
    let p = d.join("two.bin");
    std::fs::write(&p, [5u8; 44]).unwrap();
    // The batch selection is fine; the command then fails on the missing port.
    let e = error_line(&mut run_inputs(
        &p,
        &["--offset", "1", "--count", "18446744073709551615"],
    ));
    assert!(e.contains(NO_PORT), "{e}");
    let e = error_line(&mut run_inputs(&p, &["--offset", "18446744073709551615"]));
    assert!(
        e.contains("offset 18446744073709551615 is past its 2 samples"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_full_stdout_is_an_error_line() {
    let full = std::fs::File::create("/dev/full").unwrap();
    for args in [
        vec!["golden".into(), tiny(), tiny_input()],
        vec!["info".into(), tiny()],
        vec!["gen-input".into(), tiny(), "--seed".into(), "1".into()],
        vec!["gen-model".into(), "--seed".into(), "1".into()],
        vec![
            "verilog".into(),
            "--build".into(),
            "small".into(),
            "--core".into(),
        ],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_revspike"))
            .args(&args)
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {e}");
        assert!(
            e.starts_with("error: ") && e.contains("writing stdout: No space left on device"),
            "{args:?}: {e}"
        );
    }
}

#[test]
fn settings_no_device_works_with_are_refused_before_connecting() {
    let e = error_line(
        bin()
            .args(["state", "--port", NO_PORT, "--timeout-ms", "0"])
            .arg("--model")
            .arg(tiny()),
    );
    assert!(
        e.contains("--timeout-ms 0 would give up on every response"),
        "{e}"
    );
    let e = error_line(bin().args(["gen-model", "--seed", "1", "--max-weight-bits", "1"]));
    assert!(
        e.contains("--max-weight-bits: expected 2..=") && e.contains("smallest model"),
        "{e}"
    );
    // The smallest bound that any model meets is met.
    let out = bin()
        .args(["gen-model", "--seed", "1", "--max-weight-bits", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let m = revspike_golden::Model::from_json_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert!(revspike_golden::Info::of(&m).weight_bits <= 2);
}

#[test]
fn flash_refuses_what_is_not_an_hx8k_bitstream() {
    let d = tmpdir("flash");
    // iceprog is never started: /bin/true would report success.
    for (name, bytes, want) in [
        (
            "model.json",
            b"{\"version\": 1}".to_vec(),
            "no preamble 7e aa 99 7e",
        ),
        ("empty.bin", vec![], "the file starts empty"),
        (
            "short.bin",
            vec![
                0xff, 0x00, 0x00, 0xff, 0x7e, 0xaa, 0x99, 0x7e, 0x62, 0x03, 0x67,
            ],
            "truncated",
        ),
    ] {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = error_line(bin().arg("flash").arg(&p).args(["--iceprog", "/bin/true"]));
        assert!(
            e.contains("refusing to flash it") && e.contains(want),
            "{name}: {e}"
        );
    }
    let e = error_line(bin().arg("flash").arg(&d).args(["--iceprog", "/bin/true"]));
    assert!(e.contains("not a file"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn an_os_error_is_not_repeated() {
    // The flow's and the simulator's errors print their source and also return it.
    let e = error_line(bin().args([
        "bitstream",
        "--build",
        "board-check",
        "--estimate",
        "--out",
        "/proc/revspike-nope",
    ]));
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    let e = error_line(
        bin()
            .args(["state", "--board-build", "small"])
            .env("REVSPIKE_SIM_CACHE", "/proc/revspike-nope"),
    );
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}
