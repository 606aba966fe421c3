//! Prints how active generated models are: the share of turn-on neurons that
//! fire per timestep, the share of models with any wrap, and SOP density.
//! Usage: cargo run --release -p revspike-golden --example activity [N] [small|default] [avoid-wraps]

use revspike_golden::{gen_input, gen_model, infer, GenOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(500);
    let mut opts = match args.next().as_deref() {
        Some("default") => GenOptions::default(),
        _ => GenOptions::small(),
    };
    opts.avoid_wraps = args.next().as_deref() == Some("avoid-wraps");
    let (mut fired, mut neurons, mut wrapped, mut silent) = (0u64, 0u64, 0u64, 0u64);
    let (mut sops, mut dense) = (0u64, 0u64);
    for seed in 0..n {
        let m = gen_model(seed, &opts);
        let x = gen_input(&m, seed);
        let Ok(r) = infer(&m, &x) else { continue };
        let f: u64 = r.spike_counts.iter().sum();
        fired += f;
        neurons += m.timesteps as u64 * m.stages.iter().map(|s| s.width as u64).sum::<u64>();
        wrapped += (r.wraps > 0) as u64;
        silent += (f == 0) as u64;
        sops += r.sops;
        dense += revspike_golden::Info::of(&m).dense_sops;
    }
    println!(
        "{n} models: {:.1}% of turn-on neurons fire per timestep, {} models with no spike, {} with a wrap, SOPs {:.1}% of dense",
        100.0 * fired as f64 / neurons.max(1) as f64,
        silent,
        wrapped,
        100.0 * sops as f64 / dense.max(1) as f64
    );
}
