//! Version 2 model files (a convolutional stem): a valid base, the limits of
//! the spec accepted, and a list of malformed files each refused with the
//! message naming its field path. Plus the loader hardening of issue 17:
//! duplicate keys, non-UTF-8 text, integers written as floats, size bounds.

use revspike_golden::{model::limits, Model};
use serde_json::{json, Value};

/// A valid version 2 model: a 4 x 4 x 1 repeat input, a 3x3 conv 1 -> 2
/// (stride 1, padding 1: 4 x 4 x 2), a 3x3 conv 2 -> 2 (stride 2, padding 1:
/// 2 x 2 x 2 = 8 values), one stage of width 2, two classes.
fn base() -> Value {
    json!({
      "format": "revspike-model", "version": 2, "name": "v2-base",
      "timesteps": 2, "input": { "group_len": 16, "grouping": "repeat", "shape": [4, 4, 1] },
      "classes": 2, "readout": "sum",
      "stem": [
        { "kind": "conv", "in_channels": 1, "out_channels": 2, "kernel": 3, "stride": 1, "padding": 1,
          "weights": ["ff01", "0a00"], "multiplier": [1, -1], "bias": [0, 3], "shift": 1,
          "spike": { "threshold": [0, 0], "shift": 1 } },
        { "kind": "conv", "in_channels": 2, "out_channels": 2, "kernel": 3, "stride": 2, "padding": 1,
          "weights": ["ffff03", "000000"], "multiplier": [1, 1], "bias": [0, 0], "shift": 2,
          "spike": { "threshold": [0, -1], "shift": 0 } }
      ],
      "stages": [ {
        "width": 2,
        "down": { "in": 8, "out": 2, "weights": ["ff", "0f"], "multiplier": [1, 1], "bias": [0, 0], "shift": 0 },
        "blocks": [],
        "decay": { "sign": [1, -1], "shift": [1, 0] },
        "out_spike": { "threshold": [0, 0], "shift": 0 }
      } ],
      "head": { "in": 2, "out": 2, "weights": ["01", "02"], "multiplier": [1, 1], "bias": [0, 0], "shift": 0 }
    })
}

/// A valid conv layer with all-zero weights (every weight -1).
fn conv(ci: usize, co: usize, k: usize, s: usize, p: usize) -> Value {
    let row = "00".repeat((k * k * ci).div_ceil(8));
    json!({ "kind": "conv", "in_channels": ci, "out_channels": co, "kernel": k, "stride": s,
            "padding": p, "weights": vec![row; co], "multiplier": vec![1; co],
            "bias": vec![0; co], "shift": 0,
            "spike": { "threshold": vec![0; co], "shift": 0 } })
}

/// A valid model around `stem` for an input of `shape`; stage 0 is sized for
/// the stem's output of `out` values.
fn with_stem(shape: [usize; 3], stem: Vec<Value>, out: usize) -> Value {
    let mut v = base();
    v["input"]["shape"] = json!(shape);
    v["input"]["group_len"] = json!(shape[0] * shape[1] * shape[2]);
    v["stem"] = json!(stem);
    let row = "00".repeat(out.div_ceil(8));
    v["stages"][0]["down"]["in"] = json!(out);
    v["stages"][0]["down"]["weights"] = json!([row.clone(), row]);
    v
}

fn load(v: &Value) -> Result<Model, String> {
    Model::from_json_str(&v.to_string()).map_err(|e| e.to_string())
}

#[test]
fn base_v2_model_is_valid_and_round_trips() {
    let m = load(&base()).unwrap();
    assert_eq!(m.stem.len(), 2);
    assert_eq!(m.input.shape, Some([4, 4, 1]));
    assert_eq!(m.stem_maps(), vec![[4, 4, 1], [4, 4, 2], [2, 2, 2]]);
    assert_eq!(m.stage0_input_len(), 8);
    assert_eq!(m.version(), 2);
    // "ff01": the 9 weights of row 0 are all +1; "0a00": inputs 1 and 3.
    assert!((0..9).all(|i| m.stem[0].layer.weight(0, i)));
    let ones: Vec<usize> = (0..9).filter(|&i| m.stem[0].layer.weight(1, i)).collect();
    assert_eq!(ones, vec![1, 3]);
    let text = m.to_json_string();
    assert!(text.contains("\"version\": 2"), "{text}");
    assert!(text.contains("\"shape\": [4, 4, 1]"), "{text}");
    let back = Model::from_json_str(&text).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.to_json_string(), text);
}

#[test]
fn version_2_without_a_stem_is_a_dense_model_written_as_version_1() {
    let mut v1 = serde_json::from_str::<Value>(include_str!("data/hand_a.json")).unwrap();
    v1["version"] = json!(2);
    let m = load(&v1).unwrap();
    assert!(m.stem.is_empty());
    assert_eq!(m.version(), 1);
    assert!(m.to_json_string().contains("\"version\": 1"));
    // An empty stem is no stem.
    v1["stem"] = json!([]);
    assert_eq!(load(&v1).unwrap(), m);
}

#[test]
fn the_limits_of_the_spec_are_accepted() {
    // group_len 4096 with a stem: 64 x 64 x 1, 3x3 stride 2 -> 32 x 32 x 1 = 1024.
    let m = load(&with_stem([64, 64, 1], vec![conv(1, 1, 3, 2, 1)], 1024)).unwrap();
    assert_eq!(m.input.group_len, 4096);
    assert_eq!(m.stage0_input_len(), 1024);
    // The largest fan-in of a 5x5 kernel: 5 * 5 * 40 = 1000 weights per row.
    let m = load(&with_stem(
        [4, 4, 1],
        vec![conv(1, 40, 1, 1, 0), conv(40, 2, 5, 4, 2)],
        2,
    ))
    .unwrap();
    assert_eq!(m.stem[1].layer.inputs, 1000);
    // Padding 0 shrinks 5 x 5 to 1 x 1 with a 5x5 kernel; four stem layers;
    // 256 channels; stride 4.
    let m = load(&with_stem(
        [9, 9, 1],
        vec![
            conv(1, 256, 1, 1, 0),
            conv(256, 3, 1, 2, 0),
            conv(3, 2, 5, 1, 0),
            conv(2, 2, 1, 4, 0),
        ],
        2,
    ))
    .unwrap();
    assert_eq!(m.stem_maps().last(), Some(&[1, 1, 2]));
    // Split grouping with a stem.
    let mut v = base();
    v["input"]["grouping"] = json!("split");
    assert_eq!(load(&v).unwrap().expected_input_len(), 32);
}

#[test]
fn malformed_v2_models_are_rejected_with_the_field_path() {
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let stem5 = || Value::Array(vec![conv(1, 1, 1, 1, 0); 5]);
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("version 3", Box::new(|v| v["version"] = json!(3)), "version: unsupported version 3, expected 1 or 2"),
        ("version 1 with a stem", Box::new(|v| v["version"] = json!(1)), "stem: unknown field in a version 1 file"),
        (
            "version 1 with a shape",
            Box::new(|v| {
                v["version"] = json!(1);
                v.as_object_mut().unwrap().remove("stem");
            }),
            "input.shape: unknown field in a version 1 file",
        ),
        (
            "stem without shape",
            Box::new(|v| {
                v["input"].as_object_mut().unwrap().remove("shape");
            }),
            "input.shape: missing: required when the model has a stem",
        ),
        (
            "shape without stem",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("stem");
            }),
            "input.shape: given without a stem",
        ),
        ("shape with an empty stem", Box::new(|v| v["stem"] = json!([])), "input.shape: given without a stem"),
        ("shape of 2", Box::new(|v| v["input"]["shape"] = json!([4, 4])), "input.shape: expected 3 entries, found 2"),
        ("shape not an array", Box::new(|v| v["input"]["shape"] = json!(16)), "input.shape: expected an array of 3 entries, found a number"),
        ("shape 0", Box::new(|v| v["input"]["shape"][0] = json!(0)), "input.shape[0]: expected an integer in 1..=256, found 0"),
        ("shape 257", Box::new(|v| v["input"]["shape"][1] = json!(257)), "input.shape[1]: expected an integer in 1..=256, found 257"),
        ("shape float", Box::new(|v| v["input"]["shape"][0] = json!(4.0)), "input.shape[0]: expected an integer in 1..=256, found 4.0: write it as an integer"),
        ("shape product", Box::new(|v| v["input"]["shape"] = json!([4, 2, 1])), "input.shape: H*W*C = 4*2*1 = 8 must equal input.group_len 16"),
        ("group_len 4097", Box::new(|v| v["input"]["group_len"] = json!(4097)), "input.group_len: expected an integer in 1..=4096, found 4097"),
        (
            "group_len 2000 without a stem",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("stem");
                v["input"].as_object_mut().unwrap().remove("shape");
                v["input"]["group_len"] = json!(2000);
            }),
            "input.group_len: expected an integer in 1..=1024, found 2000",
        ),
        ("stem object", Box::new(|v| v["stem"] = json!({"a": 1})), "stem: expected an array of conv layers, found an object"),
        ("stem null", Box::new(|v| v["stem"] = Value::Null), "stem: expected an array of conv layers, found null"),
        ("five stem layers", Box::new(move |v| v["stem"] = stem5()), "stem: expected 0..=4 conv layers, found 5"),
        ("stem layer not an object", Box::new(|v| v["stem"][0] = json!(3)), "stem[0]: expected an object, found a number"),
        (
            "kind missing",
            Box::new(|v| {
                v["stem"][0].as_object_mut().unwrap().remove("kind");
            }),
            "stem[0].kind: missing required field",
        ),
        ("kind pool", Box::new(|v| v["stem"][1]["kind"] = json!("pool")), "stem[1].kind: expected \"conv\", found \"pool\""),
        ("in_channels vs shape", Box::new(|v| v["stem"][0]["in_channels"] = json!(3)), "stem[0].in_channels: expected 1 (input.shape[2]), found 3"),
        ("in_channels vs previous", Box::new(|v| v["stem"][1]["in_channels"] = json!(8)), "stem[1].in_channels: expected 2 (stem[0].out_channels), found 8"),
        ("in_channels 0", Box::new(|v| v["stem"][0]["in_channels"] = json!(0)), "stem[0].in_channels: expected an integer in 1..=256, found 0"),
        ("in_channels 1e20", Box::new(|v| v["stem"][0]["in_channels"] = json!(1e20)), "stem[0].in_channels: expected an integer in 1..=256, found 1e+20 (out of range)"),
        ("out_channels 257", Box::new(|v| v["stem"][0]["out_channels"] = json!(257)), "stem[0].out_channels: expected an integer in 1..=256, found 257"),
        ("out_channels vs rows", Box::new(|v| v["stem"][0]["out_channels"] = json!(3)), "stem[0].weights: expected 3 entries, found 2"),
        ("kernel 4", Box::new(|v| v["stem"][0]["kernel"] = json!(4)), "stem[0].kernel: expected 1, 3 or 5, found 4"),
        ("kernel 7", Box::new(|v| v["stem"][1]["kernel"] = json!(7)), "stem[1].kernel: expected 1, 3 or 5, found 7"),
        ("kernel string", Box::new(|v| v["stem"][0]["kernel"] = json!("3")), "stem[0].kernel: expected 1, 3 or 5, found \"3\""),
        (
            "kernel missing",
            Box::new(|v| {
                v["stem"][0].as_object_mut().unwrap().remove("kernel");
            }),
            "stem[0].kernel: missing required field",
        ),
        ("stride 0", Box::new(|v| v["stem"][0]["stride"] = json!(0)), "stem[0].stride: expected an integer in 1..=4, found 0"),
        ("stride 5", Box::new(|v| v["stem"][1]["stride"] = json!(5)), "stem[1].stride: expected an integer in 1..=4, found 5"),
        ("stride 2.5", Box::new(|v| v["stem"][1]["stride"] = json!(2.5)), "stem[1].stride: expected an integer in 1..=4, found non-integer 2.5"),
        ("padding 2 with kernel 3", Box::new(|v| v["stem"][0]["padding"] = json!(2)), "stem[0].padding: expected an integer in 0..=1, found 2 (at most kernel / 2 = 3 / 2)"),
        ("padding -1", Box::new(|v| v["stem"][1]["padding"] = json!(-1)), "stem[1].padding: expected an integer in 0..=1, found -1"),
        (
            "padding 1 with kernel 1",
            Box::new(|v| {
                *v = with_stem([4, 4, 1], vec![conv(1, 1, 1, 1, 0)], 16);
                v["stem"][0]["padding"] = json!(1);
            }),
            "stem[0].padding: expected an integer in 0..=0, found 1",
        ),
        (
            "fan-in 1025",
            Box::new(|v| *v = with_stem([4, 4, 1], vec![conv(1, 41, 1, 1, 0), conv(41, 2, 5, 1, 2)], 32)),
            "stem[1]: kernel * kernel * in_channels = 5 * 5 * 41 = 1025 weights per row, at most 1024",
        ),
        (
            "empty output map",
            Box::new(|v| *v = with_stem([2, 2, 1], vec![conv(1, 2, 5, 1, 0)], 2)),
            "stem[0]: output map would be empty: a 2 x 2 input with kernel 5, padding 0",
        ),
        (
            "empty output map in one direction",
            Box::new(|v| *v = with_stem([8, 2, 1], vec![conv(1, 1, 1, 1, 0), conv(1, 1, 5, 1, 1)], 2)),
            "stem[1]: output map would be empty: a 8 x 2 input with kernel 5, padding 1",
        ),
        (
            "stem output over 1024",
            Box::new(|v| *v = with_stem([32, 32, 1], vec![conv(1, 2, 3, 1, 1)], 2048)),
            "stem[0]: output map 32 x 32 x 2 = 2048 values, more than the 1024 stage 0 takes",
        ),
        ("down.in vs the stem", Box::new(|v| v["stages"][0]["down"]["in"] = json!(16)), "stages[0].down.in: expected 8 (the stem's output, 2 x 2 x 2), found 16"),
        ("weights rows", Box::new(|v| v["stem"][0]["weights"] = json!(["ff01"])), "stem[0].weights: expected 2 entries, found 1"),
        ("weights hex length", Box::new(|v| v["stem"][0]["weights"][0] = json!("ff")), "stem[0].weights[0]: expected 4 hex digits (2 bytes for 9 inputs), found 2 characters"),
        ("weights padding bits", Box::new(|v| v["stem"][0]["weights"][0] = json!("ff03")), "stem[0].weights[0]: padding bits past input 9 must be 0"),
        ("weights bad hex", Box::new(|v| v["stem"][1]["weights"][1] = json!("00x000")), "stem[1].weights[1]: bad hex digit 'x' at position 2"),
        ("weights not a string", Box::new(|v| v["stem"][1]["weights"][0] = json!(255)), "stem[1].weights[0]: expected a hex string, found a number"),
        ("multiplier range", Box::new(|v| v["stem"][0]["multiplier"][1] = json!(-129)), "stem[0].multiplier[1]: expected an integer in -128..=127, found -129"),
        ("multiplier count", Box::new(|v| v["stem"][1]["multiplier"] = json!([1, 1, 1])), "stem[1].multiplier: expected 2 entries, found 3"),
        ("bias range", Box::new(|v| v["stem"][0]["bias"][0] = json!(16_777_217)), "stem[0].bias[0]: expected an integer in -16777216..=16777216, found 16777217"),
        ("shift 32", Box::new(|v| v["stem"][1]["shift"] = json!(32)), "stem[1].shift: expected an integer in 0..=31, found 32"),
        (
            "spike missing",
            Box::new(|v| {
                v["stem"][0].as_object_mut().unwrap().remove("spike");
            }),
            "stem[0].spike: missing required field",
        ),
        ("spike thresholds", Box::new(|v| v["stem"][0]["spike"]["threshold"] = json!([0])), "stem[0].spike.threshold: expected 2 entries, found 1"),
        ("spike threshold range", Box::new(|v| v["stem"][1]["spike"]["threshold"][1] = json!(-32769)), "stem[1].spike.threshold[1]: expected an integer in -32768..=32767, found -32769"),
        ("spike shift", Box::new(|v| v["stem"][1]["spike"]["shift"] = json!(16)), "stem[1].spike.shift: expected an integer in 0..=15, found 16"),
        (
            "unknown conv field",
            Box::new(|v| {
                v["stem"][0].as_object_mut().unwrap().insert("dilation".into(), json!(1));
            }),
            "stem[0].dilation: unknown field",
        ),
        (
            "unknown spike field",
            Box::new(|v| {
                v["stem"][1]["spike"].as_object_mut().unwrap().insert("gain".into(), json!(1));
            }),
            "stem[1].spike.gain: unknown field",
        ),
        (
            "in / out in a conv",
            Box::new(|v| {
                v["stem"][0].as_object_mut().unwrap().insert("in".into(), json!(9));
            }),
            "stem[0].in: unknown field",
        ),
    ];
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    for (name, edit, want) in cases {
        let mut v = base();
        edit(&mut v);
        match load(&v) {
            Ok(_) => panic!("case {name}: accepted a malformed model: {v}"),
            Err(got) => assert!(
                got.contains(want),
                "case {name}: expected a message containing {want:?}, got {got:?}"
            ),
        }
    }
}

#[test]
fn duplicate_keys_are_refused_with_their_path() {
    let text = base().to_string();
    // A second "shift" inside stem[1]'s spike, and a second top-level "classes".
    let dup = text.replacen(
        "\"spike\":{\"shift\":0,\"threshold\":[0,-1]}",
        "\"spike\":{\"shift\":0,\"shift\":3,\"threshold\":[0,-1]}",
        1,
    );
    assert_ne!(dup, text, "the edit must apply");
    let e = Model::from_json_str(&dup).unwrap_err().to_string();
    assert!(
        e.starts_with("stem[1].spike.shift: duplicate key (line 1, column"),
        "{e}"
    );
    let e = Model::from_json_str(&text.replacen('{', "{\"classes\":2,", 1))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("classes: duplicate key"), "{e}");
    let e = Model::from_json_str(&text.replacen(
        "\"grouping\":\"repeat\"",
        "\"grouping\":\"repeat\",\"grouping\":\"split\"",
        1,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("input.grouping: duplicate key"), "{e}");
}

#[test]
fn non_utf8_text_gives_the_byte_position() {
    let text = base().to_string();
    let mut b = text.into_bytes();
    let pos = 40;
    b.insert(pos, 0xff);
    let e = Model::from_json_bytes(&b).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "not UTF-8: byte 0xff at offset {pos} (line 1, column {})",
            pos + 1
        )
    );
    let mut b = b"{\n  \"name\": \"caf".to_vec();
    b.extend_from_slice(&[0xc3, 0x28]); // a broken 2-byte sequence
    let e = Model::from_json_bytes(&b).unwrap_err().to_string();
    assert_eq!(e, "not UTF-8: byte 0xc3 at offset 16 (line 2, column 15)");
}

#[test]
fn integers_written_as_floats_say_what_is_wrong() {
    let cases = [
        (
            json!(1e20),
            "timesteps: expected an integer in 1..=16, found 1e+20 (out of range)",
        ),
        (
            json!(-1e20),
            "timesteps: expected an integer in 1..=16, found -1e+20 (out of range)",
        ),
        (
            json!(2.5),
            "timesteps: expected an integer in 1..=16, found non-integer 2.5",
        ),
        (
            json!(2.0),
            "timesteps: expected an integer in 1..=16, found 2.0: write it as an integer",
        ),
        (
            json!(u64::MAX),
            "timesteps: expected an integer in 1..=16, found 18446744073709551615 (out of range)",
        ),
    ];
    for (x, want) in cases {
        let mut v = base();
        v["timesteps"] = x;
        let e = load(&v).unwrap_err();
        assert!(e.starts_with(want), "{e}");
    }
    // An integer literal longer than 64 bits is out of range, not "non-integer".
    let text =
        base()
            .to_string()
            .replacen("\"timesteps\":2", "\"timesteps\":100000000000000000000", 1);
    let e = Model::from_json_str(&text).unwrap_err().to_string();
    assert!(e.contains("(out of range)"), "{e}");
}

#[test]
fn model_files_are_read_only_up_to_the_largest_valid_size() {
    let limit = limits::max_file_bytes();
    // /dev/zero never ends; the loader must stop at the bound.
    let e = Model::load("/dev/zero").unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "/dev/zero: larger than any valid revspike model file ({limit} bytes at most); \
             stopped reading there"
        )
    );
    let dir = std::env::temp_dir().join(format!("revspike-v2-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("big.json");
    std::fs::write(&p, vec![b' '; limit + 1]).unwrap();
    assert!(Model::load(&p)
        .unwrap_err()
        .to_string()
        .contains("larger than any valid revspike model file"));
    // At the bound it is read and parsed (and refused as JSON, not for its size).
    std::fs::write(&p, vec![b' '; limit]).unwrap();
    let e = Model::load(&p).unwrap_err().to_string();
    assert!(e.contains("invalid JSON"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The bound leaves room for a model at every maximum of the spec, written
/// in the canonical layout and pretty-printed with one entry per line.
#[test]
fn a_model_at_every_maximum_fits_the_size_bound() {
    use revspike_golden::{gen_model_stem_shaped, ConvShape, Grouping, Readout, Shape, StemShape};
    let w = limits::MAX_WIDTH;
    let conv = |co, k| ConvShape {
        out_channels: co,
        kernel: k,
        stride: 1,
        padding: k / 2,
    };
    let m = gen_model_stem_shaped(
        1,
        &Shape {
            timesteps: 16,
            group_len: 4,
            grouping: Grouping::Split,
            classes: limits::MAX_CLASSES,
            readout: Readout::Sum,
            widths: vec![w; 4],
            blocks: vec![4; 4],
        },
        &StemShape {
            input: [2, 2, 1],
            layers: vec![conv(256, 1), conv(40, 1), conv(40, 5), conv(256, 5)],
        },
        &revspike_golden::ValueOptions::default(),
    );
    let text = m.to_json_string();
    let v: Value = serde_json::from_str(&text).unwrap();
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    assert!(pretty.len() > text.len());
    assert!(
        pretty.len() <= limits::max_file_bytes(),
        "{} > {}",
        pretty.len(),
        limits::max_file_bytes()
    );
    assert_eq!(Model::from_json_str(&pretty).unwrap(), m);
}
