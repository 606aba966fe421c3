//! The virtual board end to end: a pty opened with the serialport crate, as the
//! host opens the real board, bridged to a UART loopback block in Verilator.

mod common;

use common::blocks::{verilog_of, UartEcho};
use revspike_sim::vboard::{VirtualBoard, VirtualBoardOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CPB: u32 = 8;

fn options() -> VirtualBoardOptions {
    VirtualBoardOptions {
        rx_pin: "rx".into(),
        tx_pin: "tx".into(),
        timing: revspike_proto::bit_timing::BitTiming {
            clocks: CPB,
            bits: 1,
        },
        idle_cycles: 100_000,
        ..Default::default()
    }
}

/// Reads from the port until `n` bytes arrived or `limit` passed.
fn read_n(port: &mut dyn serialport::SerialPort, n: usize, limit: Duration) -> Vec<u8> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < n && start.elapsed() < limit {
        match port.read(&mut buf) {
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the virtual board: {e}"),
        }
    }
    got
}

#[test]
fn library_board_echoes_and_sleeps_when_idle() {
    let board = VirtualBoard::start(&verilog_of(UartEcho::new(CPB as u16)), options()).unwrap();
    let mut port = serialport::new(board.path().to_string_lossy(), 4_000_000)
        .timeout(Duration::from_millis(100))
        .open()
        .unwrap();
    let msg: Vec<u8> = (0..200u32).map(|i| (i * 7 + 1) as u8).collect();
    port.write_all(&msg).unwrap();
    let got = read_n(port.as_mut(), msg.len(), Duration::from_secs(30));
    assert_eq!(got, msg);
    // Quiet now: the clock must stop after idle_cycles instead of spinning. It ran
    // at most idle_cycles before the host wrote, the traffic, and idle_cycles after.
    std::thread::sleep(Duration::from_millis(500));
    let stats = board.stop().unwrap();
    assert_eq!(stats.bytes_to_design, 200);
    assert_eq!(stats.bytes_from_design, 200);
    assert_eq!(stats.framing_errors, 0);
    let traffic = 200 * 10 * CPB as u64;
    assert!(
        stats.cycles >= traffic && stats.cycles < traffic + 2 * 100_000 + 40_000,
        "{} cycles: the board kept clocking while idle",
        stats.cycles
    );
}

#[test]
fn binary_prints_its_pty_echoes_and_exits_when_stdin_closes() {
    let dir = std::env::temp_dir().join(format!("revspike-vboard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let verilog = dir.join("echo.v");
    std::fs::write(&verilog, verilog_of(UartEcho::new(CPB as u16))).unwrap();
    let vcd = dir.join("run.vcd");
    let mut child = Command::new(env!("CARGO_BIN_EXE_revspike-vboard"))
        .arg("--verilog")
        .arg(&verilog)
        .args([
            "--rx",
            "rx",
            "--tx",
            "tx",
            "--clocks-per-bit",
            "8",
            "--for",
            "600",
        ])
        .arg("--vcd")
        .arg(&vcd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    // The first run may build the traced model (tens of seconds).
    let line = match rx.recv_timeout(Duration::from_secs(400)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            panic!("revspike-vboard printed no pty path");
        }
    };
    let path = line
        .trim()
        .strip_prefix("revspike virtual board on ")
        .unwrap_or_else(|| {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("unexpected first line `{line}`; stderr: {err}")
        });
    assert!(path.starts_with("/dev/pts/"), "{path}");
    let mut port = serialport::new(path, 4_000_000)
        .timeout(Duration::from_millis(100))
        .open()
        .unwrap();
    port.write_all(b"hello, virtual Cu\n").unwrap();
    let got = read_n(port.as_mut(), 18, Duration::from_secs(30));
    assert_eq!(got, b"hello, virtual Cu\n");
    drop(port);
    drop(child.stdin.take());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("revspike-vboard did not exit after stdin closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("18 bytes in, 18 bytes out, 0 framing errors"),
        "{err}"
    );
    let trace = std::fs::read_to_string(&vcd).unwrap();
    assert!(
        trace.contains("$enddefinitions") && trace.contains(" tx "),
        "VCD of the run"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_without_verilator_says_how_to_get_it() {
    let dir = std::env::temp_dir().join(format!("revspike-vboard-nov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let verilog = dir.join("echo.v");
    std::fs::write(&verilog, verilog_of(UartEcho::new(CPB as u16))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_revspike-vboard"))
        .arg("--verilog")
        .arg(&verilog)
        .env("REVSPIKE_VERILATOR", "/nonexistent/verilator")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("verilator not found: run scripts/setup.sh"),
        "{err}"
    );
    assert!(err.lines().count() == 1, "one-line error: {err}");
}

#[test]
fn binary_rejects_a_missing_file_and_bad_pins() {
    let out = Command::new(env!("CARGO_BIN_EXE_revspike-vboard"))
        .args(["--verilog", "/nonexistent/top.v"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/top.v"));
    let dir = std::env::temp_dir().join(format!("revspike-vboard-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let verilog = dir.join("echo.v");
    std::fs::write(&verilog, verilog_of(UartEcho::new(CPB as u16))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_revspike-vboard"))
        .arg("--verilog")
        .arg(&verilog)
        .args(["--build", "nonesuch"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown build `nonesuch` (builds: cu"),
        "{err}"
    );
    // The loopback block has no usb_rx: the default pins do not exist.
    let e = VirtualBoard::start(
        &verilog_of(UartEcho::new(CPB as u16)),
        VirtualBoardOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("usb_rx"), "{e}");
}

#[test]
fn power_cycle_after_bytes_restarts_the_design_mid_stream() {
    let board = VirtualBoard::start(
        &verilog_of(UartEcho::new(CPB as u16)),
        VirtualBoardOptions {
            power_cycle_after_bytes: Some(5),
            ..options()
        },
    )
    .unwrap();
    let mut port = serialport::new(board.path().to_string_lossy(), 4_000_000)
        .timeout(Duration::from_millis(100))
        .open()
        .unwrap();
    port.write_all(b"abcdeFGHIJ").unwrap();
    // The old design echoes what it fully sent before power went away (the echo of
    // `e` is cut off); the fresh design echoes the rest.
    let got = read_n(port.as_mut(), 9, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(200));
    let stats = board.stop().unwrap();
    assert!(
        got.starts_with(b"abcd"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        got.ends_with(b"FGHIJ"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(stats.bytes_to_design, 10);
}

#[test]
fn busy_cycles_count_traffic_and_the_busy_light_never_waits_for_the_host() {
    // The echo's byte count stands in for a busy light: bit 0 is lit after an odd
    // number of bytes.
    let board = VirtualBoard::start(
        &verilog_of(UartEcho::new(CPB as u16)),
        VirtualBoardOptions {
            busy_light: Some(("count".into(), 0)),
            ..options()
        },
    )
    .unwrap();
    let mut port = serialport::new(board.path().to_string_lossy(), 4_000_000)
        .timeout(Duration::from_millis(100))
        .open()
        .unwrap();
    port.write_all(&[1, 2]).unwrap();
    assert_eq!(read_n(port.as_mut(), 2, Duration::from_secs(30)), [1, 2]);
    // The host waits: the clock runs on for idle_cycles, the light is dark.
    std::thread::sleep(Duration::from_millis(300));
    port.write_all(&[3]).unwrap();
    assert_eq!(read_n(port.as_mut(), 1, Duration::from_secs(30)), [3]);
    // Now the light stays lit through the whole quiet stretch.
    std::thread::sleep(Duration::from_millis(300));
    let stats = board.stop().unwrap();
    let byte = 10 * CPB as u64;
    let busy = stats.busy_cycles.expect("a busy light was given");
    assert!(
        stats.cycles >= 2 * 100_000,
        "{} cycles: two quiet stretches",
        stats.cycles
    );
    assert!(
        busy >= 100_000 && busy <= 100_000 + 6 * byte + 100,
        "{busy} busy cycles: the lit stretch and six bytes' traffic, not the wait"
    );
}

#[test]
fn without_a_busy_light_there_are_no_busy_cycles() {
    let board = VirtualBoard::start(&verilog_of(UartEcho::new(CPB as u16)), options()).unwrap();
    assert_eq!(board.stop().unwrap().busy_cycles, None);
}

#[test]
fn a_busy_light_outside_its_port_is_refused() {
    let started = VirtualBoard::start(
        &verilog_of(UartEcho::new(CPB as u16)),
        VirtualBoardOptions {
            busy_light: Some(("count".into(), 8)),
            ..options()
        },
    );
    let Err(e) = started else {
        panic!("bit 8 of an 8-bit port was taken as a busy light");
    };
    assert!(e.to_string().contains("busy bit 8"), "{e}");
}
