//! Forward followed by T rewinds returns exactly to the zero state and passes
//! through every forward state (SEMANTICS.md "Reversibility").

use revspike_golden::{
    edge_cases, gen_input, gen_model, infer, GenOptions, Machine, Model, RewindError,
};

/// Runs forward, then rewinds to zero, checking every intermediate state,
/// spikes and logits against the forward trajectory.
fn check_rewind(model: &Model, input: &[u8]) {
    let mut m = Machine::new(model, input).expect("input length");
    let mut traj = vec![(m.state().to_vec(), m.spikes().to_vec(), m.logits().to_vec())];
    while m.step() {
        traj.push((m.state().to_vec(), m.spikes().to_vec(), m.logits().to_vec()));
    }
    assert_eq!(m.t(), model.timesteps);
    let h_sum: usize = model
        .stages
        .iter()
        .flat_map(|s| s.decay.shift.iter())
        .map(|&h| h as usize)
        .sum();
    assert_eq!(m.buffer_bits(), (model.timesteps - 1) * h_sum);
    for t in (0..model.timesteps).rev() {
        m.rewind().expect("rewind");
        assert_eq!(m.t(), t);
        assert_eq!(
            m.state(),
            &traj[t].0[..],
            "{}: state after rewind to t={t}",
            model.name
        );
        assert_eq!(
            m.spikes(),
            &traj[t].1[..],
            "{}: spikes after rewind to t={t}",
            model.name
        );
        assert_eq!(
            m.logits(),
            &traj[t].2[..],
            "{}: logits after rewind to t={t}",
            model.name
        );
    }
    assert!(m.state().iter().all(|c| c.iter().all(|&x| x == 0)));
    assert!(m.buffer().is_empty());
    assert_eq!(m.rewind(), Err(RewindError::AtStart));
    // And forward again reproduces the same trajectory.
    for (t, expect) in traj.iter().enumerate().skip(1) {
        assert!(m.step());
        assert_eq!(m.state(), &expect.0[..], "{}: replay t={t}", model.name);
    }
}

#[test]
fn rewind_restores_every_state_on_1000_generated_models() {
    let opts = GenOptions::small();
    let mut fired = 0u64;
    let mut wraps = 0u64;
    for seed in 0..1000u64 {
        let model = gen_model(seed, &opts);
        model.validate().expect("generated model is valid");
        let input = gen_input(&model, seed);
        check_rewind(&model, &input);
        let inf = infer(&model, &input).unwrap();
        fired += inf.spike_counts.iter().sum::<u64>();
        wraps += inf.wraps;
    }
    assert!(fired > 0);
    eprintln!("spikes fired over 1000 models: {fired}, wraps: {wraps}");
}

/// The same property over version 2 models: the stem's output is recomputed
/// from the same group on every rewind (each group with `split`).
#[test]
fn rewind_restores_every_state_on_1000_generated_v2_models() {
    let opts = GenOptions {
        max_stem_layers: 4,
        ..GenOptions::small()
    };
    let (mut stem_sops, mut split) = (0u64, 0u32);
    for seed in 0..1000u64 {
        let model = gen_model(seed, &opts);
        assert!(!model.stem.is_empty(), "seed {seed}: no stem");
        model.validate().expect("generated model is valid");
        let input = gen_input(&model, seed);
        check_rewind(&model, &input);
        stem_sops += infer(&model, &input).unwrap().stem_sops;
        split += (model.input.grouping == revspike_golden::Grouping::Split) as u32;
    }
    assert!(stem_sops > 0);
    assert!(split > 100, "only {split} split models");
}

#[test]
fn rewind_restores_every_state_on_edge_cases() {
    for (name, model, input) in edge_cases() {
        model.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        check_rewind(&model, &input);
    }
}

/// The exhaustive sweep over the whole spec (widths up to 1024); slow, run
/// with `cargo test --release -- --ignored`. REVSPIKE_SWEEP sets the count.
#[test]
#[ignore]
fn rewind_sweep_full_spec() {
    let n: u64 = std::env::var("REVSPIKE_SWEEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let opts = GenOptions::default();
    for seed in 0..n {
        let model = gen_model(seed, &opts);
        let input = gen_input(&model, seed);
        check_rewind(&model, &input);
    }
}
