//! Bitstream flow tests: report parsing on captured nextpnr reports, the
//! synthesis sanity check (latches, undriven and implicit wires), and the whole
//! flow on the board check design. The tool tests need yosys, nextpnr-ice40
//! and icepack (scripts/setup.sh); without them they fail with that message.

use revspike_hdl::flow::{
    build_bitstream, build_bitstream_from_verilog, parse_nextpnr_report, read_report, synth_check,
    synth_check_block, BoardCheckTop, FlowError, FlowOptions, Ice40Device, Tools, REPORT_SCHEMA,
};
use std::path::{Path, PathBuf};

// nextpnr-ice40 0.4 `--report` output for the board check design at --freq 100
// and --freq 400 (seed 1), critical paths cut to their first and last 3 segments.
const REPORT_OK: &str = include_str!("flow_fixtures/nextpnr-report-100mhz.json");
const REPORT_SLOW: &str = include_str!("flow_fixtures/nextpnr-report-400mhz.json");

fn out_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("revspike-flow-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn quiet() -> FlowOptions {
    FlowOptions {
        progress: false,
        ..FlowOptions::default()
    }
}

/// Unwraps a flow result, printing the flow's own message (e.g. "yosys not
/// found: run scripts/setup.sh") rather than a Debug dump.
fn ok<T>(r: Result<T, FlowError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn parses_captured_nextpnr_report() {
    let r = ok(parse_nextpnr_report(REPORT_OK));
    let lc = r.usage("ICESTORM_LC");
    assert_eq!(lc.available, 7680);
    assert!(lc.used > 30 && lc.used < 200, "LC used {}", lc.used);
    assert_eq!(r.usage("ICESTORM_RAM").available, 32);
    assert_eq!(r.usage("SB_IO").used, 11, "clock + 8 LEDs + UART rx/tx");
    assert_eq!(r.usage("SB_GB").used, 1);
    assert_eq!(r.usage("ICESTORM_PLL").available, 2);
    let clocks = r.clocks();
    assert_eq!(clocks.len(), 1);
    assert_eq!(clocks[0].name, "clock");
    assert_eq!(clocks[0].target_mhz, 100.0);
    assert!(clocks[0].achieved_mhz > 100.0);
    assert!(clocks[0].met && clocks[0].slack_ns > 0.0);
    let expected_slack = 10.0 - 1000.0 / clocks[0].achieved_mhz;
    assert!((clocks[0].slack_ns - expected_slack).abs() < 1e-9);
    assert!(r.timing_failures().is_empty());
    assert!(r.overflows().is_empty());
    assert!(!r.critical_paths.is_empty());
    assert!(r.critical_paths.iter().all(|p| p.delay_ns >= 0.0));
}

#[test]
fn captured_low_fmax_report_is_a_timing_failure() {
    let r = ok(parse_nextpnr_report(REPORT_SLOW));
    let f = r.timing_failures();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("clock clock reached ") && f[0].ends_with(" MHz < 400 MHz"),
        "{}",
        f[0]
    );
    assert!(r.clocks()[0].slack_ns < 0.0);
}

#[test]
fn malformed_reports_are_errors() {
    for (text, needle) in [
        ("not json", "not JSON"),
        ("[]", "not an object"),
        ("{}", "no `utilization`"),
        (
            r#"{"utilization": {"ICESTORM_LC": {"used": "x", "available": 1}}}"#,
            "ICESTORM_LC.used",
        ),
        (
            r#"{"utilization": {}, "fmax": {"clk": {"achieved": 0, "constraint": 100}}}"#,
            "fmax.clk.achieved",
        ),
    ] {
        let e = parse_nextpnr_report(text).unwrap_err().to_string();
        assert!(e.contains(needle), "{text}: {e}");
    }
    let over = parse_nextpnr_report(
        r#"{"utilization": {"ICESTORM_LC": {"used": 9000, "available": 7680}}, "fmax": {}}"#,
    )
    .unwrap();
    assert_eq!(over.overflows(), vec!["ICESTORM_LC 9000/7680".to_string()]);
}

#[test]
fn synth_check_detects_a_latch() {
    let v = "module top(input en, input d, output reg q);\n\
             always @(*) if (en) q = d;\n\
             endmodule\n";
    match synth_check(v) {
        Err(FlowError::Latch { signals, .. }) => assert_eq!(signals, vec!["top.q".to_string()]),
        other => panic!("expected a latch error, got {other:?}"),
    }
}

#[test]
fn synth_check_detects_undriven_and_implicit_wires() {
    let undriven = "module top(input a, output y);\n wire w;\n assign y = a & w;\nendmodule\n";
    match synth_check(undriven) {
        Err(FlowError::SynthCheck { problems, .. }) => assert!(
            problems
                .iter()
                .any(|p| p.contains("top.\\w is used but has no driver")),
            "{problems:?}"
        ),
        other => panic!("expected a check failure, got {other:?}"),
    }
    let implicit = "module top(input a, output y);\n assign y = a & imp;\nendmodule\n";
    let e = synth_check(implicit).unwrap_err().to_string();
    assert!(e.contains("implicitly declared"), "{e}");
}

#[test]
fn synth_check_counts_cells_of_clean_verilog() {
    let v = "module top(input clk, input [7:0] a, output reg [7:0] q);\n\
             always @(posedge clk) q <= q + a;\n\
             endmodule\n";
    let s = ok(synth_check(v));
    assert_eq!(s.flip_flops(), 8);
    assert!(s.luts() > 0 && s.carries() > 0, "{s:?}");
    assert_eq!(s.latches(), 0);
}

#[test]
fn synth_check_of_the_board_check_block() {
    let s = ok(synth_check_block(BoardCheckTop::default()));
    assert_eq!(s.flip_flops(), 32, "{:?}", s.cells_by_type);
    assert!(s.carries() >= 30);
}

#[test]
fn missing_tool_is_a_clear_error() {
    let tools = Tools {
        yosys: PathBuf::from("/nonexistent/revspike/yosys"),
        ..Tools::default()
    };
    let e = revspike_hdl::flow::synth_check_with("module top; endmodule\n", &tools)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "yosys not found: run scripts/setup.sh (or set REVSPIKE_YOSYS to its path)"
    );
}

fn assert_plausible(report: &revspike_hdl::flow::BitstreamReport, dir: &Path) {
    assert_eq!(report.schema, REPORT_SCHEMA);
    assert_eq!(report.device, Ice40Device::Hx8k);
    let lc = report.resources.logic_cells;
    assert!(lc.used > 0 && lc.used < lc.available, "{lc:?}");
    assert_eq!(lc.available, 7680);
    assert_eq!(report.resources.ebr.available, 32);
    assert!(report.timing_met);
    let fmax = report.min_fmax_mhz().expect("a clock");
    assert!(fmax > 100.0, "fmax {fmax}");
    let bin = report.bitstream.as_ref().expect("a bitstream");
    let bytes = std::fs::read(dir.join("revspike-cu.bin")).unwrap();
    assert_eq!(bytes.len() as u64, bin.bytes);
    // An HX8K image is 135,100 bytes; starts with the iCE40 preamble 0x7EAA997E.
    assert!(bytes.len() > 100_000, "{} bytes", bytes.len());
    assert!(bytes
        .windows(4)
        .take(64)
        .any(|w| w == [0x7e, 0xaa, 0x99, 0x7e]));
    assert_eq!(bin.sha256.len(), 64);
    let reread = ok(read_report(&dir.join("report.json")));
    assert_eq!(reread.resources, report.resources);
    assert_eq!(reread.clocks, report.clocks);
    assert_eq!(reread.bitstream, report.bitstream);
    let txt = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(
        txt.contains("logic cells (LC)") && txt.contains("met"),
        "{txt}"
    );
    for f in [
        "top.v",
        "top.pcf",
        "yosys.log",
        "nextpnr.log",
        "nextpnr-report.json",
    ] {
        assert!(dir.join("build").join(f).is_file(), "build/{f} missing");
    }
}

#[test]
fn end_to_end_board_check_bitstream() {
    let dir = out_dir("e2e");
    let report = ok(build_bitstream(BoardCheckTop::default(), &dir, &quiet()));
    assert_plausible(&report, &dir);
    assert!(report.top.ends_with("BoardCheckTop"), "{}", report.top);
    let pcf = std::fs::read_to_string(dir.join("build/top.pcf")).unwrap();
    for line in [
        "set_io clock P7",
        "set_io usb_rx P14",
        "set_io usb_tx M9",
        "set_io leds[7] N14",
    ] {
        assert!(pcf.lines().any(|l| l == line), "missing `{line}` in\n{pcf}");
    }
    assert_eq!(report.resources.io.used, 11);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreachable_target_is_a_timing_failure_without_bitstream() {
    let dir = out_dir("slow");
    // A stale bitstream from an earlier run must not survive a failing one.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("revspike-cu.bin"), b"stale").unwrap();
    let opts = FlowOptions {
        freq_mhz: 2000.0,
        ..quiet()
    };
    match build_bitstream(BoardCheckTop::default(), &dir, &opts) {
        Err(e @ FlowError::TimingFailure { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("timing failure: clock clock reached ")
                    && msg.contains(" MHz < 2000 MHz"),
                "{msg}"
            );
        }
        other => panic!("expected a timing failure, got {other:?}"),
    }
    assert!(!dir.join("revspike-cu.bin").exists());
    let report = ok(read_report(&dir.join("report.json")));
    assert!(!report.timing_met && report.bitstream.is_none());
    assert!(report.clocks[0].slack_ns < 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn verilog_flow_rejects_a_latch_before_place_and_route() {
    let dir = out_dir("latch");
    let v = "module top(input en, input d, output reg q);\nalways @(*) if (en) q = d;\nendmodule\n";
    let pcf = "set_io en P14\nset_io d P7\nset_io q M9\n";
    let e = build_bitstream_from_verilog(v, pcf, "latch", &dir, &quiet()).unwrap_err();
    assert!(matches!(e, FlowError::Latch { .. }), "{e}");
    assert!(
        !dir.join("build/nextpnr.log").exists(),
        "nextpnr ran after a latch"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn design_that_does_not_fit_is_reported() {
    let dir = out_dir("big");
    // 33 block RAMs cannot fit 32 EBRs (and instantiating SB_RAM40_4K directly
    // also checks that designs may use iCE40 primitives).
    let v = "module top(input clock, input usb_rx, output usb_tx);\n\
             wire [32:0] r;\n\
             genvar i;\n\
             generate for (i = 0; i < 33; i = i + 1) begin : m\n\
             wire [15:0] rd;\n\
             SB_RAM40_4K ram(.RDATA(rd), .RADDR({10'd0, usb_rx}), .RCLK(clock), .RCLKE(1'b1),\n\
             .RE(1'b1), .WADDR(11'd0), .WCLK(clock), .WCLKE(1'b1), .WDATA({15'd0, usb_rx}),\n\
             .WE(usb_rx), .MASK(16'd0));\n\
             assign r[i] = rd[0];\n\
             end endgenerate\n\
             assign usb_tx = ^r;\n\
             endmodule\n";
    let pcf = "set_io clock P7\nset_io usb_rx P14\nset_io usb_tx M9\n";
    let e = build_bitstream_from_verilog(v, pcf, "big", &dir, &quiet()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "design does not fit the iCE40-HX8K cb132: ICESTORM_RAM 33/32 (103%) (log: {})",
            dir.join("build/nextpnr.log").display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_options_are_rejected_before_any_tool_runs() {
    let dir = out_dir("opts");
    let opts = FlowOptions {
        freq_mhz: -5.0,
        ..quiet()
    };
    let e = build_bitstream(BoardCheckTop::default(), &dir, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("target frequency -5 MHz"), "{e}");
    assert!(!dir.exists());
}

mod unpinned {
    use rust_hdl::prelude::*;

    /// A top level whose output has no pin: nextpnr would put it on any free pin.
    #[derive(LogicBlock)]
    pub struct Unpinned {
        pub clock: Signal<In, Clock>,
        pub out: Signal<Out, Bits<2>>,
    }

    impl Default for Unpinned {
        fn default() -> Self {
            let mut out = Signal::<Out, Bits<2>>::default();
            out.add_location(0, "J11");
            Unpinned {
                clock: rust_hdl_bsp_alchitry_cu::pins::clock(),
                out,
            }
        }
    }

    impl Logic for Unpinned {
        #[hdl_gen]
        fn update(&mut self) {
            self.out.next = 1.into();
        }
    }
}

#[test]
fn port_without_pin_is_rejected() {
    let dir = out_dir("unpinned");
    let e = build_bitstream(unpinned::Unpinned::default(), &dir, &quiet())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "pin constraints: top-level port `out` has no pin location (bits 1)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
