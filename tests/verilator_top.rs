//! The emitted Verilog of the whole board top level (UART, link, core), Verilated and
//! driven over its UART pins exactly as the host drives the board: every link
//! conformance scenario (bad CRCs, truncated and oversized frames, garbage between
//! frames, a reset in the middle of a load, a half frame timing out), then generated
//! models loaded and run end to end against the golden model.

use revspike_golden::gen::{gen_input, gen_model};
use revspike_golden::sim::infer;
use revspike_proto::build::SMALL;
use revspike_proto::image::compile;
use revspike_proto::protocol::{conformance, Client, Command, Response};
use revspike_tests::BridgeTransport;

fn client() -> Client<BridgeTransport> {
    Client::new(BridgeTransport::new(&SMALL).expect("verilator builds the small top level"))
}

#[test]
fn link_conformance_on_the_verilated_top_level() {
    let mut c = client();
    let info = SMALL.info();
    if let Err(e) = conformance::all(&mut c, &info, 2_000) {
        panic!("{e}");
    }
}

#[test]
fn generated_models_over_the_uart_match_golden() {
    let mut c = client();
    let opts = SMALL.small_gen_options();
    let mut checked = 0;
    for seed in 7000..7400 {
        let model = gen_model(seed, &opts);
        if SMALL.check(&model).is_err() {
            continue;
        }
        let image = compile(&model, &SMALL);
        assert!(
            c.load(&image.writes(), 3).expect("load"),
            "seed {seed}: model not loaded"
        );
        for k in 0..3 {
            let input = gen_input(&model, seed * 10 + k);
            let gold = infer(&model, &input).unwrap();
            match c
                .request(&Command::Infer {
                    bytes: input.clone(),
                })
                .expect("infer")
            {
                Response::Run(r) => {
                    let logits: Vec<i64> = r.logits.iter().map(|&v| v as i64).collect();
                    assert_eq!(logits, gold.logits, "seed {seed} input {k}: logits");
                    assert_eq!(
                        r.prediction as usize, gold.prediction,
                        "seed {seed}: prediction"
                    );
                    assert_eq!(
                        r.timesteps as usize, model.timesteps,
                        "seed {seed}: timesteps"
                    );
                }
                r => panic!("seed {seed}: unexpected response {r:?}"),
            }
        }
        checked += 1;
        if checked == 8 {
            break;
        }
    }
    assert_eq!(checked, 8);
}
