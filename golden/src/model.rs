//! The revspike model file, versions 1 and 2 (SEMANTICS.md "Model file (JSON),
//! version 1" and "Version 2: a convolutional stem").
//!
//! Loading walks a `serde_json::Value` by hand instead of deriving `Deserialize`,
//! so that every rejection can name the exact field path
//! (`stages[1].blocks[0].layer.bias: expected 128 entries, found 127`) and no
//! malformed input can reach an `unwrap`. The `Value` itself is built by a
//! visitor that refuses duplicate keys (serde_json would keep the last one).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// File format tag required in every model file.
pub const FORMAT: &str = "revspike-model";
/// The newest model file version this crate reads and writes. A model without
/// a stem is written as version 1, so that older readers keep reading it.
pub const VERSION: u64 = 2;

/// Limits from SEMANTICS.md.
pub mod limits {
    pub const MAX_TIMESTEPS: usize = 16;
    /// Input group length without a stem; also the most stage 0 can take.
    pub const MAX_GROUP_LEN: usize = 1024;
    /// Input group length with a stem.
    pub const MAX_STEM_GROUP_LEN: usize = 4096;
    pub const MAX_CLASSES: usize = 256;
    pub const MAX_STAGES: usize = 4;
    pub const MAX_WIDTH: usize = 1024;
    pub const MAX_BLOCKS: usize = 4;
    pub const MAX_DECAY_SHIFT: u8 = 15;
    pub const MAX_SPIKE_SHIFT: u8 = 15;
    pub const MAX_LAYER_SHIFT: u8 = 31;
    pub const MAX_BIAS: i32 = 1 << 24;
    /// Stem layers of a version 2 model.
    pub const MAX_STEM_LAYERS: usize = 4;
    /// Each of the input shape's H, W and C.
    pub const MAX_SIDE: usize = 256;
    /// A conv layer's in_channels and out_channels.
    pub const MAX_CONV_CHANNELS: usize = 256;
    /// Weights per conv row, `kernel * kernel * in_channels`.
    pub const MAX_CONV_FAN_IN: usize = 1024;
    pub const MAX_STRIDE: usize = 4;
    /// The conv kernel sizes the spec allows.
    pub const KERNELS: [usize; 3] = [1, 3, 5];

    /// The most bytes a valid model file can take: the hex digits of a model
    /// at every maximum, plus room for generous formatting (one array entry per
    /// line, deep indentation) and a long name. Loading reads no further.
    pub const fn max_file_bytes() -> usize {
        // Dense layers: per stage a down, an up (all but the last) and the blocks.
        let dense_layers = MAX_STAGES * (2 + MAX_BLOCKS) - 1;
        let dense_rows = dense_layers * MAX_WIDTH + MAX_CLASSES;
        let dense_hex = dense_layers * MAX_WIDTH * (MAX_WIDTH / 4) + MAX_CLASSES * (MAX_WIDTH / 4);
        let stem_rows = MAX_STEM_LAYERS * MAX_CONV_CHANNELS;
        let stem_hex = stem_rows * (MAX_CONV_FAN_IN / 4);
        // Scalars: multiplier and bias per layer output, thresholds per spike
        // point, sign and shift per decay channel, and per conv output.
        let scalars = (dense_rows + stem_rows) * 2
            + MAX_STAGES * (MAX_BLOCKS + 1) * MAX_WIDTH
            + MAX_STAGES * 2 * MAX_WIDTH
            + stem_rows;
        const PER_ROW: usize = 96;
        const PER_SCALAR: usize = 48;
        const REST: usize = 4 << 20;
        dense_hex + stem_hex + (dense_rows + stem_rows) * PER_ROW + scalars * PER_SCALAR + REST
    }
}

/// A validated model. Every shape invariant of SEMANTICS.md holds for a value
/// returned by [`Model::from_json_str`] or [`Model::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub name: String,
    pub timesteps: usize,
    pub input: InputSpec,
    pub classes: usize,
    pub readout: Readout,
    /// Version 2: binary convolutions between each input group and stage 0
    /// (empty: none, and the model is written as version 1).
    pub stem: Vec<Conv>,
    pub stages: Vec<Stage>,
    pub head: Layer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    pub group_len: usize,
    pub grouping: Grouping,
    /// `[H, W, C]` of a group, present exactly when the stem is not empty;
    /// element `(y, x, c)` is `group[(y*W + x)*C + c]`.
    pub shape: Option<[usize; 3]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grouping {
    /// len(x) = T*G; timestep t sees x[t*G..(t+1)*G).
    Split,
    /// len(x) = G; every timestep sees the same group.
    Repeat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Readout {
    /// logits = logits of timestep T-1.
    Last,
    /// logits = sum over all timesteps.
    Sum,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub width: usize,
    pub down: Layer,
    pub up: Option<Layer>,
    pub blocks: Vec<Block>,
    pub decay: Decay,
    pub out_spike: Spike,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub spike: Spike,
    pub layer: Layer,
}

/// Per-channel leak `sign * 2^-shift` of a stage's turn-on membrane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decay {
    /// Each +1 or -1.
    pub sign: Vec<i8>,
    /// Each 0..=15.
    pub shift: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spike {
    pub threshold: Vec<i16>,
    pub shift: u8,
}

/// Binary dense layer. `weights[o]` is row o packed little-endian by bit:
/// input i is bit (i % 8) of byte i / 8; 1 means +1, 0 means -1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// JSON `"in"`.
    pub inputs: usize,
    /// JSON `"out"`.
    pub outputs: usize,
    pub weights: Vec<Vec<u8>>,
    pub multiplier: Vec<i8>,
    pub bias: Vec<i32>,
    pub shift: u8,
}

impl Layer {
    /// `true` when `W[o][i] = +1`.
    #[inline]
    pub fn weight(&self, o: usize, i: usize) -> bool {
        (self.weights[o][i / 8] >> (i % 8)) & 1 == 1
    }

    /// Number of bytes in one packed weight row.
    pub fn row_bytes(&self) -> usize {
        self.inputs.div_ceil(8)
    }

    /// Number of weights (`in * out`), i.e. weight bits.
    pub fn weight_bits(&self) -> usize {
        self.inputs * self.outputs
    }
}

/// One stem layer: a binary convolution of temporal turn-off neurons with its
/// own spike point. `layer` holds the weights and the affine exactly as a dense
/// layer of `kernel * kernel * in_channels` inputs and `out_channels` outputs:
/// row o, input `(ky*kernel + kx)*in_channels + ci` is `Wc[o][(ky*k + kx)*Ci + ci]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv {
    pub in_channels: usize,
    pub out_channels: usize,
    /// 1, 3 or 5.
    pub kernel: usize,
    /// 1..=4.
    pub stride: usize,
    /// 0..=kernel/2 zeros around the map.
    pub padding: usize,
    pub layer: Layer,
    /// `out_channels` thresholds.
    pub spike: Spike,
}

impl Conv {
    /// Output side `floor((side + 2p - k) / s) + 1`, or `None` when the map
    /// would be empty.
    pub fn out_side(&self, side: usize) -> Option<usize> {
        conv_out_side(side, self.kernel, self.stride, self.padding)
    }

    /// Output map `[H', W', Co]` of an input map `[H, W, Ci]`.
    pub fn out_map(&self, map: [usize; 3]) -> Option<[usize; 3]> {
        Some([
            self.out_side(map[0])?,
            self.out_side(map[1])?,
            self.out_channels,
        ])
    }
}

/// `floor((side + 2p - k) / s) + 1`, `None` when it is below 1.
pub fn conv_out_side(side: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    (side + 2 * padding)
        .checked_sub(kernel)
        .map(|d| d / stride.max(1) + 1)
}

/// Why a model file was rejected. The message always names the field path
/// (or the file and the JSON position for syntax errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("{path}: {msg}")]
    Field { path: String, msg: String },
    /// Wraps another error with the file it came from (displayed inline, not
    /// as a separate source, so error chains print it once).
    #[error("{path}: {error}")]
    File {
        path: String,
        error: Box<ModelError>,
    },
    #[error("{path}: cannot read: {msg}")]
    Io { path: String, msg: String },
    #[error(
        "{path}: larger than any valid revspike model file ({limit} bytes at most); stopped reading there"
    )]
    TooLarge { path: String, limit: usize },
    #[error("not UTF-8: byte 0x{byte:02x} at offset {offset} (line {line}, column {column})")]
    Utf8 {
        offset: usize,
        byte: u8,
        line: usize,
        column: usize,
    },
}

impl ModelError {
    fn field(path: &str, msg: impl Into<String>) -> Self {
        ModelError::Field {
            path: if path.is_empty() {
                "(top level)".to_string()
            } else {
                path.to_string()
            },
            msg: msg.into(),
        }
    }
}

type R<T> = Result<T, ModelError>;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A JSON object being read; tracks which keys were consumed so that unknown
/// fields can be rejected by name.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(path: &str, v: &'a Value) -> R<Self> {
        match v {
            Value::Object(map) => Ok(Obj {
                path: path.to_string(),
                map,
                known: Vec::new(),
            }),
            other => Err(ModelError::field(
                path,
                format!("expected an object, found {}", kind(other)),
            )),
        }
    }

    fn opt(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.map.get(key)
    }

    fn req(&mut self, key: &'static str) -> R<(&'a Value, String)> {
        let p = join(&self.path, key);
        match self.opt(key) {
            Some(v) => Ok((v, p)),
            None => Err(ModelError::field(&p, "missing required field")),
        }
    }

    fn int(&mut self, key: &'static str, lo: i64, hi: i64) -> R<i64> {
        let (v, p) = self.req(key)?;
        int_at(&p, v, lo, hi)
    }

    fn finish(self) -> R<()> {
        // Report the first unknown key in file order (serde_json maps are sorted,
        // so this is deterministic).
        for k in self.map.keys() {
            if !self.known.contains(&k.as_str()) {
                let mut expected = self.known.clone();
                expected.sort_unstable();
                expected.dedup();
                return Err(ModelError::field(
                    &join(&self.path, k),
                    format!("unknown field, expected one of: {}", expected.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

fn int_at(path: &str, v: &Value, lo: i64, hi: i64) -> R<i64> {
    let n = match v {
        Value::Number(n) => n,
        other => {
            return Err(ModelError::field(
                path,
                format!("expected an integer in {lo}..={hi}, found {}", kind(other)),
            ))
        }
    };
    let x = if let Some(x) = n.as_i64() {
        x
    } else if n.as_u64().is_some() {
        // Larger than i64::MAX: certainly out of range.
        return Err(ModelError::field(
            path,
            format!("expected an integer in {lo}..={hi}, found {n} (out of range)"),
        ));
    } else {
        // A number with a fraction or an exponent, or an integer literal too
        // long for 64 bits (JSON parsers read both as floating point).
        let f = n.as_f64().unwrap_or(f64::NAN);
        let msg = if f.fract() != 0.0 || !f.is_finite() {
            format!("expected an integer in {lo}..={hi}, found non-integer {n}")
        } else if f < lo as f64 || f > hi as f64 {
            format!("expected an integer in {lo}..={hi}, found {n} (out of range)")
        } else {
            format!(
                "expected an integer in {lo}..={hi}, found {n}: write it as an integer, \
                 without a fraction or exponent"
            )
        };
        return Err(ModelError::field(path, msg));
    };
    if x < lo || x > hi {
        return Err(ModelError::field(
            path,
            format!("expected an integer in {lo}..={hi}, found {x}"),
        ));
    }
    Ok(x)
}

fn array_at<'a>(path: &str, v: &'a Value, expected_len: usize) -> R<&'a Vec<Value>> {
    match v {
        Value::Array(a) if a.len() == expected_len => Ok(a),
        Value::Array(a) => Err(ModelError::field(
            path,
            format!("expected {expected_len} entries, found {}", a.len()),
        )),
        other => Err(ModelError::field(
            path,
            format!(
                "expected an array of {expected_len} entries, found {}",
                kind(other)
            ),
        )),
    }
}

fn int_array(path: &str, v: &Value, len: usize, lo: i64, hi: i64) -> R<Vec<i64>> {
    let a = array_at(path, v, len)?;
    a.iter()
        .enumerate()
        .map(|(i, x)| int_at(&format!("{path}[{i}]"), x, lo, hi))
        .collect()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_row(path: &str, v: &Value, n: usize) -> R<Vec<u8>> {
    let s = match v {
        Value::String(s) => s,
        other => {
            return Err(ModelError::field(
                path,
                format!("expected a hex string, found {}", kind(other)),
            ))
        }
    };
    let nbytes = n.div_ceil(8);
    let b = s.as_bytes();
    if b.len() != 2 * nbytes {
        return Err(ModelError::field(
            path,
            format!(
                "expected {} hex digits ({} bytes for {} inputs), found {} characters",
                2 * nbytes,
                nbytes,
                n,
                s.chars().count()
            ),
        ));
    }
    let mut row = Vec::with_capacity(nbytes);
    for (j, pair) in b.chunks_exact(2).enumerate() {
        let (hi, lo) = match (hex_val(pair[0]), hex_val(pair[1])) {
            (Some(h), Some(l)) => (h, l),
            _ => {
                let bad = if hex_val(pair[0]).is_none() {
                    2 * j
                } else {
                    2 * j + 1
                };
                let ch = s
                    .get(bad..)
                    .and_then(|t| t.chars().next())
                    .map(|c| format!("{c:?}"))
                    .unwrap_or_else(|| "a non-ASCII character".to_string());
                return Err(ModelError::field(
                    path,
                    format!("bad hex digit {ch} at position {bad}"),
                ));
            }
        };
        row.push(hi << 4 | lo);
    }
    let pad = nbytes * 8 - n;
    if pad > 0 {
        let last = row[nbytes - 1];
        let mask = !((1u16 << (8 - pad)) - 1) as u8;
        if last & mask != 0 {
            return Err(ModelError::field(
                path,
                format!(
                    "padding bits past input {} must be 0 (last byte is {:02x}, padding mask {:02x})",
                    n, last, mask
                ),
            ));
        }
    }
    Ok(row)
}

fn parse_layer(path: &str, v: &Value, n: usize, m: usize) -> R<Layer> {
    parse_layer_from(path, v, n, "implied by the model shape", m)
}

/// A dense layer of `n` inputs (`n_why` says where `n` comes from) and `m` outputs.
fn parse_layer_from(path: &str, v: &Value, n: usize, n_why: &str, m: usize) -> R<Layer> {
    let mut o = Obj::new(path, v)?;
    let (iv, ip) = o.req("in")?;
    let inputs = int_at(&ip, iv, 0, i64::MAX)? as usize;
    if inputs != n {
        return Err(ModelError::field(
            &ip,
            format!("expected {n} ({n_why}), found {inputs}"),
        ));
    }
    let (ov, op) = o.req("out")?;
    let outputs = int_at(&op, ov, 0, i64::MAX)? as usize;
    if outputs != m {
        return Err(ModelError::field(
            &op,
            format!("expected {m} (implied by the model shape), found {outputs}"),
        ));
    }
    let layer = parse_affine(&mut o, n, m)?;
    o.finish()?;
    Ok(layer)
}

/// The fields a dense layer and a conv layer share: `weights` (m rows of n
/// bits), `multiplier`, `bias`, `shift`.
fn parse_affine(o: &mut Obj<'_>, n: usize, m: usize) -> R<Layer> {
    let (wv, wp) = o.req("weights")?;
    let rows = array_at(&wp, wv, m)?;
    let weights = rows
        .iter()
        .enumerate()
        .map(|(i, r)| parse_row(&format!("{wp}[{i}]"), r, n))
        .collect::<R<Vec<_>>>()?;
    let (mv, mp) = o.req("multiplier")?;
    let multiplier = int_array(&mp, mv, m, -128, 127)?
        .into_iter()
        .map(|x| x as i8)
        .collect();
    let (bv, bp) = o.req("bias")?;
    let lim = limits::MAX_BIAS as i64;
    let bias = int_array(&bp, bv, m, -lim, lim)?
        .into_iter()
        .map(|x| x as i32)
        .collect();
    let shift = o.int("shift", 0, limits::MAX_LAYER_SHIFT as i64)? as u8;
    Ok(Layer {
        inputs: n,
        outputs: m,
        weights,
        multiplier,
        bias,
        shift,
    })
}

/// One stem layer reading a map of `map` = `[H, W, C]`; `ci_from` names where
/// the expected input channels come from. Returns the layer and its output map.
fn parse_conv(path: &str, v: &Value, map: [usize; 3], ci_from: &str) -> R<(Conv, [usize; 3])> {
    let mut o = Obj::new(path, v)?;
    let (kv, kp) = o.req("kind")?;
    if kv.as_str() != Some("conv") {
        return Err(ModelError::field(
            &kp,
            format!("expected \"conv\", found {kv}"),
        ));
    }
    let ch = limits::MAX_CONV_CHANNELS as i64;
    let (cv, cp) = o.req("in_channels")?;
    let in_channels = int_at(&cp, cv, 1, ch)? as usize;
    if in_channels != map[2] {
        return Err(ModelError::field(
            &cp,
            format!("expected {} ({ci_from}), found {in_channels}", map[2]),
        ));
    }
    let out_channels = o.int("out_channels", 1, ch)? as usize;
    let (kv, kp) = o.req("kernel")?;
    let kernel = int_at(&kp, kv, 0, i64::MAX).ok().map(|k| k as usize);
    let kernel = match kernel {
        Some(k) if limits::KERNELS.contains(&k) => k,
        _ => {
            return Err(ModelError::field(
                &kp,
                format!("expected 1, 3 or 5, found {kv}"),
            ))
        }
    };
    let stride = o.int("stride", 1, limits::MAX_STRIDE as i64)? as usize;
    let (pv, pp) = o.req("padding")?;
    let padding = int_at(&pp, pv, 0, (kernel / 2) as i64).map_err(|e| match e {
        ModelError::Field { path, msg } => ModelError::Field {
            path,
            msg: format!("{msg} (at most kernel / 2 = {kernel} / 2)"),
        },
        e => e,
    })? as usize;
    let fan_in = kernel * kernel * in_channels;
    if fan_in > limits::MAX_CONV_FAN_IN {
        return Err(ModelError::field(
            path,
            format!(
                "kernel * kernel * in_channels = {kernel} * {kernel} * {in_channels} = {fan_in} \
                 weights per row, at most {}",
                limits::MAX_CONV_FAN_IN
            ),
        ));
    }
    let (h, w) = (map[0], map[1]);
    let out = match (
        conv_out_side(h, kernel, stride, padding),
        conv_out_side(w, kernel, stride, padding),
    ) {
        (Some(oh), Some(ow)) => [oh, ow, out_channels],
        _ => {
            return Err(ModelError::field(
                path,
                format!(
                    "output map would be empty: a {h} x {w} input with kernel {kernel}, \
                     padding {padding} (floor((side + 2*padding - kernel) / stride) + 1 < 1)"
                ),
            ))
        }
    };
    let layer = parse_affine(&mut o, fan_in, out_channels)?;
    let (sv, sp) = o.req("spike")?;
    let spike = parse_spike(&sp, sv, out_channels)?;
    o.finish()?;
    Ok((
        Conv {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            layer,
            spike,
        },
        out,
    ))
}

fn parse_spike(path: &str, v: &Value, width: usize) -> R<Spike> {
    let mut o = Obj::new(path, v)?;
    let (tv, tp) = o.req("threshold")?;
    let threshold = int_array(&tp, tv, width, -32768, 32767)?
        .into_iter()
        .map(|x| x as i16)
        .collect();
    let shift = o.int("shift", 0, limits::MAX_SPIKE_SHIFT as i64)? as u8;
    o.finish()?;
    Ok(Spike { threshold, shift })
}

fn parse_decay(path: &str, v: &Value, width: usize) -> R<Decay> {
    let mut o = Obj::new(path, v)?;
    let (sv, sp) = o.req("sign")?;
    let raw = array_at(&sp, sv, width)?;
    let mut sign = Vec::with_capacity(width);
    for (i, x) in raw.iter().enumerate() {
        let p = format!("{sp}[{i}]");
        match x.as_i64() {
            Some(1) => sign.push(1i8),
            Some(-1) => sign.push(-1i8),
            _ => {
                return Err(ModelError::field(
                    &p,
                    format!("expected 1 or -1, found {x}"),
                ))
            }
        }
    }
    let (hv, hp) = o.req("shift")?;
    let shift = int_array(&hp, hv, width, 0, limits::MAX_DECAY_SHIFT as i64)?
        .into_iter()
        .map(|x| x as u8)
        .collect();
    o.finish()?;
    Ok(Decay { sign, shift })
}

fn parse_model(v: &Value) -> R<Model> {
    let mut o = Obj::new("", v)?;
    let (fv, fp) = o.req("format")?;
    match fv {
        Value::String(s) if s == FORMAT => {}
        other => {
            return Err(ModelError::field(
                &fp,
                format!("expected \"{FORMAT}\", found {other}"),
            ))
        }
    }
    let (vv, vp) = o.req("version")?;
    let version = match vv.as_u64() {
        Some(x @ 1..=VERSION) => x,
        _ => {
            return Err(ModelError::field(
                &vp,
                format!("unsupported version {vv}, expected 1 or {VERSION}"),
            ))
        }
    };
    let (nv, np) = o.req("name")?;
    let name = match nv {
        Value::String(s) => s.clone(),
        other => {
            return Err(ModelError::field(
                &np,
                format!("expected a string, found {}", kind(other)),
            ))
        }
    };
    let timesteps = o.int("timesteps", 1, limits::MAX_TIMESTEPS as i64)? as usize;

    // Whether there is a stem decides the input's limits, so look first.
    let raw_stem: &[Value] = if version < 2 {
        if o.map.contains_key("stem") {
            return Err(ModelError::field(
                "stem",
                "unknown field in a version 1 file (a stem needs \"version\": 2)",
            ));
        }
        &[]
    } else {
        match o.opt("stem") {
            None => &[],
            Some(Value::Array(a)) if a.len() <= limits::MAX_STEM_LAYERS => a,
            Some(Value::Array(a)) => {
                return Err(ModelError::field(
                    "stem",
                    format!(
                        "expected 0..={} conv layers, found {}",
                        limits::MAX_STEM_LAYERS,
                        a.len()
                    ),
                ))
            }
            Some(other) => {
                return Err(ModelError::field(
                    "stem",
                    format!("expected an array of conv layers, found {}", kind(other)),
                ))
            }
        }
    };
    let has_stem = !raw_stem.is_empty();

    let (inv, inp) = o.req("input")?;
    let mut io = Obj::new(&inp, inv)?;
    let max_g = if has_stem {
        limits::MAX_STEM_GROUP_LEN
    } else {
        limits::MAX_GROUP_LEN
    };
    let group_len = io.int("group_len", 1, max_g as i64)? as usize;
    let (gv, gp) = io.req("grouping")?;
    let grouping = match gv.as_str() {
        Some("split") => Grouping::Split,
        Some("repeat") => Grouping::Repeat,
        _ => {
            return Err(ModelError::field(
                &gp,
                format!("expected \"split\" or \"repeat\", found {gv}"),
            ))
        }
    };
    let shape_p = join(&inp, "shape");
    let shape =
        if version < 2 {
            if io.map.contains_key("shape") {
                return Err(ModelError::field(
                    &shape_p,
                    "unknown field in a version 1 file (an input shape needs \"version\": 2)",
                ));
            }
            None
        } else {
            match (io.opt("shape"), has_stem) {
                (None, false) => None,
                (None, true) => {
                    return Err(ModelError::field(
                        &shape_p,
                        "missing: required when the model has a stem ([H, W, C] of a group)",
                    ))
                }
                (Some(_), false) => return Err(ModelError::field(
                    &shape_p,
                    "given without a stem (only a model with a non-empty stem has an input shape)",
                )),
                (Some(sv), true) => {
                    let d = int_array(&shape_p, sv, 3, 1, limits::MAX_SIDE as i64)?;
                    let d = [d[0] as usize, d[1] as usize, d[2] as usize];
                    if d[0] * d[1] * d[2] != group_len {
                        return Err(ModelError::field(
                            &shape_p,
                            format!(
                                "H*W*C = {}*{}*{} = {} must equal input.group_len {group_len}",
                                d[0],
                                d[1],
                                d[2],
                                d[0] * d[1] * d[2]
                            ),
                        ));
                    }
                    Some(d)
                }
            }
        };
    io.finish()?;

    let mut stem = Vec::with_capacity(raw_stem.len());
    let mut map = shape.unwrap_or([1, 1, group_len]);
    for (i, cv) in raw_stem.iter().enumerate() {
        let ci_from = if i == 0 {
            "input.shape[2]".to_string()
        } else {
            format!("stem[{}].out_channels", i - 1)
        };
        let (c, out) = parse_conv(&format!("stem[{i}]"), cv, map, &ci_from)?;
        stem.push(c);
        map = out;
    }
    let stage0_in = map[0] * map[1] * map[2];
    if has_stem && stage0_in > limits::MAX_GROUP_LEN {
        return Err(ModelError::field(
            &format!("stem[{}]", stem.len() - 1),
            format!(
                "output map {} x {} x {} = {stage0_in} values, more than the {} stage 0 takes",
                map[0],
                map[1],
                map[2],
                limits::MAX_GROUP_LEN
            ),
        ));
    }
    let stage0_why = if has_stem {
        format!("the stem's output, {} x {} x {}", map[0], map[1], map[2])
    } else {
        "implied by the model shape".to_string()
    };

    let classes = o.int("classes", 1, limits::MAX_CLASSES as i64)? as usize;
    let (rv, rp) = o.req("readout")?;
    let readout = match rv.as_str() {
        Some("last") => Readout::Last,
        Some("sum") => Readout::Sum,
        _ => {
            return Err(ModelError::field(
                &rp,
                format!("expected \"last\" or \"sum\", found {rv}"),
            ))
        }
    };

    let (sv, sp) = o.req("stages")?;
    let raw_stages = match sv {
        Value::Array(a) if (1..=limits::MAX_STAGES).contains(&a.len()) => a,
        Value::Array(a) => {
            return Err(ModelError::field(
                &sp,
                format!(
                    "expected 1..={} stages, found {}",
                    limits::MAX_STAGES,
                    a.len()
                ),
            ))
        }
        other => {
            return Err(ModelError::field(
                &sp,
                format!("expected an array of stages, found {}", kind(other)),
            ))
        }
    };
    let s_count = raw_stages.len();
    // Widths first: stage l's `up` takes width[l+1].
    let mut widths = Vec::with_capacity(s_count);
    for (l, st) in raw_stages.iter().enumerate() {
        let p = format!("{sp}[{l}]");
        let map = match st {
            Value::Object(m) => m,
            other => {
                return Err(ModelError::field(
                    &p,
                    format!("expected an object, found {}", kind(other)),
                ))
            }
        };
        let wp = format!("{p}.width");
        let w = match map.get("width") {
            Some(w) => int_at(&wp, w, 1, limits::MAX_WIDTH as i64)? as usize,
            None => return Err(ModelError::field(&wp, "missing required field")),
        };
        widths.push(w);
    }
    let mut stages = Vec::with_capacity(s_count);
    for (l, st) in raw_stages.iter().enumerate() {
        let p = format!("{sp}[{l}]");
        let width = widths[l];
        let mut so = Obj::new(&p, st)?;
        so.opt("width");
        let (dv, dp) = so.req("down")?;
        let down = if l == 0 {
            parse_layer_from(&dp, dv, stage0_in, &stage0_why, width)?
        } else {
            parse_layer(&dp, dv, widths[l - 1], width)?
        };
        let up_p = join(&p, "up");
        let up = match (so.opt("up"), l + 1 < s_count) {
            (Some(Value::Null) | None, false) => None,
            (Some(Value::Null) | None, true) => {
                return Err(ModelError::field(
                    &up_p,
                    format!(
                        "required for every stage but the last (stage {l} of {s_count}), found none"
                    ),
                ))
            }
            (Some(_), false) => {
                return Err(ModelError::field(
                    &up_p,
                    "must be null or absent for the last stage",
                ))
            }
            (Some(u), true) => Some(parse_layer(&up_p, u, widths[l + 1], width)?),
        };
        let (bv, bp) = so.req("blocks")?;
        let raw_blocks = match bv {
            Value::Array(a) if a.len() <= limits::MAX_BLOCKS => a,
            Value::Array(a) => {
                return Err(ModelError::field(
                    &bp,
                    format!(
                        "expected 0..={} blocks, found {}",
                        limits::MAX_BLOCKS,
                        a.len()
                    ),
                ))
            }
            other => {
                return Err(ModelError::field(
                    &bp,
                    format!("expected an array of blocks, found {}", kind(other)),
                ))
            }
        };
        let mut blocks = Vec::with_capacity(raw_blocks.len());
        for (b, bl) in raw_blocks.iter().enumerate() {
            let bpp = format!("{bp}[{b}]");
            let mut bo = Obj::new(&bpp, bl)?;
            let (spv, spp) = bo.req("spike")?;
            let spike = parse_spike(&spp, spv, width)?;
            let (lv, lp) = bo.req("layer")?;
            let layer = parse_layer(&lp, lv, width, width)?;
            bo.finish()?;
            blocks.push(Block { spike, layer });
        }
        let (dcv, dcp) = so.req("decay")?;
        let decay = parse_decay(&dcp, dcv, width)?;
        let (osv, osp) = so.req("out_spike")?;
        let out_spike = parse_spike(&osp, osv, width)?;
        so.finish()?;
        stages.push(Stage {
            width,
            down,
            up,
            blocks,
            decay,
            out_spike,
        });
    }
    let (hv, hp) = o.req("head")?;
    let head = parse_layer(&hp, hv, widths[s_count - 1], classes)?;
    o.finish()?;
    Ok(Model {
        name,
        timesteps,
        input: InputSpec {
            group_len,
            grouping,
            shape,
        },
        classes,
        readout,
        stem,
        stages,
        head,
    })
}

/// A JSON path being parsed, kept as a chain of borrowed segments so that
/// building it costs nothing unless a duplicate key needs naming.
enum Seg<'a> {
    Root,
    Key(&'a Seg<'a>, &'a str),
    Index(&'a Seg<'a>, usize),
}

impl Seg<'_> {
    fn render(&self) -> String {
        match self {
            Seg::Root => String::new(),
            Seg::Key(p, k) => join(&p.render(), k),
            Seg::Index(p, i) => format!("{}[{i}]", p.render()),
        }
    }
}

/// Builds a `serde_json::Value` like serde_json does, but refuses a key that
/// appears twice in one object, recording its path in `dup`.
struct ValueSeed<'a> {
    at: &'a Seg<'a>,
    dup: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        loop {
            let at = Seg::Index(self.at, v.len());
            let seed = ValueSeed {
                at: &at,
                dup: self.dup,
            };
            match seq.next_element_seed(seed)? {
                Some(x) => v.push(x),
                None => return Ok(Value::Array(v)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let at = Seg::Key(self.at, &k);
            if m.contains_key(&k) {
                let p = at.render();
                *self.dup.borrow_mut() = Some(p.clone());
                return Err(A::Error::custom(format!("{p}: duplicate key")));
            }
            let v = map.next_value_seed(ValueSeed {
                at: &at,
                dup: self.dup,
            })?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// Parses JSON text, refusing duplicate keys (naming their path).
fn parse_json(s: &str) -> R<Value> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(s);
    let v = ValueSeed {
        at: &Seg::Root,
        dup: &dup,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|_| v));
    v.map_err(|e| match dup.into_inner() {
        Some(path) => ModelError::Field {
            path,
            msg: format!(
                "duplicate key (line {}, column {}): each key may appear once",
                e.line(),
                e.column()
            ),
        },
        None => ModelError::Json(e.to_string()),
    })
}

/// Line and column (1-based, in characters) of byte `offset` of valid UTF-8 text.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Model {
    /// Parses and validates a model file's text.
    pub fn from_json_str(s: &str) -> Result<Model, ModelError> {
        let v = parse_json(s)?;
        parse_model(&v)
    }

    /// Parses and validates a model file's bytes; text that is not UTF-8 is
    /// refused with the position of its first bad byte.
    pub fn from_json_bytes(b: &[u8]) -> Result<Model, ModelError> {
        match std::str::from_utf8(b) {
            Ok(s) => Model::from_json_str(s),
            Err(e) => {
                let offset = e.valid_up_to();
                // The prefix is valid UTF-8 by construction.
                let text = std::str::from_utf8(&b[..offset]).unwrap_or("");
                let (line, column) = line_col(text, offset);
                Err(ModelError::Utf8 {
                    offset,
                    byte: b[offset],
                    line,
                    column,
                })
            }
        }
    }

    /// Reads, parses and validates a model file; errors name the file. Reads
    /// at most [`limits::max_file_bytes`] bytes (so `/dev/zero` or a huge file
    /// is refused after a bounded read).
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let p = path.as_ref();
        let io = |e: std::io::Error| ModelError::Io {
            path: p.display().to_string(),
            msg: e.to_string(),
        };
        let limit = limits::max_file_bytes();
        let mut bytes = Vec::new();
        std::fs::File::open(p)
            .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
            .map_err(io)?;
        if bytes.len() > limit {
            return Err(ModelError::TooLarge {
                path: p.display().to_string(),
                limit,
            });
        }
        Model::from_json_bytes(&bytes).map_err(|e| ModelError::File {
            path: p.display().to_string(),
            error: Box::new(e),
        })
    }

    /// Writes the model file to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_json_string())
    }

    /// Re-checks every invariant by a round trip through the file format.
    /// Useful for models built in code (generators, exporters).
    pub fn validate(&self) -> Result<(), ModelError> {
        Model::from_json_str(&self.to_json_string()).map(|_| ())
    }

    /// The file version this model is written as: 2 with a stem, else 1.
    pub fn version(&self) -> u64 {
        if self.stem.is_empty() && self.input.shape.is_none() {
            1
        } else {
            2
        }
    }

    /// The feature maps of the stem, `[H, W, C]` each: the input group's shape
    /// first, then each stem layer's output. Empty without a stem.
    pub fn stem_maps(&self) -> Vec<[usize; 3]> {
        let Some(mut map) = self.input.shape else {
            return Vec::new();
        };
        let mut v = vec![map];
        for c in &self.stem {
            match c.out_map(map) {
                Some(m) => map = m,
                None => break,
            }
            v.push(map);
        }
        v
    }

    /// Length of the vector stage 0's `down` reads per timestep: the stem's
    /// output, or the input group without a stem.
    pub fn stage0_input_len(&self) -> usize {
        self.stages
            .first()
            .map_or(self.input.group_len, |s| s.down.inputs)
    }

    /// Number of stages `S`.
    pub fn num_stages(&self) -> usize {
        self.stages.len()
    }

    /// Length of the input vector the host supplies per sample.
    pub fn expected_input_len(&self) -> usize {
        match self.input.grouping {
            Grouping::Split => self.timesteps * self.input.group_len,
            Grouping::Repeat => self.input.group_len,
        }
    }

    /// Every layer of the model in file order (the stem's convolutions as
    /// dense layers of `k*k*Ci` inputs, then down, up, blocks per stage, then head).
    pub fn layers(&self) -> Vec<&Layer> {
        let mut v: Vec<&Layer> = self.stem.iter().map(|c| &c.layer).collect();
        for st in &self.stages {
            v.push(&st.down);
            if let Some(u) = &st.up {
                v.push(u);
            }
            for b in &st.blocks {
                v.push(&b.layer);
            }
        }
        v.push(&self.head);
        v
    }

    /// Every layer, mutably, in file order (stem, down, up, blocks per stage, head).
    pub fn layers_mut(&mut self) -> Vec<&mut Layer> {
        let mut v: Vec<&mut Layer> = self.stem.iter_mut().map(|c| &mut c.layer).collect();
        for st in &mut self.stages {
            v.push(&mut st.down);
            if let Some(u) = &mut st.up {
                v.push(u);
            }
            for b in &mut st.blocks {
                v.push(&mut b.layer);
            }
        }
        v.push(&mut self.head);
        v
    }

    /// Serializes in the canonical layout: keys in SEMANTICS.md order, one
    /// line per weight row, scalar arrays on one line. Round-trips exactly.
    pub fn to_json_string(&self) -> String {
        let mut w = String::new();
        let _ = self.write_json(&mut w);
        w
    }

    fn write_json(&self, w: &mut String) -> std::fmt::Result {
        let name = serde_json::to_string(&self.name).unwrap_or_else(|_| "\"\"".to_string());
        writeln!(w, "{{")?;
        writeln!(w, "  \"format\": \"{FORMAT}\",")?;
        writeln!(w, "  \"version\": {},", self.version())?;
        writeln!(w, "  \"name\": {name},")?;
        writeln!(w, "  \"timesteps\": {},", self.timesteps)?;
        let g = match self.input.grouping {
            Grouping::Split => "split",
            Grouping::Repeat => "repeat",
        };
        let shape = match self.input.shape {
            Some([h, wd, c]) => format!(", \"shape\": [{h}, {wd}, {c}]"),
            None => String::new(),
        };
        writeln!(
            w,
            "  \"input\": {{ \"group_len\": {}, \"grouping\": \"{g}\"{shape} }},",
            self.input.group_len
        )?;
        writeln!(w, "  \"classes\": {},", self.classes)?;
        let r = match self.readout {
            Readout::Last => "last",
            Readout::Sum => "sum",
        };
        writeln!(w, "  \"readout\": \"{r}\",")?;
        if !self.stem.is_empty() {
            writeln!(w, "  \"stem\": [")?;
            for (i, c) in self.stem.iter().enumerate() {
                write_conv(w, c)?;
                writeln!(w, "{}", if i + 1 < self.stem.len() { "," } else { "" })?;
            }
            writeln!(w, "  ],")?;
        }
        writeln!(w, "  \"stages\": [")?;
        for (l, st) in self.stages.iter().enumerate() {
            writeln!(w, "    {{")?;
            writeln!(w, "      \"width\": {},", st.width)?;
            write!(w, "      \"down\": ")?;
            write_layer(w, &st.down, "      ")?;
            writeln!(w, ",")?;
            if let Some(u) = &st.up {
                write!(w, "      \"up\": ")?;
                write_layer(w, u, "      ")?;
                writeln!(w, ",")?;
            }
            write!(w, "      \"blocks\": [")?;
            for (b, bl) in st.blocks.iter().enumerate() {
                write!(w, "{}", if b == 0 { "\n" } else { ",\n" })?;
                write!(w, "        {{ \"spike\": ")?;
                write_spike(w, &bl.spike)?;
                write!(w, ",\n          \"layer\": ")?;
                write_layer(w, &bl.layer, "          ")?;
                write!(w, " }}")?;
            }
            if st.blocks.is_empty() {
                writeln!(w, "],")?;
            } else {
                writeln!(w, "\n      ],")?;
            }
            writeln!(
                w,
                "      \"decay\": {{ \"sign\": {}, \"shift\": {} }},",
                list(&st.decay.sign),
                list(&st.decay.shift)
            )?;
            write!(w, "      \"out_spike\": ")?;
            write_spike(w, &st.out_spike)?;
            writeln!(w)?;
            writeln!(
                w,
                "    }}{}",
                if l + 1 < self.stages.len() { "," } else { "" }
            )?;
        }
        writeln!(w, "  ],")?;
        write!(w, "  \"head\": ")?;
        write_layer(w, &self.head, "  ")?;
        writeln!(w)?;
        writeln!(w, "}}")
    }
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    let mut s = String::with_capacity(v.len() * 4 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{x}");
    }
    s.push(']');
    s
}

fn write_spike(w: &mut String, s: &Spike) -> std::fmt::Result {
    write!(
        w,
        "{{ \"threshold\": {}, \"shift\": {} }}",
        list(&s.threshold),
        s.shift
    )
}

fn write_conv(w: &mut String, c: &Conv) -> std::fmt::Result {
    writeln!(w, "    {{")?;
    writeln!(
        w,
        "      \"kind\": \"conv\", \"in_channels\": {}, \"out_channels\": {}, \"kernel\": {}, \"stride\": {}, \"padding\": {},",
        c.in_channels, c.out_channels, c.kernel, c.stride, c.padding
    )?;
    write_affine(w, &c.layer, "    ")?;
    writeln!(w, ",")?;
    write!(w, "      \"spike\": ")?;
    write_spike(w, &c.spike)?;
    writeln!(w)?;
    write!(w, "    }}")
}

fn write_layer(w: &mut String, l: &Layer, indent: &str) -> std::fmt::Result {
    writeln!(w, "{{")?;
    writeln!(w, "{indent}  \"in\": {}, \"out\": {},", l.inputs, l.outputs)?;
    write_affine(w, l, indent)?;
    writeln!(w)?;
    write!(w, "{indent}}}")
}

/// weights, multiplier, bias and shift, without a newline after the shift.
fn write_affine(w: &mut String, l: &Layer, indent: &str) -> std::fmt::Result {
    write!(w, "{indent}  \"weights\": [")?;
    for (o, row) in l.weights.iter().enumerate() {
        write!(w, "{}{indent}    \"", if o == 0 { "\n" } else { ",\n" })?;
        for b in row {
            write!(w, "{b:02x}")?;
        }
        write!(w, "\"")?;
    }
    if l.weights.is_empty() {
        writeln!(w, "],")?;
    } else {
        writeln!(w, "\n{indent}  ],")?;
    }
    writeln!(w, "{indent}  \"multiplier\": {},", list(&l.multiplier))?;
    writeln!(w, "{indent}  \"bias\": {},", list(&l.bias))?;
    write!(w, "{indent}  \"shift\": {}", l.shift)
}
