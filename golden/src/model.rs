//! The revspike model file, version 1 (SEMANTICS.md "Model file (JSON), version 1").
//!
//! Loading walks a `serde_json::Value` by hand instead of deriving `Deserialize`,
//! so that every rejection can name the exact field path
//! (`stages[1].blocks[0].layer.bias: expected 128 entries, found 127`) and no
//! malformed input can reach an `unwrap`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

/// File format tag required in every model file.
pub const FORMAT: &str = "revspike-model";
/// The only model file version this crate reads and writes.
pub const VERSION: u64 = 1;

/// Limits from SEMANTICS.md.
pub mod limits {
    pub const MAX_TIMESTEPS: usize = 16;
    pub const MAX_GROUP_LEN: usize = 1024;
    pub const MAX_CLASSES: usize = 256;
    pub const MAX_STAGES: usize = 4;
    pub const MAX_WIDTH: usize = 1024;
    pub const MAX_BLOCKS: usize = 4;
    pub const MAX_DECAY_SHIFT: u8 = 15;
    pub const MAX_SPIKE_SHIFT: u8 = 15;
    pub const MAX_LAYER_SHIFT: u8 = 31;
    pub const MAX_BIAS: i32 = 1 << 24;
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
    pub stages: Vec<Stage>,
    pub head: Layer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    pub group_len: usize,
    pub grouping: Grouping,
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
    /// `true` when W[o][i] = +1.
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
            format!("expected an integer in {lo}..={hi}, found {n}"),
        ));
    } else {
        return Err(ModelError::field(
            path,
            format!("expected an integer in {lo}..={hi}, found non-integer {n}"),
        ));
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
    let mut o = Obj::new(path, v)?;
    let (iv, ip) = o.req("in")?;
    let inputs = int_at(&ip, iv, 0, i64::MAX)? as usize;
    if inputs != n {
        return Err(ModelError::field(
            &ip,
            format!("expected {n} (implied by the model shape), found {inputs}"),
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
    o.finish()?;
    Ok(Layer {
        inputs,
        outputs,
        weights,
        multiplier,
        bias,
        shift,
    })
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
    if vv.as_u64() != Some(VERSION) {
        return Err(ModelError::field(
            &vp,
            format!("unsupported version {vv}, expected {VERSION}"),
        ));
    }
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

    let (inv, inp) = o.req("input")?;
    let mut io = Obj::new(&inp, inv)?;
    let group_len = io.int("group_len", 1, limits::MAX_GROUP_LEN as i64)? as usize;
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
    io.finish()?;

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
        let down_in = if l == 0 { group_len } else { widths[l - 1] };
        let (dv, dp) = so.req("down")?;
        let down = parse_layer(&dp, dv, down_in, width)?;
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
        },
        classes,
        readout,
        stages,
        head,
    })
}

impl Model {
    /// Parses and validates a model file's text.
    pub fn from_json_str(s: &str) -> Result<Model, ModelError> {
        let v: Value = serde_json::from_str(s).map_err(|e| ModelError::Json(e.to_string()))?;
        parse_model(&v)
    }

    /// Reads, parses and validates a model file; errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let p = path.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| ModelError::Io {
            path: p.display().to_string(),
            msg: e.to_string(),
        })?;
        Model::from_json_str(&text).map_err(|e| ModelError::File {
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

    /// Every layer of the model in file order (down, up, blocks per stage, then head).
    pub fn layers(&self) -> Vec<&Layer> {
        let mut v = Vec::new();
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

    /// Every layer, mutably, in file order (down, up, blocks per stage, head).
    pub fn layers_mut(&mut self) -> Vec<&mut Layer> {
        let mut v = Vec::new();
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
        writeln!(w, "  \"version\": {VERSION},")?;
        writeln!(w, "  \"name\": {name},")?;
        writeln!(w, "  \"timesteps\": {},", self.timesteps)?;
        let g = match self.input.grouping {
            Grouping::Split => "split",
            Grouping::Repeat => "repeat",
        };
        writeln!(
            w,
            "  \"input\": {{ \"group_len\": {}, \"grouping\": \"{g}\" }},",
            self.input.group_len
        )?;
        writeln!(w, "  \"classes\": {},", self.classes)?;
        let r = match self.readout {
            Readout::Last => "last",
            Readout::Sum => "sum",
        };
        writeln!(w, "  \"readout\": \"{r}\",")?;
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

fn write_layer(w: &mut String, l: &Layer, indent: &str) -> std::fmt::Result {
    writeln!(w, "{{")?;
    writeln!(w, "{indent}  \"in\": {}, \"out\": {},", l.inputs, l.outputs)?;
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
    writeln!(w, "{indent}  \"shift\": {}", l.shift)?;
    write!(w, "{indent}}}")
}
