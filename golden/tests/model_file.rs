//! Model file loading: round trips, rejections that name the field path, and
//! no panics on malformed, truncated or random input.

use proptest::prelude::*;
use revspike_golden::{edge_cases, gen_model, GenOptions, Model};
use serde_json::{json, Value};

/// A valid two-stage model (width 2 with up and a block, then width 1).
fn base() -> Value {
    json!({
      "format": "revspike-model", "version": 1, "name": "base",
      "timesteps": 2, "input": { "group_len": 10, "grouping": "split" },
      "classes": 3, "readout": "sum",
      "stages": [
        {
          "width": 2,
          "down": { "in": 10, "out": 2, "weights": ["ff03", "0102"], "multiplier": [1, -1], "bias": [0, 5], "shift": 0 },
          "up": { "in": 1, "out": 2, "weights": ["01", "00"], "multiplier": [2, 1], "bias": [0, 0], "shift": 0 },
          "blocks": [ {
            "spike": { "threshold": [0, 0], "shift": 2 },
            "layer": { "in": 2, "out": 2, "weights": ["01", "03"], "multiplier": [1, -2], "bias": [4, 0], "shift": 1 }
          } ],
          "decay": { "sign": [1, -1], "shift": [0, 2] },
          "out_spike": { "threshold": [5, -1], "shift": 0 }
        },
        {
          "width": 1,
          "down": { "in": 2, "out": 1, "weights": ["03"], "multiplier": [1], "bias": [-10], "shift": 1 },
          "blocks": [],
          "decay": { "sign": [1], "shift": [1] },
          "out_spike": { "threshold": [0], "shift": 1 }
        }
      ],
      "head": { "in": 1, "out": 3, "weights": ["01", "00", "01"], "multiplier": [1, 1, -1], "bias": [0, 20, 5], "shift": 0 }
    })
}

/// Applies `edit` to a copy of the base model and returns the load error.
fn reject(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = base();
    edit(&mut v);
    match Model::from_json_str(&v.to_string()) {
        Ok(_) => panic!("accepted a malformed model: {v}"),
        Err(e) => e.to_string(),
    }
}

fn at<'a>(v: &'a mut Value, ptr: &str) -> &'a mut Value {
    v.pointer_mut(ptr).unwrap_or_else(|| panic!("no {ptr}"))
}

fn obj<'a>(v: &'a mut Value, ptr: &str) -> &'a mut serde_json::Map<String, Value> {
    at(v, ptr).as_object_mut().unwrap()
}

#[test]
fn base_model_is_valid() {
    let m = Model::from_json_str(&base().to_string()).unwrap();
    assert_eq!(m.stages.len(), 2);
    assert!(m.stages[0].down.weight(0, 0));
    // "ff03": byte 0 = 0xff, byte 1 = 0x03 -> inputs 0..=9 all +1.
    assert!((0..10).all(|i| m.stages[0].down.weight(0, i)));
    // "0102": byte 0 = 0x01 (input 0), byte 1 = 0x02 (input 9).
    let ones: Vec<usize> = (0..10).filter(|&i| m.stages[0].down.weight(1, i)).collect();
    assert_eq!(ones, vec![0, 9]);
    assert_eq!(m.expected_input_len(), 20);
}

#[test]
fn malformed_models_are_rejected_with_the_field_path() {
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "format",
            Box::new(|v| v["format"] = json!("onnx")),
            "format: expected \"revspike-model\"",
        ),
        (
            "version",
            Box::new(|v| v["version"] = json!(3)),
            "version: unsupported version 3, expected 1 or 2",
        ),
        (
            "missing name",
            Box::new(|v| {
                obj(v, "").remove("name");
            }),
            "name: missing required field",
        ),
        (
            "timesteps 0",
            Box::new(|v| v["timesteps"] = json!(0)),
            "timesteps: expected an integer in 1..=16, found 0",
        ),
        (
            "timesteps 17",
            Box::new(|v| v["timesteps"] = json!(17)),
            "timesteps: expected an integer in 1..=16, found 17",
        ),
        (
            "timesteps float",
            Box::new(|v| v["timesteps"] = json!(2.5)),
            "timesteps: expected an integer in 1..=16, found non-integer 2.5",
        ),
        (
            "grouping",
            Box::new(|v| v["input"]["grouping"] = json!("chunk")),
            "input.grouping: expected \"split\" or \"repeat\"",
        ),
        (
            "group_len",
            Box::new(|v| v["input"]["group_len"] = json!(1025)),
            "input.group_len: expected an integer in 1..=1024, found 1025",
        ),
        (
            "classes",
            Box::new(|v| v["classes"] = json!(257)),
            "classes: expected an integer in 1..=256",
        ),
        (
            "readout",
            Box::new(|v| v["readout"] = json!("max")),
            "readout: expected \"last\" or \"sum\"",
        ),
        (
            "unknown top",
            Box::new(|v| {
                obj(v, "").insert("extra".into(), json!(1));
            }),
            "extra: unknown field",
        ),
        (
            "unknown nested",
            Box::new(|v| {
                obj(v, "/stages/0/blocks/0/layer").insert("scale".into(), json!(1));
            }),
            "stages[0].blocks[0].layer.scale: unknown field",
        ),
        (
            "unknown in input",
            Box::new(|v| {
                obj(v, "/input").insert("mean".into(), json!(0));
            }),
            "input.mean: unknown field",
        ),
        (
            "no stages",
            Box::new(|v| v["stages"] = json!([])),
            "stages: expected 1..=4 stages, found 0",
        ),
        (
            "width 0",
            Box::new(|v| v["stages"][1]["width"] = json!(0)),
            "stages[1].width: expected an integer in 1..=1024, found 0",
        ),
        (
            "bias count",
            Box::new(|v| {
                at(v, "/stages/0/blocks/0/layer/bias")
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
            "stages[0].blocks[0].layer.bias: expected 2 entries, found 1",
        ),
        (
            "bias range",
            Box::new(|v| v["head"]["bias"][1] = json!(16_777_217)),
            "head.bias[1]: expected an integer in -16777216..=16777216, found 16777217",
        ),
        (
            "multiplier range",
            Box::new(|v| v["stages"][0]["down"]["multiplier"][0] = json!(128)),
            "stages[0].down.multiplier[0]: expected an integer in -128..=127, found 128",
        ),
        (
            "multiplier type",
            Box::new(|v| v["stages"][0]["down"]["multiplier"][1] = json!("-1")),
            "stages[0].down.multiplier[1]: expected an integer in -128..=127, found a string",
        ),
        (
            "layer shift",
            Box::new(|v| v["stages"][1]["down"]["shift"] = json!(32)),
            "stages[1].down.shift: expected an integer in 0..=31, found 32",
        ),
        (
            "down in",
            Box::new(|v| v["stages"][0]["down"]["in"] = json!(9)),
            "stages[0].down.in: expected 10 (implied by the model shape), found 9",
        ),
        (
            "up out",
            Box::new(|v| v["stages"][0]["up"]["out"] = json!(1)),
            "stages[0].up.out: expected 2 (implied by the model shape), found 1",
        ),
        (
            "head in",
            Box::new(|v| v["head"]["in"] = json!(2)),
            "head.in: expected 1 (implied by the model shape), found 2",
        ),
        (
            "weights rows",
            Box::new(|v| {
                at(v, "/head/weights").as_array_mut().unwrap().pop();
            }),
            "head.weights: expected 3 entries, found 2",
        ),
        (
            "bad hex",
            Box::new(|v| v["stages"][0]["down"]["weights"][1] = json!("01g2")),
            "stages[0].down.weights[1]: bad hex digit 'g' at position 2",
        ),
        (
            "hex length",
            Box::new(|v| v["stages"][0]["down"]["weights"][0] = json!("ff0")),
            "stages[0].down.weights[0]: expected 4 hex digits",
        ),
        (
            "padding bits",
            Box::new(|v| v["stages"][0]["down"]["weights"][0] = json!("ff07")),
            "stages[0].down.weights[0]: padding bits past input 10 must be 0",
        ),
        (
            "padding width 1",
            Box::new(|v| v["head"]["weights"][2] = json!("03")),
            "head.weights[2]: padding bits past input 1 must be 0",
        ),
        (
            "missing up",
            Box::new(|v| {
                obj(v, "/stages/0").remove("up");
            }),
            "stages[0].up: required for every stage but the last",
        ),
        (
            "up on last",
            Box::new(
                |v| v["stages"][1]["up"] = json!({"in": 1, "out": 1, "weights": ["01"], "multiplier": [1], "bias": [0], "shift": 0}),
            ),
            "stages[1].up: must be null or absent for the last stage",
        ),
        (
            "too many blocks",
            Box::new(|v| {
                let b = v["stages"][0]["blocks"][0].clone();
                v["stages"][0]["blocks"] = json!([b.clone(), b.clone(), b.clone(), b.clone(), b]);
            }),
            "stages[0].blocks: expected 0..=4 blocks, found 5",
        ),
        (
            "decay sign",
            Box::new(|v| v["stages"][0]["decay"]["sign"][1] = json!(0)),
            "stages[0].decay.sign[1]: expected 1 or -1, found 0",
        ),
        (
            "decay shift",
            Box::new(|v| v["stages"][1]["decay"]["shift"][0] = json!(16)),
            "stages[1].decay.shift[0]: expected an integer in 0..=15, found 16",
        ),
        (
            "decay length",
            Box::new(|v| v["stages"][0]["decay"]["shift"] = json!([1])),
            "stages[0].decay.shift: expected 2 entries, found 1",
        ),
        (
            "threshold range",
            Box::new(|v| v["stages"][0]["out_spike"]["threshold"][0] = json!(32768)),
            "stages[0].out_spike.threshold[0]: expected an integer in -32768..=32767, found 32768",
        ),
        (
            "spike shift",
            Box::new(|v| v["stages"][0]["blocks"][0]["spike"]["shift"] = json!(16)),
            "stages[0].blocks[0].spike.shift: expected an integer in 0..=15, found 16",
        ),
        (
            "threshold count",
            Box::new(|v| v["stages"][1]["out_spike"]["threshold"] = json!([0, 0])),
            "stages[1].out_spike.threshold: expected 1 entries, found 2",
        ),
        (
            "stage not object",
            Box::new(|v| v["stages"][1] = json!([1])),
            "stages[1]: expected an object, found an array",
        ),
        (
            "huge integer",
            Box::new(|v| v["classes"] = json!(u64::MAX)),
            "classes: expected an integer in 1..=256, found 18446744073709551615",
        ),
        (
            "top not object",
            Box::new(|v| *v = json!([1, 2])),
            "(top level): expected an object, found an array",
        ),
    ];
    assert!(cases.len() >= 20);
    for (name, edit, want) in cases {
        let got = reject(edit);
        assert!(
            got.contains(want),
            "case {name}: expected message containing {want:?}, got {got:?}"
        );
    }
}

#[test]
fn syntax_errors_and_file_errors_are_clear() {
    let e = Model::from_json_str("{\"format\": ")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid JSON:"), "{e}");
    let e = Model::load("/nonexistent/model.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent/model.json") && e.contains("cannot read"),
        "{e}"
    );
    let dir = std::env::temp_dir().join(format!("revspike-golden-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.json");
    let mut v = base();
    v["head"]["bias"] = json!([0, 0]);
    std::fs::write(&p, v.to_string()).unwrap();
    let e = Model::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("bad.json") && e.contains("head.bias: expected 3 entries, found 2"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn up_may_be_null_or_absent_on_the_last_stage() {
    let mut v = base();
    v["stages"][1]["up"] = Value::Null;
    assert!(Model::from_json_str(&v.to_string()).is_ok());
    // Upper-case hex is accepted and normalized on save.
    let mut v = base();
    v["stages"][0]["down"]["weights"][0] = json!("FF03");
    let m = Model::from_json_str(&v.to_string()).unwrap();
    assert!(m.to_json_string().contains("\"ff03\""));
}

#[test]
fn save_and_load_round_trip_exactly() {
    let m = Model::from_json_str(&base().to_string()).unwrap();
    let s = m.to_json_string();
    let m2 = Model::from_json_str(&s).unwrap();
    assert_eq!(m, m2);
    assert_eq!(s, m2.to_json_string());
    for seed in 0..200 {
        let m = gen_model(seed, &GenOptions::small());
        let s = m.to_json_string();
        let back = Model::from_json_str(&s).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(back, m, "seed {seed}");
    }
    for (name, m, _) in edge_cases() {
        assert_eq!(
            Model::from_json_str(&m.to_json_string()).unwrap(),
            m,
            "{name}"
        );
    }
    let dir = std::env::temp_dir().join(format!("revspike-golden-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("m.json");
    m.save(&p).unwrap();
    assert_eq!(Model::load(&p).unwrap(), m);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn names_with_quotes_and_unicode_round_trip() {
    let mut m = Model::from_json_str(&base().to_string()).unwrap();
    m.name = "fashion \"t4\" \u{1F600}\n\\".into();
    assert_eq!(Model::from_json_str(&m.to_json_string()).unwrap(), m);
}

fn small_model_text() -> String {
    gen_model(7, &GenOptions::small()).to_json_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn truncated_files_never_panic(cut in 0usize..4000) {
        let s = small_model_text();
        let cut = cut.min(s.len());
        let t = s.get(..cut).unwrap_or("");
        let r = Model::from_json_str(t);
        if cut < s.trim_end().len() {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn byte_flips_never_panic(pos in 0usize..4000, byte in any::<u8>()) {
        let mut b = small_model_text().into_bytes();
        let p = pos % b.len();
        b[p] = byte;
        let s = String::from_utf8_lossy(&b);
        // Any outcome but a panic is fine; an accepted model must re-validate.
        if let Ok(m) = Model::from_json_str(&s) {
            prop_assert!(m.validate().is_ok());
        }
    }

    #[test]
    fn random_text_never_panics(s in "\\PC{0,200}") {
        let _ = Model::from_json_str(&s);
    }

    #[test]
    fn random_json_values_never_panic(v in arb_json()) {
        prop_assert!(Model::from_json_str(&v.to_string()).is_err());
    }

    #[test]
    fn random_values_in_a_valid_model_never_panic(
        path in prop::sample::select(vec![
            "/timesteps", "/classes", "/input/group_len", "/stages/0/width", "/stages/1/width",
            "/stages/0/down/in", "/stages/0/down/weights/0", "/head/bias", "/stages/0/decay/shift/1",
            "/stages/0/up", "/stages/0/blocks", "/head", "/stages/1/out_spike/threshold/0",
        ]),
        v in arb_json(),
    ) {
        let mut m = base();
        if let Some(slot) = m.pointer_mut(path) {
            *slot = v;
        }
        if let Ok(model) = Model::from_json_str(&m.to_string()) {
            prop_assert!(model.validate().is_ok());
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|x| json!(x)),
        any::<u64>().prop_map(|x| json!(x)),
        (-1e6f64..1e6).prop_map(|x| json!(x)),
        "[0-9a-fA-Fg ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
