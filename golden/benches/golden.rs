//! Golden-model throughput, single-threaded: inferences per second for a
//! Fashion-MNIST-sized model (784-value split input, T=4, G=196; three stages
//! of width 128 with one block each; 10 classes), plus rewind speed.
//! Run: cargo bench -p revspike-golden --bench golden

use std::time::{Duration, Instant};

use revspike_golden::{
    gen_input, gen_model_shaped, infer, Grouping, Info, Machine, Readout, Shape, ValueOptions,
};

fn main() {
    let shape = Shape {
        timesteps: 4,
        group_len: 196,
        grouping: Grouping::Split,
        classes: 10,
        readout: Readout::Sum,
        widths: vec![128, 128, 128],
        blocks: vec![1, 1, 1],
    };
    let model = gen_model_shaped(2024, &shape, &ValueOptions::default());
    let inputs: Vec<Vec<u8>> = (0..64).map(|s| gen_input(&model, s)).collect();
    let info = Info::of(&model);

    // Warm up, and measure the activity of these inputs.
    let mut sops = 0u64;
    for x in &inputs {
        sops += infer(&model, x).expect("input length").sops;
    }
    let mean_sops = sops as f64 / inputs.len() as f64;

    let budget = Duration::from_secs(3);
    let start = Instant::now();
    let mut n = 0u64;
    let mut checksum = 0i64;
    while start.elapsed() < budget {
        for x in &inputs {
            let r = infer(&model, x).expect("input length");
            checksum = checksum.wrapping_add(r.logits[r.prediction]);
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let ips = n as f64 / secs;

    let start = Instant::now();
    let mut m_steps = 0u64;
    while start.elapsed() < budget {
        for x in &inputs {
            let mut m = Machine::new(&model, x).expect("input length");
            while m.step() {}
            while m.rewind().is_ok() {}
            m_steps += 1;
        }
    }
    let fr = m_steps as f64 / start.elapsed().as_secs_f64();

    println!(
        "model: 784 split (T=4, G=196), 3 x 128 with 1 block each, 10 classes; {} weight bits",
        info.weight_bits
    );
    println!(
        "golden infer: {ips:.0} inferences/s single-threaded ({n} in {secs:.2} s; {:.1} M SOPs/s, mean {mean_sops:.0} SOPs of {} dense)",
        ips * mean_sops / 1e6,
        info.dense_sops
    );
    println!("golden forward + full rewind: {fr:.0} per second");
    println!("(checksum {checksum})");
}
