//! The shipped Fashion-MNIST model (models/fashion-cu.json): it fits the Alchitry Cu
//! build, the golden integer model keeps its accuracy on the whole test set, and the
//! Verilated Cu core agrees with the golden model bit for bit on a sample of images.

use revspike_golden::model::Model;
use revspike_golden::sim::infer;
use revspike_proto::build::CU;
use revspike_proto::core_port::check_against_golden;
use revspike_proto::cycle_model::run_cycles;
use revspike_proto::image::compile;
use revspike_tests::{fashion_idx, VerilatedCore};

fn test_set() -> (Vec<Vec<u8>>, Vec<u8>) {
    let images = fashion_idx("t10k-images-idx3-ubyte.gz", 16);
    let labels = fashion_idx("t10k-labels-idx1-ubyte.gz", 8);
    let images: Vec<Vec<u8>> = images.chunks(784).map(|c| c.to_vec()).collect();
    assert_eq!(images.len(), 10_000);
    assert_eq!(labels.len(), 10_000);
    (images, labels)
}

fn model() -> Model {
    Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion-cu.json"
    ))
    .expect("shipped model loads")
}

#[test]
fn shipped_model_fits_the_cu_build() {
    CU.check(&model()).expect("fits");
}

#[test]
fn golden_accuracy_on_the_full_test_set() {
    let m = model();
    let (images, labels) = test_set();
    let mut correct = 0;
    let mut wraps = 0;
    for (img, &label) in images.iter().zip(&labels) {
        let r = infer(&m, img).expect("input length matches");
        correct += (r.prediction == label as usize) as usize;
        wraps += r.wraps;
    }
    // The exporter measured the accuracy with the Python integer reference on the
    // file as written; the golden model must count exactly the same images right.
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/fashion-cu.metrics.json"
        ))
        .expect("models/fashion-cu.metrics.json"),
    )
    .expect("metrics parse");
    let exported = metrics["int_test_accuracy"]
        .as_f64()
        .expect("int_test_accuracy");
    assert_eq!(
        correct,
        (exported * 10_000.0).round() as usize,
        "golden model and export.py disagree on the test-set accuracy"
    );
    let acc = correct as f64 / 100.0;
    assert!(
        acc >= 88.0,
        "golden accuracy {acc:.2}% below the 88% goal of the shipped model"
    );
    assert_eq!(
        wraps, 0,
        "a correctly quantized model never wraps its membranes"
    );
}

#[test]
fn verilated_cu_core_agrees_with_golden_on_a_sample() {
    let m = model();
    let (images, _) = test_set();
    let n: usize = std::env::var("REVSPIKE_SHIPPED_SAMPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut drv = VerilatedCore::new(&CU)
        .expect("verilator builds the Cu core")
        .driver();
    drv.load(&compile(&m, &CU));
    let mut cycles = 0;
    for (k, img) in images.iter().take(n).enumerate() {
        // Rewinds on every fourth image: the turn-on state must step back exactly too.
        match check_against_golden(&mut drv, &m, CU.max_width, img, k % 4 == 0) {
            Ok(r) => {
                // The cycle model the docs' figures come from, to the cycle.
                let gold = infer(&m, img).expect("the golden model takes the image");
                assert_eq!(
                    u64::from(r.cycles),
                    run_cycles(&m, &CU, &gold).total(),
                    "test image {k}: cycles measured vs the cycle model"
                );
                cycles += r.cycles;
            }
            Err(e) => panic!("test image {k}: {e}"),
        }
    }
    eprintln!(
        "Cu core (Verilator): {} test images bit-exact with the golden model, {:.0} core cycles per image",
        n.min(images.len()),
        cycles as f64 / n.min(images.len()) as f64
    );
}
