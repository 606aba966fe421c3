//! Runs the `revspike` binary: golden, gen-model, gen-input, info and error exits.

use std::path::PathBuf;

use assert_cmd::Command;
use revspike_golden::{infer, Model};

fn bin() -> Command {
    Command::cargo_bin("revspike").unwrap()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revspike-cli-{name}-{}", std::process::id()));
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

/// Runs a command that must fail; returns its stderr.
fn fails(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "stdout on error: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn gen_model_gen_input_golden_agree_with_the_library() {
    let d = tmpdir("flow");
    let m = d.join("m.json");
    let x = d.join("x.json");
    stdout(
        bin()
            .args([
                "gen-model",
                "--seed",
                "5",
                "--max-width",
                "12",
                "--max-group-len",
                "20",
            ])
            .arg("-o")
            .arg(&m),
    );
    stdout(
        bin()
            .arg("gen-input")
            .arg(&m)
            .args(["--seed", "6", "-o"])
            .arg(&x),
    );
    let model = Model::load(&m).unwrap();
    assert_eq!(
        model,
        revspike_golden::gen_model(
            5,
            &revspike_golden::GenOptions {
                max_width: 12,
                max_group_len: 20,
                ..Default::default()
            }
        )
    );
    let input: Vec<u8> = serde_json::from_str(&std::fs::read_to_string(&x).unwrap()).unwrap();
    assert_eq!(input, revspike_golden::gen_input(&model, 6));

    let out = stdout(bin().arg("golden").arg(&m).arg(&x));
    assert_eq!(out.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = infer(&model, &input).unwrap();
    assert_eq!(v["logits"], serde_json::json!(r.logits));
    assert_eq!(v["prediction"], r.prediction);
    assert_eq!(v["spike_counts"], serde_json::json!(r.spike_counts));
    assert_eq!(v["sops"], r.sops);
    assert_eq!(v["wraps"], r.wraps);

    // The same input as raw bytes gives the same answer.
    let raw = d.join("x.bin");
    std::fs::write(&raw, &input).unwrap();
    assert_eq!(stdout(bin().arg("golden").arg(&m).arg(&raw)), out);
    // And from stdin.
    let out_stdin = stdout(
        bin()
            .arg("golden")
            .arg(&m)
            .arg("-")
            .write_stdin(input.clone()),
    );
    assert_eq!(out_stdin, out);

    let traced: serde_json::Value =
        serde_json::from_str(&stdout(bin().arg("golden").arg("--trace").arg(&m).arg(&x))).unwrap();
    assert_eq!(traced["states"].as_array().unwrap().len(), model.timesteps);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn gen_model_to_stdout_is_deterministic() {
    let a = stdout(bin().args([
        "gen-model",
        "--seed",
        "9",
        "--max-width",
        "8",
        "--max-group-len",
        "8",
    ]));
    let b = stdout(bin().args([
        "gen-model",
        "--seed",
        "9",
        "--max-width",
        "8",
        "--max-group-len",
        "8",
    ]));
    assert_eq!(a, b);
    let m = Model::from_json_str(&a).unwrap();
    assert!(m.stages.iter().all(|s| s.width <= 8));
    let c = stdout(bin().args([
        "gen-model",
        "--seed",
        "9",
        "--max-width",
        "8",
        "--max-stages",
        "1",
        "--grouping",
        "repeat",
        "--readout",
        "last",
        "--max-group-len",
        "8",
    ]));
    let m = Model::from_json_str(&c).unwrap();
    assert_eq!(m.stages.len(), 1);
    assert_eq!(m.input.grouping, revspike_golden::Grouping::Repeat);
    assert_eq!(m.readout, revspike_golden::Readout::Last);
}

#[test]
fn info_text_and_json() {
    let d = tmpdir("info");
    let m = d.join("m.json");
    std::fs::write(&m, include_str!("../../golden/tests/data/hand_b.json")).unwrap();
    let text = stdout(bin().arg("info").arg(&m));
    assert!(text.contains("weight bits          17"), "{text}");
    assert!(text.contains("SOPs (dense bound)   32"), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(bin().arg("info").arg("--json").arg(&m))).unwrap();
    assert_eq!(v["buffer_bits"], 3);
    assert_eq!(v["actual_sops"], serde_json::Value::Null);
    let x = d.join("x.json");
    std::fs::write(&x, "[20, 8, 4]").unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(
        bin()
            .arg("info")
            .arg("--json")
            .arg(&m)
            .arg("--input")
            .arg(&x),
    ))
    .unwrap();
    assert_eq!(v["actual_sops"], 26);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let d = tmpdir("err");
    let m = d.join("m.json");
    std::fs::write(&m, include_str!("../../golden/tests/data/hand_b.json")).unwrap();

    // Missing model file.
    let e = fails(bin().arg("golden").arg(d.join("none.json")).arg(&m));
    assert!(
        e.starts_with("error: ") && e.contains("none.json") && e.lines().count() == 1,
        "{e}"
    );

    // Malformed model names the file and the field.
    let bad = d.join("bad.json");
    let text = include_str!("../../golden/tests/data/hand_b.json")
        .replace("\"classes\": 3", "\"classes\": 0");
    std::fs::write(&bad, text).unwrap();
    let e = fails(bin().arg("info").arg(&bad));
    assert!(
        e.contains("bad.json") && e.contains("classes: expected an integer in 1..=256, found 0"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    // Wrong input length names expected and found.
    let x = d.join("x.json");
    std::fs::write(&x, "[1, 2]").unwrap();
    let e = fails(bin().arg("golden").arg(&m).arg(&x));
    assert!(e.contains("input has 2 values, model expects 3"), "{e}");

    // Out-of-range JSON input value names the index.
    std::fs::write(&x, "[1, 256, 3]").unwrap();
    let e = fails(bin().arg("golden").arg(&m).arg(&x));
    assert!(
        e.contains("input[1]: expected an integer in 0..=255, found 256"),
        "{e}"
    );

    // Bad generator bound.
    let e = fails(bin().args(["gen-model", "--seed", "1", "--max-stages", "5"]));
    assert!(e.contains("--max-stages: expected 1..=4, found 5"), "{e}");

    // Usage errors come from clap and exit non-zero.
    let e = fails(bin().args(["golden"]));
    assert!(e.contains("error"), "{e}");
    let e = fails(bin().args(["no-such-command"]));
    assert!(e.contains("error"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}
