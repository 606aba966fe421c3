//! `revspike verilog` and `revspike vboard`: the Verilog the flow and the
//! simulators use, and a standing virtual board another process drives.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use revspike_proto::build::SMALL;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_revspike"))
}

#[test]
fn verilog_writes_the_top_level_or_the_core_the_simulators_use() {
    let d = std::env::temp_dir().join(format!("revspike-verilog-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let top = d.join("top.v");
    let core = d.join("core.v");
    for (args, path) in [(vec!["--top"], &top), (vec!["--core"], &core)] {
        let out = bin()
            .args(["verilog", "--build", "small"])
            .args(args)
            .arg("-o")
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read_to_string(&top).unwrap(),
        revspike_hdl::top::top_verilog(&SMALL).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&core).unwrap(),
        revspike_hdl::builds::core_verilog(&SMALL).unwrap()
    );
    // The top level is the default, and stdout the default output.
    let out = bin()
        .args(["verilog", "--build", "small"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(&top).unwrap()
    );
    let out = bin().args(["verilog", "--build", "big"]).output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("unknown build 'big' (builds: cu, cu-4m, small, wide)"),
        "{e}"
    );
    let out = bin().args(["verilog", "--top", "--core"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--top and --core conflict");
    std::fs::remove_dir_all(&d).ok();
}

/// Kills the board if the test fails before stopping it.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn vboard_serves_another_host_until_sigterm() {
    let mut guard = Guard(
        bin()
            .args(["vboard", "--build", "small"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pty = line
        .trim()
        .strip_prefix("revspike virtual board on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_string();
    // A second process drives it as it would drive the board.
    let out = bin()
        .args(["state", "--port", &pty, "--timeout-ms", "20000"])
        .output()
        .unwrap();
    let state = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(v["device"], "small");
    assert_eq!(v["loaded"], false);
    // SIGTERM stops it cleanly, with its figures on stderr.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "vboard did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(
        err.contains("revspike vboard: ") && err.contains(" cycles, "),
        "{err}"
    );
}
