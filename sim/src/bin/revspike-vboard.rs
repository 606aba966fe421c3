//! revspike-vboard: the virtual Alchitry Cu. Simulates a top-level Verilog design
//! with Verilator and exposes its UART pins as a pseudo-terminal the host opens
//! like the board's serial port.

use anyhow::{Context, Result};
use clap::Parser;
use revspike_sim::vboard::{serve, Reset, ServeOptions, VirtualBoard, VirtualBoardOptions};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "revspike-vboard",
    about = "Simulate a revspike top-level design behind a pseudo-terminal",
    long_about = "Builds the Verilog (top module `top`) with Verilator, opens a pseudo-terminal, \
prints `revspike virtual board on /dev/pts/N`, and bridges the terminal to the design's UART \
pins at the simulated baud. Runs until SIGINT/SIGTERM, until stdin reaches end of file (unless \
--ignore-stdin), or for --for seconds."
)]
struct Args {
    /// Verilog file of the design, as emitted by rust-hdl (top module `top`).
    #[arg(long)]
    verilog: PathBuf,
    /// The design's UART input pin (FPGA receive).
    #[arg(long, default_value = "usb_rx")]
    rx: String,
    /// The design's UART output pin (FPGA transmit).
    #[arg(long, default_value = "usb_tx")]
    tx: String,
    /// Named build (cu, cu-4m, small, wide) whose clock and baud give the clocks per bit.
    #[arg(long)]
    build: Option<String>,
    /// Whole clocks per UART bit (default: the exact bit timing of --build, else that
    /// of the Cu build: 12 Mbaud at 100 MHz, 25/3 clocks).
    #[arg(long)]
    clocks_per_bit: Option<u32>,
    /// Write a VCD trace of the run to this file.
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Stop after this many seconds.
    #[arg(long = "for")]
    run_for: Option<f64>,
    /// Quiet cycles after which the clock stops until the host writes again.
    #[arg(long, default_value_t = 2_000_000)]
    idle_cycles: u64,
    /// Reset input held asserted for the first cycles (default: reset_n, rst_n,
    /// reset or rst if present; `none` for no reset).
    #[arg(long)]
    reset: Option<String>,
    /// Keep running when stdin closes (for use with `</dev/null` or `&`).
    #[arg(long)]
    ignore_stdin: bool,
    /// Power-cycle the design once (memories cleared) when the host has written
    /// this many bytes: tests the host's recovery from a board reset.
    #[arg(long, value_name = "BYTES")]
    power_cycle_after_bytes: Option<u64>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("revspike-vboard: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let verilog = std::fs::read_to_string(&args.verilog)
        .with_context(|| format!("cannot read {}", args.verilog.display()))?;
    let run_for = match args.run_for {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            anyhow::bail!("--for must be a positive number of seconds, got {s}")
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let reset = match args.reset.as_deref() {
        None => Reset::Auto,
        Some("none") => Reset::None,
        Some(name) => Reset::Port {
            name: name.to_string(),
            active_low: name.ends_with("_n"),
        },
    };
    let build = match &args.build {
        Some(name) => {
            let names: Vec<&str> = revspike_proto::build::BUILDS
                .iter()
                .map(|b| b.name)
                .collect();
            revspike_proto::build::by_name(name)
                .with_context(|| format!("unknown build `{name}` (builds: {})", names.join(", ")))?
        }
        None => &revspike_proto::build::CU,
    };
    let timing = match args.clocks_per_bit {
        Some(cpb) => revspike_proto::bit_timing::BitTiming {
            clocks: cpb,
            bits: 1,
        },
        None => build.bit_timing()?,
    };
    let options = VirtualBoardOptions {
        rx_pin: args.rx,
        tx_pin: args.tx,
        timing,
        vcd: args.vcd,
        idle_cycles: args.idle_cycles,
        run_for,
        reset,
        power_cycle_after_bytes: args.power_cycle_after_bytes,
        ..Default::default()
    };
    let board = VirtualBoard::start(&verilog, options)?;
    let stats = serve(
        board,
        &mut std::io::stdout(),
        ServeOptions {
            stop_on_stdin_eof: !args.ignore_stdin,
        },
    )?;
    eprintln!(
        "revspike-vboard: {} cycles, {} bytes in, {} bytes out, {} framing errors",
        stats.cycles, stats.bytes_to_design, stats.bytes_from_design, stats.framing_errors
    );
    Ok(())
}
