//! Simulation speed: Verilator (through revspike-sim) against rust-hdl's own
//! simulator, on the same block for the same number of cycles with the same inputs.
//!
//! `cargo bench -p revspike-sim --bench cosim_speed [-- OPTIONS]`
//!   --cycles N        cycles per measurement (default 200000)
//!   --fresh           build into an empty cache so the first-build time is measured
//!   --verilog FILE    also time Verilator alone on this design (top module `top`,
//!                     clock `clock`), e.g. the full top-level
//!   --set PORT=VALUE  drive an input of that design (repeatable), e.g. reset_n=1
//!   --skip-blocks     only the --verilog design

#[path = "../tests/common/blocks.rs"]
mod blocks;

use blocks::{verilog_of, Counter, UartEcho};
use revspike_sim::{Design, Model, ModelOptions};
use rust_hdl::prelude::*;
use std::time::Instant;

struct Args {
    cycles: u64,
    fresh: bool,
    verilog: Option<String>,
    sets: Vec<(String, u64)>,
    skip_blocks: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        cycles: 200_000,
        fresh: false,
        verilog: None,
        sets: Vec::new(),
        skip_blocks: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cycles" => {
                let v = it.next().ok_or("--cycles needs a number")?;
                a.cycles = v
                    .parse()
                    .map_err(|_| format!("--cycles: `{v}` is not a number"))?;
            }
            "--fresh" => a.fresh = true,
            "--verilog" => a.verilog = Some(it.next().ok_or("--verilog needs a file")?),
            "--set" => {
                let v = it.next().ok_or("--set needs PORT=VALUE")?;
                let (port, value) = v
                    .split_once('=')
                    .ok_or(format!("--set: `{v}` is not PORT=VALUE"))?;
                let value = value
                    .parse()
                    .map_err(|_| format!("--set: `{value}` is not a number"))?;
                a.sets.push((port.to_string(), value));
            }
            "--skip-blocks" => a.skip_blocks = true,
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

fn build(name: &str, verilog: &str) -> Result<Design, String> {
    let t = Instant::now();
    let d = Design::build(verilog, &ModelOptions::default()).map_err(|e| e.to_string())?;
    match d.build_seconds() {
        Some(s) => println!("{name}: first Verilator build {s:.1} s"),
        None => println!(
            "{name}: Verilator model from cache ({:.2} s)",
            t.elapsed().as_secs_f64()
        ),
    }
    Ok(d)
}

fn report(name: &str, what: &str, cycles: u64, secs: f64) -> f64 {
    let rate = cycles as f64 / secs;
    println!(
        "{name:<10} {what:<34} {cycles:>9} cycles {secs:>8.3} s {:>12.0} cycles/s",
        rate
    );
    rate
}

fn hdl_tick<B: Block>(uut: &mut B, clock: impl Fn(&mut B, bool)) {
    clock(uut, true);
    simulate(uut, 1000);
    clock(uut, false);
    simulate(uut, 1000);
}

fn bench_counter(cycles: u64) -> Result<(), String> {
    let design = build("counter", &verilog_of(Counter::default()))?;
    let mut m = design.instantiate().map_err(|e| e.to_string())?;
    m.set("enable", 1).map_err(|e| e.to_string())?;
    let t = Instant::now();
    m.ticks(cycles).map_err(|e| e.to_string())?;
    let v_batch = report(
        "counter",
        "verilator ticks(n)",
        cycles,
        t.elapsed().as_secs_f64(),
    );
    let v_count = m.get("count").map_err(|e| e.to_string())?;

    let mut m = design.instantiate().map_err(|e| e.to_string())?;
    let (en, count) = (m.input("enable").unwrap(), m.output("count").unwrap());
    let t = Instant::now();
    let mut sum = 0u64;
    for _ in 0..cycles {
        m.set_id(en, 1);
        m.tick().map_err(|e| e.to_string())?;
        sum = sum.wrapping_add(m.get_id(count));
    }
    let v_step = report(
        "counter",
        "verilator set+tick+get per cycle",
        cycles,
        t.elapsed().as_secs_f64(),
    );

    let mut uut = Counter::default();
    uut.connect_all();
    let t = Instant::now();
    let mut hsum = 0u64;
    for _ in 0..cycles {
        uut.enable.next = true;
        hdl_tick(&mut uut, |u, c| u.clock.next = Clock::from(c));
        hsum = hsum.wrapping_add(uut.count.val().to_u64());
    }
    let h = report(
        "counter",
        "rust-hdl simulate per cycle",
        cycles,
        t.elapsed().as_secs_f64(),
    );
    if sum != hsum || v_count != cycles & 0xFFFF {
        return Err(format!(
            "counter results differ: verilator {sum} rust-hdl {hsum}"
        ));
    }
    println!(
        "counter    speedup: ticks(n) {:.1}x, per cycle {:.1}x over rust-hdl",
        v_batch / h,
        v_step / h
    );
    Ok(())
}

fn bench_echo(cycles: u64) -> Result<(), String> {
    let cpb = 8usize;
    let design = build("uart_echo", &verilog_of(UartEcho::new(cpb as u16)))?;
    // A stream of frames on the receive pin, repeated to fill the cycles.
    let mut levels = Vec::new();
    for b in 0..=255u8 {
        levels.push(false);
        levels.extend((0..8).map(|k| (b >> k) & 1 == 1));
        levels.push(true);
        levels.push(true);
    }
    let level_at = |c: u64| levels[(c as usize / cpb) % levels.len()];

    let mut m = design.instantiate().map_err(|e| e.to_string())?;
    let (rx, tx) = (m.input("rx").unwrap(), m.output("tx").unwrap());
    let t = Instant::now();
    let mut vt = 0u64;
    for c in 0..cycles {
        m.set_id(rx, level_at(c) as u64);
        m.tick().map_err(|e| e.to_string())?;
        vt += m.get_id(tx);
    }
    let v = report(
        "uart_echo",
        "verilator set+tick+get per cycle",
        cycles,
        t.elapsed().as_secs_f64(),
    );

    let mut uut = UartEcho::new(cpb as u16);
    uut.connect_all();
    let t = Instant::now();
    let mut ht = 0u64;
    for c in 0..cycles {
        uut.rx.next = level_at(c);
        hdl_tick(&mut uut, |u, c| u.clock.next = Clock::from(c));
        ht += uut.tx.val() as u64;
    }
    let h = report(
        "uart_echo",
        "rust-hdl simulate per cycle",
        cycles,
        t.elapsed().as_secs_f64(),
    );
    if vt != ht {
        return Err(format!(
            "uart_echo tx differs: verilator {vt} high cycles, rust-hdl {ht}"
        ));
    }
    println!("uart_echo  speedup: per cycle {:.1}x over rust-hdl", v / h);
    Ok(())
}

fn bench_file(path: &str, sets: &[(String, u64)], cycles: u64) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let design = build(path, &text)?;
    let mut m: Model = design.instantiate().map_err(|e| e.to_string())?;
    for (port, value) in sets {
        m.set(port, *value).map_err(|e| e.to_string())?;
    }
    let t = Instant::now();
    m.ticks(cycles).map_err(|e| e.to_string())?;
    report(
        "file",
        "verilator ticks(n), inputs held",
        cycles,
        t.elapsed().as_secs_f64(),
    );
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cosim_speed: {e}");
            std::process::exit(2);
        }
    };
    if args.fresh {
        let dir = std::env::temp_dir().join(format!("revspike-sim-bench-{}", std::process::id()));
        std::env::set_var("REVSPIKE_SIM_CACHE", &dir);
        println!("fresh model cache in {}", dir.display());
    }
    let blocks = || -> Result<(), String> {
        if !args.skip_blocks {
            bench_counter(args.cycles)?;
            bench_echo(args.cycles)?;
        }
        Ok(())
    };
    let result = blocks().and_then(|_| match &args.verilog {
        Some(p) => bench_file(p, &args.sets, args.cycles),
        None => Ok(()),
    });
    if args.fresh {
        if let Some(dir) = std::env::var_os("REVSPIKE_SIM_CACHE") {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if let Err(e) = result {
        eprintln!("cosim_speed: {e}");
        std::process::exit(1);
    }
}
