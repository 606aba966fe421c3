//! Co-simulation of small rust-hdl blocks: the Verilator model against rust-hdl's
//! own simulator, the port list read from emitted Verilog, lint, tracing, errors.

mod common;

use common::blocks::{verilog_of, Counter, UartEcho};
use common::{hdl_tick, uart_levels};
use rand::{Rng, SeedableRng};
use revspike_sim::{lint, parse_top_ports, Design, Direction, Error, Model, ModelOptions};
use rust_hdl::prelude::*;

fn counter_verilog() -> String {
    verilog_of(Counter::default())
}

#[test]
fn port_list_is_read_from_emitted_verilog() {
    let ports = parse_top_ports(&counter_verilog()).unwrap();
    let got: Vec<(&str, Direction, u32)> = ports
        .iter()
        .map(|p| (p.name.as_str(), p.direction, p.width))
        .collect();
    assert_eq!(
        got,
        vec![
            ("clock", Direction::Input, 1),
            ("enable", Direction::Input, 1),
            ("load", Direction::Input, 1),
            ("load_value", Direction::Input, 16),
            ("count", Direction::Output, 16),
            ("mixed", Direction::Output, 16),
            ("wrapped", Direction::Output, 1),
        ]
    );
    let echo = parse_top_ports(&verilog_of(UartEcho::new(8))).unwrap();
    let names: Vec<&str> = echo.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["clock", "rx", "tx", "count"]);
}

#[test]
fn counter_counts() {
    let mut m = Model::new(&counter_verilog(), &ModelOptions::default()).unwrap();
    assert_eq!(m.get("count").unwrap(), 0);
    m.set("enable", 1).unwrap();
    m.ticks(1000).unwrap();
    assert_eq!(m.get("count").unwrap(), 1000);
    assert_eq!(m.cycles(), 1000);
    m.set("enable", 0).unwrap();
    m.ticks(10).unwrap();
    assert_eq!(m.get("count").unwrap(), 1000);
    m.set("load", 1).unwrap();
    m.set("load_value", 0xFFFE).unwrap();
    m.tick().unwrap();
    m.set("load", 0).unwrap();
    m.set("enable", 1).unwrap();
    assert_eq!(m.get("count").unwrap(), 0xFFFE);
    assert_eq!(m.get("wrapped").unwrap(), 0);
    m.ticks(2).unwrap();
    assert_eq!(m.get("count").unwrap(), 0);
    assert_eq!(m.get("wrapped").unwrap(), 1);
    // Combinational output follows an input without a clock edge.
    m.set("load_value", 0x00FF).unwrap();
    assert_eq!(m.get("mixed").unwrap(), 0x00FF);
}

#[test]
fn counter_agrees_with_rust_hdl_cycle_by_cycle() {
    let mut vm = Model::new(&counter_verilog(), &ModelOptions::default()).unwrap();
    let (en, ld, lv) = (
        vm.input("enable").unwrap(),
        vm.input("load").unwrap(),
        vm.input("load_value").unwrap(),
    );
    let outs = [
        vm.output("count").unwrap(),
        vm.output("mixed").unwrap(),
        vm.output("wrapped").unwrap(),
    ];
    let mut uut = Counter::default();
    uut.connect_all();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for cycle in 0..3000 {
        let e = rng.gen_bool(0.9);
        let l = rng.gen_bool(0.02);
        let v: u16 = if rng.gen_bool(0.3) {
            0xFFF0 | rng.gen_range(0..16)
        } else {
            rng.gen()
        };
        uut.enable.next = e;
        uut.load.next = l;
        uut.load_value.next = (v as u64).into();
        vm.set_id(en, e as u64);
        vm.set_id(ld, l as u64);
        vm.set_id(lv, v as u64);
        hdl_tick(&mut uut, |u, c| u.clock.next = Clock::from(c));
        vm.tick().unwrap();
        let hdl = [
            uut.count.val().to_u64(),
            uut.mixed.val().to_u64(),
            uut.wrapped.val() as u64,
        ];
        let ver = outs.map(|o| vm.get_id(o));
        assert_eq!(hdl, ver, "count/mixed/wrapped differ at cycle {cycle}");
    }
}

#[test]
fn uart_echo_agrees_with_rust_hdl_cycle_by_cycle() {
    let cpb = 8;
    let mut vm = Model::new(
        &verilog_of(UartEcho::new(cpb as u16)),
        &ModelOptions::default(),
    )
    .unwrap();
    let (rx, tx, count) = (
        vm.input("rx").unwrap(),
        vm.output("tx").unwrap(),
        vm.output("count").unwrap(),
    );
    let mut uut = UartEcho::new(cpb as u16);
    uut.connect_all();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let bytes: Vec<u8> = (0..40).map(|_| rng.gen()).collect();
    let mut levels = uart_levels(&bytes, cpb, 0);
    // A few one-cycle glitches on the idle line, then idle time to drain the echo.
    levels.extend([true, false, true, true, true, true, true, true, true, true]);
    levels.resize(levels.len() + cpb * 30, true);
    let mut edges = 0;
    let mut last_tx = 1;
    for (cycle, &level) in levels.iter().enumerate() {
        uut.rx.next = level;
        vm.set_id(rx, level as u64);
        hdl_tick(&mut uut, |u, c| u.clock.next = Clock::from(c));
        vm.tick().unwrap();
        let hdl = (uut.tx.val() as u64, uut.count.val().to_u64());
        let ver = (vm.get_id(tx), vm.get_id(count));
        assert_eq!(hdl, ver, "tx/count differ at cycle {cycle}");
        edges += (ver.0 != last_tx) as u32;
        last_tx = ver.0;
    }
    assert_eq!(vm.get_id(count), 40, "all bytes received");
    assert!(edges > 40, "the transmit pin toggled ({edges} edges)");
}

#[test]
fn port_errors_are_reported() {
    let mut m = Model::new(&counter_verilog(), &ModelOptions::default()).unwrap();
    let e = m.set("nope", 1).unwrap_err();
    assert!(matches!(e, Error::UnknownPort { .. }), "{e}");
    assert!(e.to_string().contains("load_value"), "lists the ports: {e}");
    assert!(matches!(
        m.set("count", 1),
        Err(Error::WrongDirection { .. })
    ));
    assert!(matches!(
        m.set("load_value", 0x1_0000),
        Err(Error::ValueTooWide { .. })
    ));
    assert!(matches!(
        m.trace_vcd(std::path::Path::new("/tmp/x.vcd")),
        Err(Error::TraceNotBuilt)
    ));
    // A design without the clock port named in the options cannot tick.
    let o = ModelOptions {
        clock: "clk".into(),
        ..Default::default()
    };
    let mut m = Model::new(&counter_verilog(), &o).unwrap();
    assert!(matches!(m.tick(), Err(Error::UnknownPort { .. })));
}

#[test]
fn bad_verilog_fails_with_a_build_error() {
    let e = Model::new(
        "module top(a, b); input wire a; output wire b; assign b = ; endmodule",
        &ModelOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Build {
                step: "verilate",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("%Error"), "{e}");
}

#[test]
fn second_build_comes_from_the_cache() {
    let v = counter_verilog();
    let a = Design::build(&v, &ModelOptions::default()).unwrap();
    let b = Design::build(&v, &ModelOptions::default()).unwrap();
    assert_eq!(a.dir(), b.dir());
    assert!(b.build_seconds().is_none(), "rebuilt an unchanged design");
    assert!(b.dir().join("ready").is_file());
    // Two instances of one design are independent.
    let (mut x, mut y) = (a.instantiate().unwrap(), b.instantiate().unwrap());
    x.set("enable", 1).unwrap();
    x.ticks(5).unwrap();
    y.ticks(5).unwrap();
    assert_eq!((x.get("count").unwrap(), y.get("count").unwrap()), (5, 0));
}

#[test]
fn vcd_trace_is_written() {
    let mut m = Model::new(&counter_verilog(), &ModelOptions::traced()).unwrap();
    let path = std::env::temp_dir().join(format!("revspike-sim-test-{}.vcd", std::process::id()));
    m.trace_vcd(&path).unwrap();
    m.set("enable", 1).unwrap();
    m.ticks(20).unwrap();
    m.close_trace();
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(text.contains("$enddefinitions"), "VCD header");
    assert!(text.contains(" count "), "count is traced");
    assert!(text.contains("#195"), "the 20th rising edge is at time 195");
}

#[test]
fn lint_reports_warnings_and_fails_on_errors() {
    let report = lint(&verilog_of(UartEcho::new(8))).unwrap();
    // rust-hdl's output always has width warnings (32-bit literals).
    assert!(report.count("WIDTH") > 0, "{report:?}");
    let e = lint("module top(a); input wire a; assign b = ; endmodule").unwrap_err();
    assert!(matches!(e, Error::Lint { .. }), "{e}");
    let clean =
        lint("module top(a, b);\n  input wire a;\n  output wire b;\n  assign b = ~a;\nendmodule\n")
            .unwrap();
    assert!(clean.is_clean(), "{clean:?}");
}

#[test]
fn verilog_2005_names_that_are_systemverilog_keywords_work() {
    // rust-hdl emits Verilog-2005; yosys accepts `byte` as a port name, so must we.
    let v = "module top(clock, byte, logic);\n  input wire clock;\n  input wire [7:0] byte;\n  output reg [7:0] logic;\n  always @(posedge clock) logic <= byte + 8'd1;\nendmodule\n";
    let mut m = Model::new(v, &ModelOptions::default()).unwrap();
    m.set("byte", 41).unwrap();
    m.tick().unwrap();
    assert_eq!(m.get("logic").unwrap(), 42);
    lint(v).unwrap();
}

#[test]
fn parallel_builds_of_one_design_build_once() {
    let cache = std::env::temp_dir().join(format!("revspike-sim-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let options = ModelOptions {
        cache_dir: Some(cache.clone()),
        ..Default::default()
    };
    let v = verilog_of(Counter::default());
    let built: Vec<Option<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| Design::build(&v, &options).map(|d| d.build_seconds())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let _ = std::fs::remove_dir_all(&cache);
    assert_eq!(built.iter().filter(|b| b.is_some()).count(), 1, "{built:?}");
}
