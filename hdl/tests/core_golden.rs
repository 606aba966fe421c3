//! The spiking core in rust-hdl's simulator against the golden model: logits,
//! prediction and every turn-on state, after the forward pass and after each rewind.

use revspike_golden::gen::{gen_input, gen_model, GenOptions};
use revspike_golden::model::Model;
use revspike_golden::sim::{infer, Machine};
use revspike_hdl::builds::{memories, SmallCore};
use revspike_hdl::core_sim::RustHdlCore;
use revspike_proto::build::SMALL;
use revspike_proto::core_port::{CoreDriver, CorePort};
use revspike_proto::image::compile;

fn small_opts() -> GenOptions {
    let mut o = GenOptions::small();
    o.max_width = SMALL.lanes;
    o.max_classes = SMALL.lanes;
    o
}

/// Runs `model` on `input` through `drv` and checks it against the golden model.
pub fn check_against_golden<C: CorePort>(
    drv: &mut CoreDriver<C>,
    model: &Model,
    input: &[u8],
    what: &str,
) {
    let lanes = SMALL.lanes;
    let gold = infer(model, input).unwrap();
    drv.send_input(input)
        .unwrap_or_else(|e| panic!("{what}: input: {e}"));
    let res = drv
        .run(model.classes)
        .unwrap_or_else(|e| panic!("{what}: run: {e}"));
    assert_eq!(res.logits, gold.logits, "{what}: logits");
    assert_eq!(res.prediction, gold.prediction, "{what}: prediction");
    assert_eq!(res.timesteps_done, model.timesteps, "{what}: timesteps");
    let widths: Vec<usize> = model.stages.iter().map(|s| s.width).collect();
    let mut m = Machine::new(model, input).unwrap();
    while m.step() {}
    assert_eq!(
        drv.state(lanes, &widths),
        m.state(),
        "{what}: state after forward"
    );
    for k in 0..model.timesteps {
        drv.rewind()
            .unwrap_or_else(|e| panic!("{what}: rewind {k}: {e}"));
        m.rewind().unwrap();
        assert_eq!(
            drv.state(lanes, &widths),
            m.state(),
            "{what}: state after rewind {}",
            k + 1
        );
        assert_eq!(
            drv.timesteps_done(),
            m.t(),
            "{what}: t after rewind {}",
            k + 1
        );
    }
    assert!(
        drv.rewind().is_err(),
        "{what}: rewinding past t = 0 must be refused"
    );
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
        check_against_golden(&mut drv, &model, &input, &format!("seed {seed}"));
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
