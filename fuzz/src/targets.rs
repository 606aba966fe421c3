//! The fuzz targets: each takes arbitrary bytes, must never panic or hang, and
//! says whether the bytes were accepted (valid cases feed the mutation pool).
//! Where a parse succeeds, the target also checks a property that must hold
//! (a round trip), so a wrong answer is a finding too, not only a crash.

use std::io::Write;
use std::path::Path;

use revspike_golden::{gen_input, gen_model, GenOptions, Model};
use revspike_proto::build::CU;
use revspike_proto::protocol::{
    BuildInfo, Client, Command, CoreStatusWords, DeviceStatus, Frame, FrameDecoder, Response,
    RunResult, Transport,
};

/// A fuzz target.
pub struct Target {
    pub name: &'static str,
    /// What it feeds the bytes to.
    pub what: &'static str,
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Runs one case; `true` when the bytes were accepted.
    pub run: fn(&[u8]) -> bool,
}

/// Every target.
pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "model",
            what: "Model::from_json_str (model file), then a save/load round trip and the golden model on one input",
            seeds: model_seeds,
            run: model,
        },
        Target {
            name: "input",
            what: "one input (revspike::input): JSON or raw bytes, by name (first byte picks it) or content",
            seeds: input_seeds,
            run: input,
        },
        Target {
            name: "batch",
            what: "a batch file (revspike::dataset::parse_inputs): JSON, IDX, gzip or raw, by name or content",
            seeds: batch_seeds,
            run: batch,
        },
        Target {
            name: "idx",
            what: "revspike::dataset::parse_idx: plain IDX or its gzip stream as given",
            seeds: idx_seeds,
            run: idx,
        },
        Target {
            name: "gzip",
            what: "mutated IDX bytes, gzip-compressed, then parse_idx (the decompressing path on valid gzip)",
            seeds: idx_plain_seeds,
            run: gzip_idx,
        },
        Target {
            name: "frame",
            what: "proto FrameDecoder, Command::parse and Response::parse (and the command round trip)",
            seeds: frame_seeds,
            run: frame,
        },
        Target {
            name: "client",
            what: "proto Client::request(STATUS) reading the bytes as the device's answer",
            seeds: frame_seeds,
            run: client,
        },
    ]
}

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn read(p: &str) -> Option<Vec<u8>> {
    std::fs::read(repo(p)).ok()
}

/// Files under `fuzz/seeds/TARGET/` (findings worth keeping as regressions).
fn extra_seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = repo("fuzz/seeds").join(target);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn small_models() -> Vec<Model> {
    (0..6)
        .map(|s| {
            gen_model(
                s,
                &GenOptions {
                    max_width: 12,
                    max_group_len: 12,
                    max_timesteps: 4,
                    max_classes: 6,
                    ..GenOptions::default()
                },
            )
        })
        .collect()
}

fn model_seeds() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = ["examples/tiny.json", "golden/tests/data/hand_a.json"]
        .iter()
        .chain(&[
            "golden/tests/data/hand_b.json",
            "golden/tests/data/hand_c.json",
        ])
        .filter_map(|p| read(p))
        .collect();
    v.extend(
        small_models()
            .iter()
            .map(|m| m.to_json_string().into_bytes()),
    );
    v.extend(extra_seeds("model"));
    v
}

/// Models larger than this are not run through the golden model (parsing them
/// is the point; inference cost grows with the model).
const MAX_INFER_WEIGHT_BITS: u64 = 1 << 16;

fn model(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(m) = Model::from_json_str(text) else {
        return false;
    };
    let again = Model::from_json_str(&m.to_json_string()).expect("a saved model loads");
    assert_eq!(again, m, "save/load round trip");
    if revspike_golden::Info::of(&m).weight_bits <= MAX_INFER_WEIGHT_BITS {
        let x = vec![1u8; m.expected_input_len()];
        revspike_golden::infer(&m, &x).expect("an input of the expected length runs");
    }
    true
}

const NAMES: [&str; 6] = ["-", "x", "x.json", "x.bin", "x.idx", "x.gz"];

fn named(data: &[u8]) -> (&'static str, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (NAMES[b as usize % NAMES.len()], rest),
        None => ("-", data),
    }
}

fn input_seeds() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = Vec::new();
    let tiny = read("examples/tiny-input.json").unwrap_or_else(|| b"[1,2,3]".to_vec());
    for (k, body) in [
        tiny.clone(),
        b"[]".to_vec(),
        b"[0, 255, 17]".to_vec(),
        b"\xef\xbb\xbf[1]\n".to_vec(),
        vec![0, 7, 200, 1, 0, 0],
        tiny,
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = vec![k as u8];
        c.extend(body);
        v.push(c);
    }
    for m in small_models().iter().take(2) {
        let mut c = vec![3u8];
        c.extend(gen_input(m, 1));
        v.push(c);
    }
    v.extend(extra_seeds("input"));
    v
}

fn input(data: &[u8]) -> bool {
    let (name, body) = named(data);
    match revspike::input::parse_input_named(Path::new(name), body) {
        Ok(x) => {
            assert!(x.len() <= revspike::input::MAX_INPUT_LEN, "input bound");
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
    let _ = e.write_all(b);
    let _ = e.finish();
    out
}

fn idx_plain_seeds() -> Vec<Vec<u8>> {
    let data: Vec<u8> = (0..48u8).collect();
    let mut v = vec![
        idx_bytes(&[4, 3], &data[..12]),
        idx_bytes(&[2, 2, 3], &data[..12]),
        idx_bytes(&[6], &data[..6]),
        idx_bytes(&[3, 4, 4], &data[..48]),
        idx_bytes(&[0, 5], &[]),
    ];
    v.extend(extra_seeds("idx"));
    v
}

fn idx_seeds() -> Vec<Vec<u8>> {
    let plain = idx_plain_seeds();
    let mut v = plain.clone();
    v.extend(plain.iter().map(|b| gz(b)));
    v
}

fn idx(data: &[u8]) -> bool {
    match revspike::dataset::parse_idx(data) {
        Ok(i) => {
            let total: usize = i.dims.iter().product();
            assert_eq!(total, i.data.len(), "IDX data length");
            true
        }
        Err(_) => false,
    }
}

fn gzip_idx(data: &[u8]) -> bool {
    idx(&gz(data))
}

const INPUT_LEN: usize = 3;

fn batch_seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for (k, body) in [
        (2u8, b"[[1,2,3],[4,5,6]]".to_vec()),
        (1, b"[[0,0,0]]".to_vec()),
        (1, b"[9,8,7]".to_vec()),
        (3, vec![1, 2, 3, 4, 5, 6]),
        (1, vec![200, 2, 3, 4, 5, 6]),
        (4, idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6])),
        (1, idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6])),
        (5, gz(&idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]))),
        (1, gz(&idx_bytes(&[1, 3], &[9, 9, 9]))),
    ] {
        let mut c = vec![k];
        c.extend(body);
        v.push(c);
    }
    v.extend(extra_seeds("batch"));
    v
}

fn batch(data: &[u8]) -> bool {
    let (name, body) = named(data);
    match revspike::dataset::parse_inputs(Path::new(name), body, INPUT_LEN) {
        Ok(s) => {
            assert!(
                s.inputs.iter().all(|x| x.len() == INPUT_LEN),
                "every input of a batch has the model's length"
            );
            assert!(s.inputs.len() <= revspike::dataset::MAX_BATCH_INPUTS);
            true
        }
        Err(_) => false,
    }
}

fn sample_commands() -> Vec<Command> {
    vec![
        Command::Identify,
        Command::Write {
            addr: 0x1_0000,
            words: vec![0xc0, 0xdb, 0xffff, 0],
        },
        Command::Read {
            addr: 0x2_0011,
            count: 4,
        },
        Command::Input {
            bytes: vec![0, 1, 0xc0, 0xdb, 255],
        },
        Command::Run,
        Command::Infer {
            bytes: (0..64).collect(),
        },
        Command::Rewind { steps: 1 },
        Command::Reset,
        Command::Status,
        Command::LoadBegin,
        Command::LoadEnd {
            expected_words: 5120,
        },
    ]
}

fn sample_responses() -> Vec<(u8, Response)> {
    let info: BuildInfo = CU.info();
    let core = CoreStatusWords {
        timesteps: 2,
        prediction: 3,
        cycles: 2454,
        status: 0,
    };
    vec![
        (0x01, Response::Identify(info)),
        (0x02, Response::Written),
        (0x03, Response::Read(vec![1, 0xc0, 0xdbdb])),
        (
            0x04,
            Response::InputAccepted {
                status: 0,
                entries: 12,
            },
        ),
        (
            0x06,
            Response::Run(RunResult {
                timesteps: 2,
                prediction: 3,
                cycles: 2454,
                status: 0,
                logits: vec![-5, 0, 7, 1 << 20, -1],
            }),
        ),
        (0x07, Response::Rewound { timesteps: 1 }),
        (0x08, Response::ResetDone),
        (
            0x09,
            Response::Status(DeviceStatus {
                core,
                words_written: 77,
                loaded: true,
                ..Default::default()
            }),
        ),
        (0x0a, Response::LoadBegun),
        (
            0x0b,
            Response::LoadEnded {
                words: 5120,
                loaded: true,
                dirty: false,
            },
        ),
        (
            0x06,
            Response::Error {
                cmd: 0x06,
                code: 1,
                detail: 0,
            },
        ),
    ]
}

fn frame_seeds() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = sample_commands()
        .iter()
        .enumerate()
        .filter_map(|(k, c)| c.to_frame(k as u8).ok())
        .collect();
    v.extend(
        sample_responses()
            .iter()
            .enumerate()
            .filter_map(|(k, (cmd, r))| r.to_frame(*cmd, k as u8).ok()),
    );
    // Two frames back to back, and line noise in front of one.
    if v.len() > 2 {
        let two = [v[0].clone(), v[1].clone()].concat();
        v.push(two);
        let mut noisy = vec![0x55, 0xdb, 0x00];
        noisy.extend_from_slice(&v[2]);
        v.push(noisy);
    }
    v.extend(extra_seeds("frame"));
    v
}

fn frame(data: &[u8]) -> bool {
    let mut dec = FrameDecoder::new();
    // Pushed in two pieces: a frame split across reads must decode the same.
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    dec.push(&data[..cut]);
    let mut frames: Vec<Frame> = Vec::new();
    let mut any = false;
    let drain = |dec: &mut FrameDecoder, frames: &mut Vec<Frame>| {
        while let Some(f) = dec.next_frame() {
            if let Ok(f) = f {
                frames.push(f);
            }
        }
    };
    drain(&mut dec, &mut frames);
    dec.push(&data[cut..]);
    drain(&mut dec, &mut frames);
    for f in &frames {
        let _ = Response::parse(f);
        if let Ok(c) = Command::parse(f) {
            any = true;
            // A command the device would accept encodes back to itself.
            if let Ok(bytes) = c.to_frame(f.seq) {
                let mut d2 = FrameDecoder::new();
                d2.push(&bytes);
                let back = d2
                    .next_frame()
                    .expect("an encoded command decodes")
                    .expect("an encoded command is intact");
                assert_eq!(Command::parse(&back).ok(), Some(c), "command round trip");
            }
        }
    }
    any || !frames.is_empty()
}

/// A transport whose device answers with the case's bytes, then nothing.
struct Replay {
    chunks: Vec<Vec<u8>>,
}

impl Transport for Replay {
    fn send(&mut self, _bytes: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn recv(&mut self) -> Result<Vec<u8>, String> {
        Ok(if self.chunks.is_empty() {
            Vec::new()
        } else {
            self.chunks.remove(0)
        })
    }
    fn pause(&mut self, _micros: u64) -> Result<(), String> {
        Ok(())
    }
}

fn client(data: &[u8]) -> bool {
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut c = Client::new(Replay {
        chunks: vec![data[..cut].to_vec(), data[cut..].to_vec()],
    });
    c.patience = 3;
    c.request(&Command::Status).is_ok()
}
