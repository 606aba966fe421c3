//! The spiking core in rust-hdl's simulator against the golden model: logits,
//! prediction and every turn-on state, after the forward pass and after each rewind.

use revspike_golden::gen::{gen_input, gen_model, GenOptions};
use revspike_hdl::builds::{memories, SmallCore};
use revspike_hdl::core_sim::RustHdlCore;
use revspike_proto::build::SMALL;
use revspike_proto::core_port::{check_against_golden, CoreDriver};
use revspike_proto::image::compile;

#[test]
fn generated_models_match_golden_in_rust_hdl_sim() {
    let n: u64 = std::env::var("REVSPIKE_HDL_MODELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let opts = SMALL.small_gen_options();
    let mut checked = 0;
    for seed in 0..n * 4 {
        let model = gen_model(seed, &opts);
        if SMALL.check(&model).is_err() {
            continue;
        }
        let input = gen_input(&model, seed ^ 0x5eed);
        let mut drv = CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))));
        drv.load(&compile(&model, &SMALL));
        if let Err(e) = check_against_golden(&mut drv, &model, SMALL.max_width, &input, true) {
            panic!("seed {seed}: {e}");
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

/// Version 2 models whose conv stems run on the small build's stem unit.
#[test]
fn generated_stem_models_match_golden_in_rust_hdl_sim() {
    let n: u64 = std::env::var("REVSPIKE_HDL_STEM_MODELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let opts = GenOptions {
        max_stem_layers: 4,
        max_stem_channels: SMALL.lanes,
        ..SMALL.small_gen_options()
    };
    let mut checked = 0;
    for seed in 0..n * 8 {
        let model = gen_model(seed, &opts);
        if model.stem.is_empty() || SMALL.check(&model).is_err() {
            continue;
        }
        let input = gen_input(&model, seed ^ 0x5eed);
        let mut drv = CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))));
        drv.load(&compile(&model, &SMALL));
        if let Err(e) = check_against_golden(&mut drv, &model, SMALL.max_width, &input, true) {
            panic!("seed {seed}: {e}");
        }
        checked += 1;
        if checked == n {
            break;
        }
    }
    assert_eq!(
        checked, n,
        "not enough generated stem models fit the small build"
    );
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
