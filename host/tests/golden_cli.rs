//! The golden-model subcommands with version 2 models and `eval`: the
//! `--trace` layout (states and rewound states), stem options of gen-model,
//! bounded model reads, and eval's accuracy on the shipped model.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use revspike_golden::{gen_input, gen_model, infer, GenOptions, Model};
use serde_json::Value;

fn bin() -> Command {
    Command::cargo_bin("revspike").unwrap()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revspike-gcli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stdout(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-cu.json")
}

fn write_model(d: &Path, m: &Model) -> PathBuf {
    let p = d.join(format!("{}.json", m.name));
    m.save(&p).unwrap();
    p
}

fn write_input(d: &Path, name: &str, x: &[u8]) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, serde_json::to_string(x).unwrap()).unwrap();
    p
}

#[test]
fn golden_trace_has_states_and_rewound_states() {
    let d = tmpdir("trace");
    let stems = GenOptions {
        max_stem_layers: 3,
        ..GenOptions::small()
    };
    for (k, model) in [
        gen_model(3, &GenOptions::small()),
        gen_model(4, &stems),
        gen_model(5, &stems),
    ]
    .iter()
    .enumerate()
    {
        let x = gen_input(model, 11);
        let mp = write_model(&d, model);
        let xp = write_input(&d, &format!("x{k}.json"), &x);
        let v: Value = serde_json::from_str(&stdout(
            bin().arg("golden").arg("--trace").arg(&mp).arg(&xp),
        ))
        .unwrap();
        let r = infer(model, &x).unwrap();
        assert_eq!(v["logits"], serde_json::json!(r.logits));
        assert_eq!(v["prediction"], r.prediction);
        assert_eq!(v["wraps"], r.wraps);
        let states: Vec<Vec<Vec<i16>>> = serde_json::from_value(v["states"].clone()).unwrap();
        let rewound: Vec<Vec<Vec<i16>>> = serde_json::from_value(v["rewound"].clone()).unwrap();
        assert_eq!(states, r.states);
        let t = model.timesteps;
        assert_eq!(rewound.len(), t);
        // Rewinding k timesteps from the end gives the state after T-k timesteps.
        for k in 1..t {
            assert_eq!(rewound[k - 1], states[t - 1 - k], "k = {k}");
        }
        assert!(rewound[t - 1].iter().flatten().all(|&c| c == 0));
        assert_eq!(rewound[t - 1].len(), model.stages.len());
    }
    // Without --trace neither field appears.
    let m = gen_model(3, &GenOptions::small());
    let mp = write_model(&d, &m);
    let xp = write_input(&d, "plain.json", &gen_input(&m, 1));
    let v: Value = serde_json::from_str(&stdout(bin().arg("golden").arg(&mp).arg(&xp))).unwrap();
    assert!(v.get("states").is_none() && v.get("rewound").is_none());
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn gen_model_makes_version_2_models_only_when_asked() {
    let d = tmpdir("genstem");
    let v1 = stdout(bin().args(["gen-model", "--seed", "9", "--max-width", "16"]));
    assert!(v1.contains("\"version\": 1") && !v1.contains("\"stem\""));
    let p = d.join("m.json");
    stdout(
        bin()
            .args([
                "gen-model",
                "--seed",
                "9",
                "--max-width",
                "16",
                "--max-stem-layers",
                "2",
                "--max-stem-channels",
                "8",
                "--max-input-side",
                "16",
                "--max-stem-kernel",
                "3",
            ])
            .arg("-o")
            .arg(&p),
    );
    let m = Model::load(&p).unwrap();
    assert_eq!(m.version(), 2);
    assert!((1..=2).contains(&m.stem.len()));
    assert!(m.stem.iter().all(|c| c.out_channels <= 8 && c.kernel <= 3));
    let [h, w, c] = m.input.shape.unwrap();
    assert!(h <= 16 && w <= 16 && c <= 3);
    // The CLI's bounds are the library's.
    let want = gen_model(
        9,
        &GenOptions {
            max_width: 16,
            max_stem_layers: 2,
            max_stem_channels: 8,
            max_input_side: 16,
            max_stem_kernel: 3,
            max_input_channels: 3,
            max_stem_map: 4096,
            ..GenOptions::default()
        },
    );
    assert_eq!(m, want);
    // gen-input, golden and info take the version 2 model.
    let x: Vec<u8> = serde_json::from_str(&stdout(
        bin().arg("gen-input").arg(&p).args(["--seed", "2"]),
    ))
    .unwrap();
    assert_eq!(x.len(), m.expected_input_len());
    let xp = write_input(&d, "x.json", &x);
    let out = stdout(bin().arg("info").arg(&p).arg("--input").arg(&xp));
    assert!(
        out.contains("stem[0]: conv") && out.contains("stem weight bits"),
        "{out}"
    );
    let v: Value = serde_json::from_str(&stdout(bin().arg("info").arg(&p).arg("--json"))).unwrap();
    assert_eq!(v["stem"].as_array().unwrap().len(), m.stem.len());
    assert!(v["largest_feature_map_bytes"].as_u64().unwrap() > 0);

    let e = fails(bin().args(["gen-model", "--seed", "1", "--max-stem-layers", "5"]));
    assert!(
        e.contains("--max-stem-layers: expected 0..=4, found 5"),
        "{e}"
    );
    let e = fails(bin().args(["gen-model", "--seed", "1", "--max-stem-kernel", "4"]));
    assert!(
        e.contains("--max-stem-kernel: expected 1, 3 or 5, found 4"),
        "{e}"
    );
    // The smallest model has 2 weight bits (a width-1 stage and a 1-class head).
    let e = fails(bin().args(["gen-model", "--seed", "1", "--max-weight-bits", "1"]));
    assert!(
        e.contains("has 2 weight bits") && e.contains("--max-weight-bits: expected 2.."),
        "{e}"
    );
    stdout(bin().args(["gen-model", "--seed", "1", "--max-weight-bits", "2"]));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn endless_or_huge_model_files_are_refused_after_a_bounded_read() {
    let limit = revspike_golden::model::limits::max_file_bytes();
    let want = format!(
        "error: /dev/zero: larger than any valid revspike model file ({limit} bytes at most)"
    );
    let e = fails(bin().args(["info", "/dev/zero"]));
    assert!(e.starts_with(&want), "{e}");
    let e = fails(bin().args(["golden", "/dev/zero", "/dev/null"]));
    assert!(e.starts_with(&want), "{e}");
    let e = fails(bin().args(["gen-input", "/dev/zero", "--seed", "1"]));
    assert!(e.starts_with(&want), "{e}");
}

#[test]
fn eval_reproduces_the_shipped_models_accuracy() {
    let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    assert!(
        Path::new(images).exists(),
        "{images}: missing (scripts/setup.sh installs dataset-fashion-mnist)"
    );
    let out = stdout(
        bin()
            .arg("eval")
            .arg("--model")
            .arg(shipped())
            .args(["--dataset", "fashion-mnist"]),
    );
    assert!(
        out.contains("accuracy    88.30 % (8830 of 10000 correct)"),
        "{out}"
    );
    assert!(
        out.contains("wraps       0 wrap16 overflow(s) in 0 input(s)"),
        "{out}"
    );
    assert!(
        out.contains("confusion matrix (rows: label, columns: prediction)"),
        "{out}"
    );
    assert!(out.contains("inferences/s"), "{out}");

    let v: Value = serde_json::from_str(&stdout(
        bin().arg("eval").arg("--model").arg(shipped()).args([
            "--dataset",
            "fashion-mnist:test",
            "--json",
            "--threads",
            "2",
        ]),
    ))
    .unwrap();
    assert_eq!(v["inputs"], 10_000);
    assert_eq!(v["correct"], 8830);
    assert_eq!(v["threads"], 2);
    let m: Vec<Vec<u64>> = serde_json::from_value(v["confusion"].clone()).unwrap();
    assert_eq!(m.len(), 10);
    // Every label has 1,000 test images; the diagonal is the correct count.
    assert!(m.iter().all(|row| row.iter().sum::<u64>() == 1000));
    assert_eq!((0..10).map(|i| m[i][i]).sum::<u64>(), 8830);
    let preds: Vec<u64> = serde_json::from_value(v["predictions"].clone()).unwrap();
    assert_eq!(preds.iter().sum::<u64>(), 10_000);
    assert_eq!(v["wraps"], 0);
}

#[test]
fn eval_takes_a_file_of_inputs_with_or_without_labels() {
    let d = tmpdir("evalfile");
    let m = gen_model(
        12,
        &GenOptions {
            max_stem_layers: 2,
            ..GenOptions::small()
        },
    );
    let mp = write_model(&d, &m);
    let inputs: Vec<Vec<u8>> = (0..20).map(|s| gen_input(&m, s)).collect();
    let raw = d.join("x.bin");
    std::fs::write(&raw, inputs.concat()).unwrap();
    let labels: Vec<u8> = inputs
        .iter()
        .map(|x| infer(&m, x).unwrap().prediction as u8)
        .collect();
    let mut idx = vec![0, 0, 8, 1];
    idx.extend_from_slice(&20u32.to_be_bytes());
    idx.extend_from_slice(&labels);
    let lp = d.join("labels.idx");
    std::fs::write(&lp, idx).unwrap();
    // Labels equal to the golden predictions: 100 %.
    let v: Value = serde_json::from_str(&stdout(
        bin()
            .arg("eval")
            .arg("--model")
            .arg(&mp)
            .arg("--inputs")
            .arg(&raw)
            .arg("--labels")
            .arg(&lp)
            .arg("--json"),
    ))
    .unwrap();
    assert_eq!(v["correct"], 20);
    assert_eq!(v["accuracy"], 1.0);
    // Without labels: predictions only; a window of the file.
    let v: Value = serde_json::from_str(&stdout(
        bin()
            .arg("eval")
            .arg("--model")
            .arg(&mp)
            .arg("--inputs")
            .arg(&raw)
            .args(["--offset", "5", "--count", "10", "--json"]),
    ))
    .unwrap();
    assert_eq!(v["inputs"], 10);
    assert!(v.get("accuracy").is_none());
    let preds: Vec<u64> = serde_json::from_value(v["predictions"].clone()).unwrap();
    let mut want = vec![0u64; m.classes];
    for &l in &labels[5..15] {
        want[l as usize] += 1;
    }
    assert_eq!(preds, want);
    let e = fails(bin().arg("eval").arg("--model").arg(&mp));
    assert!(e.contains("--dataset") && e.contains("--inputs"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn info_with_a_build_says_whether_it_fits_and_shows_the_stem_plan() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let out = stdout(
        bin()
            .arg("info")
            .arg(models.join("fashion-cu.json"))
            .args(["--build", "cu"]),
    );
    assert!(out.contains("build cu: fits (1191 of 1280 rows)"), "{out}");
    let out = stdout(
        bin()
            .arg("info")
            .arg(models.join("fashion-conv.json"))
            .args(["--build", "cu"]),
    );
    for want in [
        "build cu: fits (1254 of 1280 rows)",
        "stem plan on cu: 25 row steps per group, 1 group(s), 335 rows",
        "stage 0's event list             1 group(s) of 512 bytes: input memory words 0..513",
        "input map(s), packed             28 x 28 bytes: input memory words 513..905, bitmaps 64..113",
        "stem[0] line buffer              3 x 224 bytes: event-list memory words 0..336, bitmaps 113..155",
        "stem[1] line buffer              3 x 224 bytes: state buffer words 0..336, bitmaps 155..197",
        "row-step table                   25 rows of the row memory, one per row step",
        "input memory       905 of 1024 words",
        "z memory (bitmaps) 133 of 192 words",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // The wide simulation build has a stem unit and takes the model.
    let out = stdout(
        bin()
            .arg("info")
            .arg(models.join("fashion-conv.json"))
            .args(["--build", "wide"]),
    );
    for want in [
        "build wide: fits (1468 of 4096 rows)",
        "stem plan on wide: 25 row steps per group, 1 group(s), 555 rows",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("no conv stem unit"), "{out}");
    let e = fails(
        bin()
            .arg("info")
            .arg(models.join("fashion-cu.json"))
            .args(["--build", "cu9"]),
    );
    assert!(
        e.contains("unknown build 'cu9' (builds: cu, cu-4m, small, wide)"),
        "{e}"
    );
}
