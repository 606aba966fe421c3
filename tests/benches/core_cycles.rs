//! Cycles per inference of the core against the ideal, on the emitted Verilog.
//!
//! The model of the core issue: a 784-value split input (T = 4, G = 196), three stages
//! of width 128 with one block each, 10 classes, run on the 128-lane `wide` build.
//! Inputs are Fashion-MNIST test images when the dataset is installed (realistic input
//! sparsity), generated inputs otherwise. The ideal is the issue's: the sum over every
//! layer evaluation of ceil(out / P) times its nonzero inputs. Also printed: the
//! neuron-bound ideal, which adds one cycle per output neuron (the requantization the
//! core does once per neuron, one neuron per cycle).
//!
//! `cargo bench -p revspike-tests --bench core_cycles` (REVSPIKE_BENCH_SAMPLES=N).

use revspike_golden::gen::{gen_input, gen_model_shaped, Shape, ValueOptions};
use revspike_golden::model::{Grouping, Readout};
use revspike_golden::sim::infer;
use revspike_proto::build::WIDE;
use revspike_proto::core_port::check_against_golden;
use revspike_proto::image::compile;
use revspike_tests::VerilatedCore;

fn fashion_images(n: usize) -> Option<Vec<Vec<u8>>> {
    use std::io::Read;
    let path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    let f = std::fs::File::open(path).ok()?;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f).read_to_end(&mut raw).ok()?;
    if raw.len() < 16 {
        return None;
    }
    Some(raw[16..].chunks(784).take(n).map(|c| c.to_vec()).collect())
}

fn main() {
    let n: usize = std::env::var("REVSPIKE_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let shape = Shape {
        timesteps: 4,
        group_len: 196,
        grouping: Grouping::Split,
        classes: 10,
        readout: Readout::Sum,
        widths: vec![128, 128, 128],
        blocks: vec![1, 1, 1],
    };
    let model = gen_model_shaped(42, &shape, &ValueOptions::default());
    if let Err(e) = WIDE.check(&model) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let (inputs, source) = match fashion_images(n) {
        Some(v) => (v, "Fashion-MNIST test images"),
        None => (
            (0..n as u64).map(|s| gen_input(&model, s)).collect(),
            "generated inputs",
        ),
    };
    eprintln!("building the Verilated {}-lane core ...", WIDE.lanes);
    let mut drv = VerilatedCore::new(&WIDE)
        .expect("verilator builds the wide core")
        .driver();
    drv.load(&compile(&model, &WIDE));
    let p = WIDE.lanes;
    let (mut cycles, mut ideal, mut neuron_ideal, mut events, mut evals) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let t0 = std::time::Instant::now();
    for (k, input) in inputs.iter().enumerate() {
        let res = match check_against_golden(&mut drv, &model, WIDE.max_width, input, false) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: sample {k}: {e}");
                std::process::exit(1);
            }
        };
        let gold = infer(&model, input).unwrap();
        cycles += u64::from(res.cycles);
        for &(nz, out) in &gold.layer_events {
            let tiles = out.div_ceil(p) as u64;
            ideal += tiles * nz as u64;
            neuron_ideal += tiles * nz as u64 + out as u64;
            events += nz as u64;
            evals += 1;
        }
    }
    let s = inputs.len() as f64;
    println!("core cycles: 3 stages x 128, 1 block each, T=4, G=196 split, 10 classes, P={p}, {} {source}", inputs.len());
    println!("  cycles per inference        {:>10.0}", cycles as f64 / s);
    println!("  ideal (sum ceil(out/P)*nnz) {:>10.0}", ideal as f64 / s);
    println!(
        "  ratio to ideal              {:>10.2}",
        cycles as f64 / ideal as f64
    );
    println!(
        "  neuron-bound ideal (+out)   {:>10.0}",
        neuron_ideal as f64 / s
    );
    println!(
        "  ratio to neuron-bound ideal {:>10.2}",
        cycles as f64 / neuron_ideal as f64
    );
    println!(
        "  nonzero inputs per layer    {:>10.1}",
        events as f64 / evals as f64
    );
    println!(
        "  fixed overhead per layer    {:>10.1}",
        (cycles as f64 - neuron_ideal as f64) / evals as f64
    );
    println!(
        "  inference time at 100 MHz   {:>10.1} us",
        cycles as f64 / s / 100.0
    );
    println!(
        "  (all {} results bit-exact with the golden model; {:.1} s wall)",
        inputs.len(),
        t0.elapsed().as_secs_f64()
    );
}
