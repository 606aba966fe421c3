//! The spiking core in rust-hdl's simulator against the golden model: logits,
//! prediction and every turn-on state, after the forward pass and after each rewind.

use revspike_golden::gen::{gen_input, gen_model, GenOptions};
use revspike_golden::model::Model;
use revspike_hdl::builds::{memories, SmallCore};
use revspike_hdl::core_sim::RustHdlCore;
use revspike_proto::build::SMALL;
use revspike_proto::core_port::{check_against_golden, CoreDriver};
use revspike_proto::image::compile;

/// The first `n` generated models from `seeds` that `keep` and the small build take, each
/// bit-exact with the golden model, with rewinds.
fn check_generated(
    opts: &GenOptions,
    seeds: std::ops::Range<u64>,
    n: u64,
    keep: impl Fn(&Model) -> bool,
) {
    let mut checked = 0;
    for seed in seeds {
        let model = gen_model(seed, opts);
        if !keep(&model) || SMALL.check(&model).is_err() {
            continue;
        }
        let mut drv = CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))));
        drv.load(&compile(&model, &SMALL));
        // Two samples: the second starts after a run that ended at the head.
        for (k, rewinds) in [(0, false), (1, true)] {
            let input = gen_input(&model, seed ^ 0x5eed ^ k);
            if let Err(e) = check_against_golden(&mut drv, &model, SMALL.max_width, &input, rewinds)
            {
                panic!("seed {seed}, sample {k}: {e}");
            }
        }
        checked += 1;
        if checked == n {
            break;
        }
    }
    assert_eq!(
        checked, n,
        "not enough generated models fit the small build"
    );
}

fn count(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

#[test]
fn generated_models_match_golden_in_rust_hdl_sim() {
    let n = count("REVSPIKE_HDL_MODELS");
    check_generated(&SMALL.small_gen_options(), 0..n * 4, n, |_| true);
}

/// Version 2 models whose conv stems run on the small build's stem unit.
#[test]
fn generated_stem_models_match_golden_in_rust_hdl_sim() {
    let n = count("REVSPIKE_HDL_STEM_MODELS");
    check_generated(&SMALL.stem_gen_options(), 0..n * 8, n, |m| {
        !m.stem.is_empty()
    });
}

#[test]
fn edge_case_models_match_golden_in_rust_hdl_sim() {
    let mut checked = 0;
    for (name, model, input) in revspike_golden::gen::edge_cases() {
        if SMALL.check(&model).is_err() {
            continue;
        }
        let mut drv = CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))));
        drv.load(&compile(&model, &SMALL));
        if let Err(e) = check_against_golden(&mut drv, &model, SMALL.max_width, &input, true) {
            panic!("edge case {name}: {e}");
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} edge cases fit the small build"
    );
}

/// A new sample, refused (cut short) or accepted, leaves nothing to rewind (the
/// Verilator suite's `a_new_sample_leaves_nothing_to_rewind` covers long version 2
/// samples too).
#[test]
fn a_new_sample_leaves_nothing_to_rewind_in_rust_hdl_sim() {
    use revspike_proto::core_port::check_nothing_to_rewind_after;
    let opts = SMALL.small_gen_options();
    let mut checked = 0;
    for seed in 7000..7100 {
        let model = gen_model(seed, &opts);
        if !model.stem.is_empty() || SMALL.check(&model).is_err() {
            continue;
        }
        let input = gen_input(&model, seed ^ 0x5eed);
        let other = gen_input(&model, seed ^ 0xface);
        let mut drv = CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))));
        drv.load(&compile(&model, &SMALL));
        for (sample, accepted) in [(&input[..input.len() - 1], false), (&other[..], true)] {
            if let Err(e) = check_nothing_to_rewind_after(
                &mut drv,
                &model,
                SMALL.max_width,
                &input,
                sample,
                accepted,
            ) {
                panic!("seed {seed} (accepted: {accepted}): {e}");
            }
        }
        checked += 1;
        if checked == 2 {
            break;
        }
    }
    assert_eq!(
        checked, 2,
        "not enough generated models fit the small build"
    );
}
