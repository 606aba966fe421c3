//! Simulation speed of revspike's own designs: Verilator (through revspike-sim)
//! against rust-hdl's simulator, in clock cycles per second, on the same work.
//!
//! - the Cu core (`SpikingCore<32, 64>`) and the small core (`<8, 64>`), driven
//!   through their host port by the shared `CoreDriver`: load a model, then run
//!   inputs (repeated in Verilator, which is far faster, until a second has passed,
//!   so that its run is long enough to time). The Cu core runs the shipped model
//!   (models/fashion-cu.json) on generated inputs; the small core a generated model
//!   that fits it. Both simulators' results must equal the golden model's.
//! - the Cu top level (UART, link and core, the bitstream's design): in
//!   Verilator, the whole host session over the UART pins (IDENTIFY, the model's
//!   load, INFERs); in both simulators, the same UART bit stream (an IDENTIFY and
//!   its answer) for `--top-cycles` cycles, whose transmit pins must agree.
//!
//! `cargo bench -p revspike-sim --bench cosim_speed [-- OPTIONS]`
//!   --images N        inputs per core run (default 2)
//!   --top-cycles N    cycles of the top level in both simulators (default 20000)
//!   --skip-hdl        Verilator only (rust-hdl takes seconds per thousand cycles)
//!   --fresh           build into an empty cache so the first-build time is measured
//!
//! Each figure is also printed as a `figure: NAME VALUE` line for scripts/figures.sh.

use revspike_golden::{gen_input, gen_model, infer, Model};
use revspike_hdl::builds::{memories, CuCore, SmallCore};
use revspike_hdl::core_sim::RustHdlCore;
use revspike_proto::build::{Build, CU, SMALL};
use revspike_proto::core_port::{CoreDriver, CorePort, Pin};
use revspike_proto::image::compile;
use revspike_proto::protocol::{BitTiming, Client, Command, Response, Transport, MAX_WRITE_WORDS};
use revspike_sim::{Design, Model as VModel, ModelOptions, PortId, UartBridge};
use rust_hdl::prelude::*;
use std::time::Instant;

struct Args {
    images: usize,
    top_cycles: u64,
    skip_hdl: bool,
    fresh: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        images: 2,
        top_cycles: 20_000,
        skip_hdl: false,
        fresh: false,
    };
    let mut it = std::env::args().skip(1);
    let num = |it: &mut dyn Iterator<Item = String>, flag: &str| -> Result<u64, String> {
        let v = it.next().ok_or(format!("{flag} needs a number"))?;
        v.parse()
            .map_err(|_| format!("{flag}: `{v}` is not a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--images" => a.images = num(&mut it, "--images")? as usize,
            "--top-cycles" => a.top_cycles = num(&mut it, "--top-cycles")?,
            "--skip-hdl" => a.skip_hdl = true,
            "--fresh" => a.fresh = true,
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

fn figure(name: &str, value: f64) {
    println!("figure: {name} {value:.0}");
}

fn verilate(name: &str, verilog: &str) -> Result<Design, String> {
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

fn report(name: &str, sim: &str, cycles: u64, secs: f64) -> f64 {
    let rate = cycles as f64 / secs.max(1e-9);
    println!("{name:<9} {sim:<10} {cycles:>10} cycles {secs:>8.2} s {rate:>12.0} cycles/s");
    rate
}

/// The core's host port in Verilator.
struct VCore {
    model: VModel,
    ids: Vec<(Pin, PortId)>,
}

impl VCore {
    fn new(design: &Design) -> Result<Self, String> {
        let model = design.instantiate().map_err(|e| e.to_string())?;
        let ids = Pin::ALL
            .iter()
            .map(|&p| model.port(&p.verilog_name()).map(|id| (p, id)))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Self { model, ids })
    }
    fn id(&self, pin: Pin) -> PortId {
        self.ids
            .iter()
            .find(|(p, _)| *p == pin)
            .map(|(_, id)| *id)
            .expect("every pin is mapped")
    }
}

impl CorePort for VCore {
    fn poke(&mut self, pin: Pin, value: u64) {
        let id = self.id(pin);
        self.model.set_id(id, value);
    }
    fn peek(&mut self, pin: Pin) -> u64 {
        let id = self.id(pin);
        self.model.get_id(id)
    }
    fn tick(&mut self) {
        self.model.tick().expect("the Verilated core clocks");
    }
}

/// Counts the clock cycles a port is given.
struct Counted<C> {
    inner: C,
    cycles: u64,
}

impl<C: CorePort> CorePort for Counted<C> {
    fn poke(&mut self, pin: Pin, value: u64) {
        self.inner.poke(pin, value)
    }
    fn peek(&mut self, pin: Pin) -> u64 {
        self.inner.peek(pin)
    }
    fn tick(&mut self) {
        self.cycles += 1;
        self.inner.tick()
    }
}

/// Loads `model` and runs `inputs`, again and again until `min_secs` have passed;
/// returns the cycles, the seconds and the first pass's logits.
fn core_work<C: CorePort>(
    port: C,
    build: &Build,
    model: &Model,
    inputs: &[Vec<u8>],
    min_secs: f64,
) -> Result<(u64, f64, Vec<Vec<i64>>), String> {
    let image = compile(model, build);
    let mut drv = CoreDriver::new(Counted {
        inner: port,
        cycles: 0,
    });
    let t = Instant::now();
    drv.load(&image);
    let mut logits = Vec::new();
    loop {
        for x in inputs {
            drv.send_input(x).map_err(|e| e.to_string())?;
            let r = drv.run(model.classes).map_err(|e| e.to_string())?;
            if logits.len() < inputs.len() {
                logits.push(r.logits_i64());
            }
        }
        if t.elapsed().as_secs_f64() >= min_secs {
            break;
        }
    }
    Ok((drv.port.cycles, t.elapsed().as_secs_f64(), logits))
}

/// Both simulators on a core: the load, then the inputs, repeated in Verilator
/// (far faster) until a second has passed so that its run is long enough to time.
fn bench_core<const P: usize, const W: usize, const S: usize>(
    name: &str,
    build: &Build,
    model: &Model,
    inputs: &[Vec<u8>],
    hdl: impl FnOnce() -> RustHdlCore<P, W, S>,
    skip_hdl: bool,
) -> Result<(), String> {
    let gold: Vec<Vec<i64>> = inputs
        .iter()
        .map(|x| infer(model, x).map(|r| r.logits).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let verilog = revspike_hdl::builds::core_verilog(build).map_err(|e| e.to_string())?;
    let design = verilate(name, &verilog)?;
    let (c, s, logits) = core_work(VCore::new(&design)?, build, model, inputs, 1.0)?;
    if logits != gold {
        return Err(format!("{name}: Verilator's logits differ from golden"));
    }
    let v = report(name, "verilator", c, s);
    figure(&format!("{}_core_verilator_cycles_per_s", build.name), v);
    if skip_hdl {
        return Ok(());
    }
    let (c, s, logits) = core_work(hdl(), build, model, inputs, 0.0)?;
    if logits != gold {
        return Err(format!("{name}: rust-hdl's logits differ from golden"));
    }
    let h = report(name, "rust-hdl", c, s);
    figure(&format!("{}_core_rust_hdl_cycles_per_s", build.name), h);
    figure(&format!("{}_core_speedup", build.name), v / h);
    println!(
        "{name:<9} Verilator is {:.0}x rust-hdl (the load, then {} inputs; Verilator repeats \
         them for a second; every result equals golden)",
        v / h,
        inputs.len()
    );
    Ok(())
}

/// The board's UART over the Verilated top level's pins.
struct Bridge(UartBridge);

impl Transport for Bridge {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.0.send(bytes);
        Ok(())
    }
    fn recv(&mut self) -> Result<Vec<u8>, String> {
        let quiet = self.0.timing().clocks_for_bits(20);
        let mut waited = 0;
        loop {
            self.0.run(quiet).map_err(|e| e.to_string())?;
            waited += quiet;
            if (self.0.received_len() > 0 && self.0.quiet_cycles() >= quiet) || waited >= 20_000_000
            {
                return Ok(self.0.take_received());
            }
        }
    }
    fn pause(&mut self, micros: u64) -> Result<(), String> {
        self.0.run(micros * 100).map_err(|e| e.to_string())
    }
}

/// UART levels (one per clock) of `bytes` at the bit timing `t`, then idle.
fn uart_levels(bytes: &[u8], t: BitTiming, total: u64) -> Vec<bool> {
    let mut v = vec![true; t.clocks_for_bits(4) as usize];
    // Bit j lasts from edge j to edge j + 1 of the exact fractional schedule.
    let mut j = 0;
    for &b in bytes {
        let bits = std::iter::once(false)
            .chain((0..8).map(|k| (b >> k) & 1 == 1))
            .chain(std::iter::once(true));
        for bit in bits {
            let d = t.edge(j + 1) - t.edge(j);
            j += 1;
            v.resize(v.len() + d as usize, bit);
        }
    }
    v.resize(total as usize, true);
    v
}

fn bench_top(model: &Model, inputs: &[Vec<u8>], a: &Args) -> Result<(), String> {
    let verilog = revspike_hdl::top::top_verilog(&CU).map_err(|e| e.to_string())?;
    let design = verilate("cu top", &verilog)?;
    // The whole host session over the UART pins.
    let mut m = design.instantiate().map_err(|e| e.to_string())?;
    m.set("reset_n", 1).map_err(|e| e.to_string())?;
    let timing = CU.bit_timing().map_err(|e| e.to_string())?;
    let bridge = UartBridge::new(m, "usb_rx", "usb_tx", timing).map_err(|e| e.to_string())?;
    let mut c = Client::new(Bridge(bridge));
    let t = Instant::now();
    c.identify().map_err(|e| e.to_string())?;
    let chunks: Vec<(u32, Vec<u16>)> = compile(model, &CU)
        .writes()
        .into_iter()
        .flat_map(|(addr, words)| {
            let n = MAX_WRITE_WORDS;
            (0..words.len().div_ceil(n))
                .map(|k| {
                    let end = words.len().min((k + 1) * n);
                    (addr + (k * n) as u32, words[k * n..end].to_vec())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if !c.load(&chunks, 3).map_err(|e| e.to_string())? {
        return Err("cu top: the model did not load".into());
    }
    for x in inputs {
        let gold = infer(model, x).map_err(|e| e.to_string())?;
        match c
            .request(&Command::Infer { bytes: x.clone() })
            .map_err(|e| e.to_string())?
        {
            Response::Run(r) if r.logits_i64() == gold.logits => {}
            r => return Err(format!("cu top: {r:?} is not the golden answer")),
        }
    }
    let cycles = c.transport.0.model().cycles();
    let v = report("cu top", "verilator", cycles, t.elapsed().as_secs_f64());
    println!(
        "cu top    (identify, load of {} words, {} INFERs over the UART pins; results equal golden)",
        compile(model, &CU)
            .writes()
            .iter()
            .map(|(_, w)| w.len())
            .sum::<usize>(),
        inputs.len()
    );
    figure("cu_top_verilator_cycles_per_s", v);
    if a.skip_hdl {
        return Ok(());
    }
    // Both simulators on the same bit stream: an IDENTIFY and its answer.
    let frame = Command::Identify.to_frame(0).map_err(|e| e.to_string())?;
    let levels = uart_levels(&frame, timing, a.top_cycles);
    let mut m = design.instantiate().map_err(|e| e.to_string())?;
    let (rx, tx) = (
        m.input("usb_rx").map_err(|e| e.to_string())?,
        m.output("usb_tx").map_err(|e| e.to_string())?,
    );
    m.set("reset_n", 1).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut v_tx = Vec::with_capacity(levels.len());
    for &l in &levels {
        m.set_id(rx, l as u64);
        m.tick().map_err(|e| e.to_string())?;
        v_tx.push(m.get_id(tx) != 0);
    }
    let v_same = report(
        "cu top",
        "verilator",
        levels.len() as u64,
        t.elapsed().as_secs_f64(),
    );
    let mut uut = revspike_hdl::top::cu_top();
    uut.connect_all();
    uut.reset_n.next = true;
    let t = Instant::now();
    let mut h_tx = Vec::with_capacity(levels.len());
    for &l in &levels {
        uut.usb_rx.next = l;
        uut.clock.next = Clock { clk: true };
        simulate(&mut uut, 10_000);
        uut.clock.next = Clock { clk: false };
        simulate(&mut uut, 10_000);
        h_tx.push(uut.usb_tx.val());
    }
    let h = report(
        "cu top",
        "rust-hdl",
        levels.len() as u64,
        t.elapsed().as_secs_f64(),
    );
    let answered = v_tx.iter().filter(|&&b| !b).count();
    if v_tx != h_tx || answered == 0 {
        return Err(format!(
            "cu top: the transmit pins differ ({answered} low cycles in Verilator)"
        ));
    }
    println!(
        "cu top    Verilator is {:.0}x rust-hdl on the same {} cycles (an IDENTIFY and its answer; \
         transmit pins equal)",
        v_same / h,
        levels.len()
    );
    figure("cu_top_rust_hdl_cycles_per_s", h);
    figure("cu_top_speedup", v_same / h);
    Ok(())
}

fn run(a: &Args) -> Result<(), String> {
    let shipped = Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion-cu.json"
    ))
    .map_err(|e| e.to_string())?;
    let inputs: Vec<Vec<u8>> = (0..a.images as u64)
        .map(|k| gen_input(&shipped, k))
        .collect();
    bench_core(
        "cu core",
        &CU,
        &shipped,
        &inputs,
        || RustHdlCore::new(CuCore::new(memories(&CU))),
        a.skip_hdl,
    )?;
    let small = (0..)
        .map(|s| gen_model(s, &SMALL.small_gen_options()))
        .find(|m| SMALL.check(m).is_ok() && m.stages.len() > 1)
        .expect("a generated model fits the small build");
    let small_inputs: Vec<Vec<u8>> = (0..a.images as u64).map(|k| gen_input(&small, k)).collect();
    bench_core(
        "small core",
        &SMALL,
        &small,
        &small_inputs,
        || RustHdlCore::new(SmallCore::new(memories(&SMALL))),
        a.skip_hdl,
    )?;
    bench_top(&shipped, &inputs, a)
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
    let result = run(&args);
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
