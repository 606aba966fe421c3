//! Co-simulation fast path: the emitted Verilog of the core, Verilated, driven through
//! its host port, against the golden model (logits, prediction, turn-on state after the
//! forward pass and after every rewind).

use revspike_golden::gen::{edge_cases, gen_input, gen_model, GenOptions};
use revspike_golden::model::Model;
use revspike_golden::sim::infer;
use revspike_proto::build::SMALL;
use revspike_proto::core_port::{check_against_golden, check_nothing_to_rewind_after, CoreDriver};
use revspike_proto::cycle_model::run_cycles_planned;
use revspike_proto::image::compile;
use revspike_proto::stem_plan::{stem_share, StemPlan};
use revspike_tests::VerilatedCore;

fn small_core() -> CoreDriver<VerilatedCore> {
    VerilatedCore::new(&SMALL)
        .expect("verilator builds the core")
        .driver()
}

/// The run's cycle counter is what the cycle model predicts, to the cycle (with a
/// stem, its share from the stem plan).
fn assert_cycles(model: &Model, input: &[u8], measured: u64, what: &str) {
    let gold = infer(model, input).expect("the golden model takes the input");
    let share = StemPlan::new(model, &SMALL)
        .expect("the model fits")
        .map(|plan| stem_share(&plan, model, &SMALL, input));
    let predicted = run_cycles_planned(model, &SMALL, &gold, share.as_ref());
    assert_eq!(
        measured,
        predicted.total(),
        "{what}: cycles measured on the core vs the cycle model ({predicted:?})"
    );
}

fn count() -> u64 {
    std::env::var("REVSPIKE_COSIM_MODELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// One run of `input` on the loaded `model`, bit-exact with the golden model (with every
/// rewind when `rewinds`) and with the cycle model's count; `what` names it on failure.
fn check_run(
    drv: &mut CoreDriver<VerilatedCore>,
    model: &Model,
    input: &[u8],
    rewinds: bool,
    what: &str,
) {
    let res = match check_against_golden(drv, model, SMALL.max_width, input, rewinds) {
        Ok(r) => r,
        Err(e) => panic!("{what}: {e}"),
    };
    assert_cycles(model, input, u64::from(res.cycles), what);
}

/// The first `n` generated models from `seeds` that `keep` and the small build take, each
/// bit-exact with the golden model and with the cycle model's count on two samples: one
/// without rewinds, so the next sample starts after a run that ended at the head (the
/// core's state of the last layer is the head's), then one with every rewind. Returns
/// them.
fn check_generated(
    opts: &GenOptions,
    seeds: std::ops::Range<u64>,
    n: u64,
    keep: impl Fn(&Model) -> bool,
) -> Vec<Model> {
    let mut drv = small_core();
    let mut checked = Vec::new();
    for seed in seeds {
        let model = gen_model(seed, opts);
        if !keep(&model) || SMALL.check(&model).is_err() {
            continue;
        }
        drv.load(&compile(&model, &SMALL));
        for (k, rewinds) in [(0, false), (1, true)] {
            let input = gen_input(&model, seed.wrapping_mul(31) ^ k);
            check_run(
                &mut drv,
                &model,
                &input,
                rewinds,
                &format!("seed {seed}, sample {k}"),
            );
        }
        checked.push(model);
        if checked.len() as u64 == n {
            break;
        }
    }
    assert_eq!(
        checked.len() as u64,
        n,
        "not enough generated models fit the small build"
    );
    checked
}

#[test]
fn generated_models_match_golden_in_verilator() {
    let n = count();
    check_generated(&SMALL.small_gen_options(), 1000..1000 + 8 * n, n, |_| true);
}

/// Version 2 models: the conv stem on the small build's stem unit, then the forward pass
/// and every rewind from the stem's output.
#[test]
fn generated_stem_models_match_golden_in_verilator() {
    let n = count();
    let models = check_generated(&SMALL.stem_gen_options(), 5000..5000 + 16 * n, n, |m| {
        !m.stem.is_empty()
    });
    let lines = models.iter().filter(|m| m.stem.len() > 1).count();
    assert!(
        lines * 3 >= n as usize,
        "only {lines} of {n} stems have line buffers"
    );
}

#[test]
fn edge_case_models_match_golden_in_verilator() {
    let mut drv = small_core();
    let mut checked = 0;
    for (name, model, input) in edge_cases() {
        if SMALL.check(&model).is_err() {
            continue;
        }
        drv.load(&compile(&model, &SMALL));
        check_run(&mut drv, &model, &input, true, &format!("edge case {name}"));
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} edge cases fit the small build"
    );
}

/// A sample cut short leaves the input compactor mid-group (one value before a group
/// ends, or on a page boundary); the next sample must still be read from its start.
#[test]
fn a_short_sample_does_not_leak_into_the_next() {
    let opts = SMALL.small_gen_options();
    let mut drv = small_core();
    let mut checked = 0;
    for seed in 5000..5400 {
        let model = gen_model(seed, &opts);
        let g = model.input.group_len;
        if SMALL.check(&model).is_err() || g < 2 {
            continue;
        }
        let input = gen_input(&model, seed.wrapping_mul(17));
        drv.load(&compile(&model, &SMALL));
        for cut in [g - 1, 256.min(g - 1)] {
            assert!(
                drv.send_input(&input[..cut]).is_err(),
                "seed {seed}: a sample of {cut} values was accepted"
            );
            if let Err(e) = check_against_golden(&mut drv, &model, SMALL.max_width, &input, false) {
                panic!("seed {seed}, after a sample cut at {cut}: {e}");
            }
        }
        checked += 1;
        if checked == 20 {
            break;
        }
    }
    assert_eq!(
        checked, 20,
        "not enough generated models fit the small build"
    );
}

/// A new sample replaces the one the turn-on state was run on, so nothing is left to
/// rewind: after a refused sample (a version 2 sample far longer than the model's
/// input, its bytes wrapping around the input stores, or a version 1 sample cut short)
/// and after an accepted one, REWIND is refused as at t = 0 rather than stepping back
/// with another sample's events, and the state read back is still the last run's.
/// The next run is bit-exact, rewinds included.
#[test]
fn a_new_sample_leaves_nothing_to_rewind() {
    let mut drv = small_core();
    for (stem, opts) in [
        (true, SMALL.stem_gen_options()),
        (false, SMALL.small_gen_options()),
    ] {
        let mut checked = 0;
        for seed in 7000..7400 {
            let model = gen_model(seed, &opts);
            if model.stem.is_empty() == stem || SMALL.check(&model).is_err() {
                continue;
            }
            let input = gen_input(&model, seed.wrapping_mul(13));
            let refused: Vec<u8> = if stem {
                // Enough nonzero bytes to run every store pointer around its memory.
                (0..8192).map(|i| 1 + (i % 251) as u8).collect()
            } else {
                input[..input.len() - 1].to_vec()
            };
            let other = gen_input(&model, seed.wrapping_mul(29));
            drv.load(&compile(&model, &SMALL));
            for (sample, accepted) in [(&refused, false), (&other, true)] {
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
            if let Err(e) = check_against_golden(&mut drv, &model, SMALL.max_width, &input, true) {
                panic!("seed {seed}, after a new sample: {e}");
            }
            checked += 1;
            if checked == 6 {
                break;
            }
        }
        assert_eq!(
            checked, 6,
            "not enough generated models (stem: {stem}) fit the small build"
        );
    }
}
