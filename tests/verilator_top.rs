//! The emitted Verilog of the whole board top level (UART, link, core), Verilated and
//! driven over its UART pins exactly as the host drives the board: every link
//! conformance scenario (bad CRCs, truncated and oversized frames, garbage between
//! frames, a reset in the middle of a load, a half frame timing out), then generated
//! models loaded and run end to end against the golden model; and the shipped Cu
//! build's top level (the bitstream's design) running the shipped model on
//! Fashion-MNIST test images.

use revspike_golden::gen::{gen_input, gen_model};
use revspike_golden::sim::infer;
use revspike_proto::build::{CU, SMALL};
use revspike_proto::image::compile;
use revspike_proto::protocol::{conformance, Client, Command, Response, MAX_WRITE_WORDS};
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

/// The first `n` Fashion-MNIST test images (generated inputs where the dataset is
/// not installed, so the check still runs).
fn test_images(model: &revspike_golden::Model, n: usize) -> Vec<Vec<u8>> {
    use std::io::Read;
    let path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    let Ok(f) = std::fs::File::open(path) else {
        eprintln!("{path} not installed: generated inputs instead");
        return (0..n as u64).map(|k| gen_input(model, k)).collect();
    };
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f)
        .take(16 + 784 * n as u64)
        .read_to_end(&mut raw)
        .expect("the dataset unpacks");
    raw[16..].chunks(784).map(|c| c.to_vec()).collect()
}

#[test]
fn the_shipped_model_on_the_cu_top_level_matches_golden() {
    let model = revspike_golden::Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion-cu.json"
    ))
    .expect("the shipped model loads");
    let mut c = Client::new(BridgeTransport::new(&CU).expect("verilator builds the Cu top level"));
    assert_eq!(c.identify().expect("identify"), CU.info());
    // WRITE frames of at most MAX_WRITE_WORDS, as the host sends them.
    let chunks: Vec<(u32, Vec<u16>)> = compile(&model, &CU)
        .writes()
        .into_iter()
        .flat_map(|(addr, words)| {
            let n = MAX_WRITE_WORDS;
            (0..words.len().div_ceil(n))
                .map(|k| {
                    let end = words.len().min((k + 1) * n);
                    (addr + (k * n) as u32, words[k * n..end].to_vec())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(c.load(&chunks, 3).expect("load"), "model not loaded");
    for (k, input) in test_images(&model, 3).into_iter().enumerate() {
        let gold = infer(&model, &input).unwrap();
        match c.request(&Command::Infer { bytes: input }).expect("infer") {
            Response::Run(r) => {
                let logits: Vec<i64> = r.logits.iter().map(|&v| v as i64).collect();
                assert_eq!(logits, gold.logits, "image {k}: logits");
                assert_eq!(r.prediction as usize, gold.prediction, "image {k}");
                assert_eq!(r.timesteps as usize, model.timesteps, "image {k}");
                assert!(r.cycles > 0, "image {k}: no cycles counted");
            }
            r => panic!("image {k}: unexpected response {r:?}"),
        }
    }
}
