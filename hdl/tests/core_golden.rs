//! The spiking core in rust-hdl's simulator against the golden model: logits,
//! prediction and every turn-on state, after the forward pass and after each rewind.

use revspike_golden::gen::{gen_input, gen_model, GenOptions};
use revspike_golden::sim::infer;
use revspike_hdl::builds::{memories, SmallCore};
use revspike_hdl::core_sim::RustHdlCore;
use revspike_proto::build::SMALL;
use revspike_proto::core_port::{check_against_golden, CoreDriver};
use revspike_proto::image::compile;

fn small_opts() -> GenOptions {
    let mut o = GenOptions::small();
    o.max_width = SMALL.lanes;
    o.max_classes = SMALL.lanes;
    o
}

#[test]
fn generated_models_match_golden_in_rust_hdl_sim() {
    let n: u64 = std::env::var("REVSPIKE_HDL_MODELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let opts = small_opts();
    let mut checked = 0;
    for seed in 0..n * 4 {
        let model = gen_model(seed, &opts);
        if SMALL.check(&model).is_err() {
            continue;
        }
        let input = gen_input(&model, seed ^ 0x5eed);
        let mut drv = CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))));
        drv.load(&compile(&model, &SMALL));
        if let Err(e) = check_against_golden(&mut drv, &model, SMALL.lanes, &input, true) {
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

#[test]
#[ignore]
fn debug_print_some_runs() {
    let opts = small_opts();
    for seed in 0..6 {
        let model = gen_model(seed, &opts);
        if SMALL.check(&model).is_err() {
            println!("seed {seed}: does not fit");
            continue;
        }
        let input = gen_input(&model, seed ^ 0x5eed);
        let gold = infer(&model, &input).unwrap();
        let mut drv = CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))));
        drv.load(&compile(&model, &SMALL));
        drv.send_input(&input).unwrap();
        let res = drv.run(model.classes).unwrap();
        println!(
            "seed {seed}: T={} S={} widths={:?} blocks={:?} gold={:?} hw={:?} spikes={:?} cycles={}",
            model.timesteps,
            model.stages.len(),
            model.stages.iter().map(|s| s.width).collect::<Vec<_>>(),
            model.stages.iter().map(|s| s.blocks.len()).collect::<Vec<_>>(),
            gold.logits,
            res.logits,
            gold.spike_counts,
            res.cycles
        );
    }
}
