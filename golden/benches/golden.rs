//! Golden-model throughput, single-threaded, inferences per second:
//!
//! - dense: a Fashion-MNIST-sized model (784-value split input, T=4, G=196;
//!   three stages of width 128 with one block each; 10 classes);
//! - conv: a version 2 model with a stem (28 x 28 x 1 repeat input; 3x3 conv
//!   1 -> 16 stride 2 pad 1, 3x3 conv 16 -> 16 stride 2 pad 1; then one stage of
//!   width 64 with 2 blocks; T=2; 10 classes).
//!
//! Each prints the prepared [`Engine`] (built once per model, as `revspike
//! eval` uses it), `infer` (which prepares the model on every call), forward
//! plus a full rewind, and the plain reference implementation of the spec
//! (`infer_reference`, the algorithm the golden model used before the engine)
//! measured in the same run, so the speed-up does not depend on the machine's load.
//! Run: cargo bench -p revspike-golden --bench golden

use std::time::{Duration, Instant};

use revspike_golden::{
    gen_input, gen_model_shaped, gen_model_stem_shaped, infer, infer_reference, ConvShape, Engine,
    Grouping, Info, Model, Readout, Shape, StemShape, ValueOptions,
};

/// CPU time of this thread in seconds (Linux), to report figures that do
/// not depend on how busy the machine is.
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

/// Calls per second of wall time and, when known, per second of CPU time.
#[derive(Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: Option<f64>,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0}/s", self.wall)?;
        if let Some(c) = self.cpu {
            write!(f, " ({c:.0} per CPU-second)")?;
        }
        Ok(())
    }
}

/// Calls `f` on the inputs in turn for about `secs` seconds.
fn rate(inputs: &[Vec<u8>], secs: f64, mut f: impl FnMut(&[u8]) -> i64) -> Rate {
    let budget = Duration::from_secs_f64(secs);
    let cpu0 = cpu_secs();
    let start = Instant::now();
    let mut n = 0u64;
    let mut checksum = 0i64;
    while start.elapsed() < budget {
        for x in inputs {
            checksum = checksum.wrapping_add(f(x));
            n += 1;
        }
    }
    std::hint::black_box(checksum);
    let wall = n as f64 / start.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_secs()) {
        (Some(a), Some(b)) if b > a => Some(n as f64 / (b - a)),
        _ => None,
    };
    Rate { wall, cpu }
}

fn bench(label: &str, model: &Model, inputs: &[Vec<u8>]) {
    let info = Info::of(model);
    let engine = Engine::new(model);
    let mut sops = 0u64;
    for x in inputs {
        let r = engine.infer(x).expect("input length");
        assert_eq!(r, infer_reference(model, x).expect("input length"));
        sops += r.sops;
    }
    let mean_sops = sops as f64 / inputs.len() as f64;
    let fast = rate(inputs, 3.0, |x| {
        let r = engine.infer(x).expect("input length");
        r.logits[r.prediction]
    });
    let classify = rate(inputs, 2.0, |x| {
        let r = engine.classify(x).expect("input length");
        r.logits[r.prediction]
    });
    let fresh = rate(inputs, 1.0, |x| {
        let r = infer(model, x).expect("input length");
        r.logits[r.prediction]
    });
    let rewind = rate(inputs, 2.0, |x| {
        let mut m = engine.machine(x).expect("input length");
        while m.step() {}
        while m.rewind().is_ok() {}
        m.state()[0][0] as i64
    });
    let reference = rate(inputs, 2.0, |x| {
        let r = infer_reference(model, x).expect("input length");
        r.logits[r.prediction]
    });
    let speedup = |r: Rate| match (r.cpu, reference.cpu) {
        (Some(a), Some(b)) => a / b,
        _ => r.wall / reference.wall,
    };
    println!(
        "{label}: {} weight bits, mean {mean_sops:.0} SOPs of {} dense",
        info.weight_bits, info.dense_sops
    );
    println!("  golden infer (prepared Engine): {fast} single-threaded");
    println!("  golden classify (logits only):  {classify}");
    println!("  infer() preparing every call:   {fresh}");
    println!("  forward + full rewind:          {rewind}");
    println!("  reference implementation:       {reference}");
    println!(
        "  engine vs reference: infer {:.1}x, classify {:.1}x",
        speedup(fast),
        speedup(classify)
    );
}

fn main() {
    let dense = gen_model_shaped(
        2024,
        &Shape {
            timesteps: 4,
            group_len: 196,
            grouping: Grouping::Split,
            classes: 10,
            readout: Readout::Sum,
            widths: vec![128, 128, 128],
            blocks: vec![1, 1, 1],
        },
        &ValueOptions::default(),
    );
    let inputs: Vec<Vec<u8>> = (0..64).map(|s| gen_input(&dense, s)).collect();
    bench(
        "dense: 784 split (T=4, G=196), 3 x 128 with 1 block each, 10 classes",
        &dense,
        &inputs,
    );

    let conv3 = |co, s| ConvShape {
        out_channels: co,
        kernel: 3,
        stride: s,
        padding: 1,
    };
    let conv = gen_model_stem_shaped(
        2025,
        &Shape {
            timesteps: 2,
            group_len: 784,
            grouping: Grouping::Repeat,
            classes: 10,
            readout: Readout::Sum,
            widths: vec![64],
            blocks: vec![2],
        },
        &StemShape {
            input: [28, 28, 1],
            layers: vec![conv3(16, 2), conv3(16, 2)],
        },
        &ValueOptions::default(),
    );
    let inputs: Vec<Vec<u8>> = (0..64).map(|s| gen_input(&conv, s)).collect();
    bench(
        "conv: 28x28x1 repeat, stem 3x3 1->16 s2 p1, 3x3 16->16 s2 p1, 64 wide with 2 blocks, T=2",
        &conv,
        &inputs,
    );
}
