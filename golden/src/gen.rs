//! Seeded model and input generators for tests and benches.
//!
//! Version 1 models (no stem) come out exactly as before for the same seed and
//! bounds: a stem is generated only when [`GenOptions::max_stem_layers`] is at
//! least 1, and only then are its random draws made.
//!
//! Generated models are valid by construction and tuned to be *active*: the
//! requantization shift of every layer is chosen from the expected spread of its
//! accumulator so that membranes land in a range where a good fraction of
//! thresholds are crossed, and thresholds sit around zero. A small share of
//! values is drawn from the edges of every range (width 1, h = 0 and 15,
//! thresholds at -32768 and 32767, negative multipliers, sign -1 leaks).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{
    conv_out_side, limits, Block, Conv, Decay, Grouping, InputSpec, Layer, Model, Readout, Spike,
    Stage,
};

/// Bounds for [`gen_model`]. `Default` covers the whole spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    pub max_width: usize,
    pub max_stages: usize,
    pub max_blocks: usize,
    pub max_timesteps: usize,
    pub max_group_len: usize,
    pub max_classes: usize,
    /// Upper bound on any layer's `in` and `out` (rows and row length).
    pub max_weight_rows: usize,
    /// Upper bound on total weight bits of the model.
    pub max_weight_bits: usize,
    /// Upper bound on each decay shift h (0..=15).
    pub max_decay_shift: u8,
    /// Upper bound on reversible buffer bits, (T-1) * sum h.
    pub max_buffer_bits: usize,
    /// Restrict the grouping (None: either).
    pub grouping: Option<Grouping>,
    /// Restrict the readout (None: either).
    pub readout: Option<Readout>,
    /// Regenerate values (up to 32 tries) until the model's own test input
    /// [`gen_input`]`(model, seed)` and an all-255 input run without any wrap16
    /// overflow, as a correctly quantized model would.
    pub avoid_wraps: bool,
    /// Most stem layers (0..=4). 0, the default, gives version 1 models without
    /// a stem; K >= 1 gives version 2 models with 1..=K conv layers.
    pub max_stem_layers: usize,
    /// Largest `out_channels` of a stem layer (1..=256).
    pub max_stem_channels: usize,
    /// Largest stem kernel (1, 3 or 5).
    pub max_stem_kernel: usize,
    /// Largest stem stride (1..=4).
    pub max_stem_stride: usize,
    /// Largest input height and width `H`, `W` with a stem (1..=256).
    pub max_input_side: usize,
    /// Largest input channel count `C` with a stem (1..=256).
    pub max_input_channels: usize,
    /// Longest input group `H*W*C` with a stem (1..=4096).
    pub max_stem_group_len: usize,
    /// Most values in any stem layer's output map, `H'*W'*Co`.
    pub max_stem_map: usize,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            max_width: limits::MAX_WIDTH,
            max_stages: limits::MAX_STAGES,
            max_blocks: limits::MAX_BLOCKS,
            max_timesteps: limits::MAX_TIMESTEPS,
            max_group_len: limits::MAX_GROUP_LEN,
            max_classes: limits::MAX_CLASSES,
            max_weight_rows: limits::MAX_WIDTH.max(limits::MAX_GROUP_LEN),
            max_weight_bits: usize::MAX,
            max_decay_shift: limits::MAX_DECAY_SHIFT,
            max_buffer_bits: usize::MAX,
            grouping: None,
            readout: None,
            avoid_wraps: false,
            max_stem_layers: 0,
            max_stem_channels: limits::MAX_CONV_CHANNELS,
            max_stem_kernel: 5,
            max_stem_stride: limits::MAX_STRIDE,
            max_input_side: limits::MAX_SIDE,
            max_input_channels: limits::MAX_SIDE,
            max_stem_group_len: limits::MAX_STEM_GROUP_LEN,
            max_stem_map: usize::MAX,
        }
    }
}

impl GenOptions {
    /// Small models (widths <= 16, G <= 24, T <= 6) for fast exhaustive tests;
    /// with `max_stem_layers` set, small stems too (inputs up to 12 x 12 x 3,
    /// at most 8 channels and 256 values per map).
    pub fn small() -> Self {
        GenOptions {
            max_width: 16,
            max_group_len: 24,
            max_timesteps: 6,
            max_classes: 8,
            max_stem_channels: 8,
            max_input_side: 12,
            max_input_channels: 3,
            max_stem_group_len: 432,
            max_stem_map: 256,
            ..GenOptions::default()
        }
    }
}

/// The shape of one stem layer for [`gen_model_stem_shaped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// An exact stem shape: the input group's `[H, W, C]` and the conv layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StemShape {
    pub input: [usize; 3],
    pub layers: Vec<ConvShape>,
}

impl StemShape {
    /// The input map and every layer's output map (`None` if one is empty).
    pub fn maps(&self) -> Option<Vec<[usize; 3]>> {
        let mut m = self.input;
        let mut v = vec![m];
        for c in &self.layers {
            m = [
                conv_out_side(m[0], c.kernel, c.stride, c.padding)?,
                conv_out_side(m[1], c.kernel, c.stride, c.padding)?,
                c.out_channels,
            ];
            v.push(m);
        }
        Some(v)
    }

    /// Values of the last map (what stage 0 reads).
    pub fn output_len(&self) -> usize {
        self.maps()
            .and_then(|v| v.last().map(|m| m[0] * m[1] * m[2]))
            .unwrap_or(0)
    }

    /// Weight bits of the stem, sum of `k*k*Ci*Co`.
    pub fn weight_bits(&self) -> usize {
        let mut ci = self.input[2];
        let mut bits = 0;
        for c in &self.layers {
            bits += c.kernel * c.kernel * ci * c.out_channels;
            ci = c.out_channels;
        }
        bits
    }
}

/// An exact model shape for [`gen_model_shaped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub timesteps: usize,
    pub group_len: usize,
    pub grouping: Grouping,
    pub classes: usize,
    pub readout: Readout,
    pub widths: Vec<usize>,
    /// Blocks per stage (same length as `widths`).
    pub blocks: Vec<usize>,
}

impl Shape {
    /// Total weight bits of a model with this shape.
    pub fn weight_bits(&self) -> usize {
        let s = self.widths.len();
        let mut bits = 0;
        for l in 0..s {
            let w = self.widths[l];
            let n = if l == 0 {
                self.group_len
            } else {
                self.widths[l - 1]
            };
            bits += n * w;
            if l + 1 < s {
                bits += self.widths[l + 1] * w;
            }
            bits += self.blocks.get(l).copied().unwrap_or(0) * w * w;
        }
        bits + self.widths.last().copied().unwrap_or(0) * self.classes
    }
}

/// Knobs for the value distributions of [`gen_model_shaped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueOptions {
    pub max_decay_shift: u8,
    /// Share (0..=100) of values drawn from range edges.
    pub edge_percent: u32,
}

impl Default for ValueOptions {
    fn default() -> Self {
        ValueOptions {
            max_decay_shift: limits::MAX_DECAY_SHIFT,
            edge_percent: 4,
        }
    }
}

fn log_uniform(rng: &mut ChaCha8Rng, max: usize) -> usize {
    let max = max.max(1);
    // Widths 1 and max are edges worth hitting often.
    match rng.gen_range(0..16) {
        0 => 1,
        1 => max,
        _ => {
            let e = rng.gen_range(0.0..=(max as f64).log2());
            (2f64.powf(e).round() as usize).clamp(1, max)
        }
    }
}

/// A random shape within `opts`.
pub fn gen_shape(rng: &mut ChaCha8Rng, opts: &GenOptions) -> Shape {
    gen_shape_inner(rng, opts, None)
}

/// `stem`: (stage 0's input length, weight bits left for the dense part) when
/// a stem sits in front; the shape's `group_len` is then that input length and
/// is not drawn.
fn gen_shape_inner(rng: &mut ChaCha8Rng, opts: &GenOptions, stem: Option<(usize, usize)>) -> Shape {
    let budget = stem.map_or(opts.max_weight_bits, |(_, b)| b);
    let max_w = opts.max_width.min(opts.max_weight_rows).max(1);
    let max_g = opts
        .max_group_len
        .min(limits::MAX_GROUP_LEN)
        .min(opts.max_weight_rows)
        .max(1);
    let max_c = opts.max_classes.min(opts.max_weight_rows).max(1);
    let max_s = opts.max_stages.clamp(1, limits::MAX_STAGES);
    let max_b = opts.max_blocks.min(limits::MAX_BLOCKS);
    let max_t = opts.max_timesteps.clamp(1, limits::MAX_TIMESTEPS);
    let mut best: Option<Shape> = None;
    for attempt in 0..64 {
        let s = rng.gen_range(1..=max_s);
        // Shrink later attempts so a tight weight budget is always met.
        let scale = 1usize << (attempt / 8).min(10);
        let sh = Shape {
            timesteps: match rng.gen_range(0..8) {
                0 => 1,
                1 => max_t,
                _ => rng.gen_range(1..=max_t),
            },
            group_len: match stem {
                Some((g, _)) => g,
                None => log_uniform(rng, (max_g / scale).max(1)),
            },
            grouping: opts.grouping.unwrap_or(if rng.gen_bool(0.5) {
                Grouping::Split
            } else {
                Grouping::Repeat
            }),
            classes: log_uniform(rng, (max_c / scale).max(1)),
            readout: opts.readout.unwrap_or(if rng.gen_bool(0.5) {
                Readout::Sum
            } else {
                Readout::Last
            }),
            widths: (0..s)
                .map(|_| log_uniform(rng, (max_w / scale).max(1)))
                .collect(),
            blocks: (0..s).map(|_| rng.gen_range(0..=max_b)).collect(),
        };
        if sh.weight_bits() <= budget {
            return sh;
        }
        best = Some(sh);
    }
    // Budget too tight for anything random: the smallest model of that kind.
    let mut sh = best.unwrap_or(Shape {
        timesteps: 1,
        group_len: 1,
        grouping: Grouping::Repeat,
        classes: 1,
        readout: Readout::Last,
        widths: vec![1],
        blocks: vec![0],
    });
    sh.widths = vec![1];
    sh.blocks = vec![0];
    sh.group_len = stem.map_or(1, |(g, _)| g);
    sh.classes = 1;
    sh
}

/// A kernel size within `max_k` whose fan-in `k*k*ci` stays within
/// `max_fan_in` (1 when none does).
fn pick_kernel(rng: &mut ChaCha8Rng, max_k: usize, ci: usize, max_fan_in: usize) -> usize {
    let fits = |k: usize| k <= max_k && k * k * ci <= max_fan_in;
    let ks: Vec<usize> = limits::KERNELS.into_iter().filter(|&k| fits(k)).collect();
    // k = 3 is the common case; 1 and 5 are edges worth hitting.
    match rng.gen_range(0..4) {
        _ if ks.is_empty() => 1,
        0 | 1 if ks.contains(&3) => 3,
        _ => ks[rng.gen_range(0..ks.len())],
    }
}

/// A random stem within `opts` (`opts.max_stem_layers >= 1`), whose output
/// stage 0 can take and whose weights leave room in `opts.max_weight_bits`.
pub fn gen_stem_shape(rng: &mut ChaCha8Rng, opts: &GenOptions) -> StemShape {
    let max_layers = opts.max_stem_layers.clamp(1, limits::MAX_STEM_LAYERS);
    // A conv layer is a dense layer of k*k*Ci inputs and Co outputs, so
    // max_weight_rows bounds both.
    let max_co = opts
        .max_stem_channels
        .min(opts.max_weight_rows)
        .clamp(1, limits::MAX_CONV_CHANNELS);
    let max_fan_in = limits::MAX_CONV_FAN_IN.min(opts.max_weight_rows);
    let max_side = opts.max_input_side.clamp(1, limits::MAX_SIDE);
    let max_c = opts.max_input_channels.clamp(1, limits::MAX_SIDE);
    let max_g = opts.max_stem_group_len.clamp(1, limits::MAX_STEM_GROUP_LEN);
    let max_stride = opts.max_stem_stride.clamp(1, limits::MAX_STRIDE);
    let max_map = opts.max_stem_map.max(1);
    let max_out = limits::MAX_GROUP_LEN.min(opts.max_weight_rows).max(1);
    let stem_budget = opts.max_weight_bits / 2;
    for attempt in 0..64 {
        let scale = 1usize << (attempt / 8).min(8);
        let n = rng.gen_range(1..=max_layers);
        let c = if rng.gen_range(0..4) == 0 {
            log_uniform(rng, max_c)
        } else {
            rng.gen_range(1..=max_c.min(3))
        }
        .min(max_fan_in.max(1));
        let mut h = log_uniform(rng, (max_side / scale).max(1));
        let mut w = if rng.gen_bool(0.7) {
            h
        } else {
            log_uniform(rng, (max_side / scale).max(1))
        };
        while h * w * c > max_g && (h > 1 || w > 1) {
            if h >= w {
                h = h.div_ceil(2);
            } else {
                w = w.div_ceil(2);
            }
        }
        if h * w * c > max_g {
            continue;
        }
        let mut map = [h, w, c];
        let mut layers = Vec::with_capacity(n);
        let mut ok = true;
        for i in 0..n {
            let k = pick_kernel(rng, opts.max_stem_kernel, map[2], max_fan_in);
            let mut s = match rng.gen_range(0..5) {
                0 | 1 => 1,
                2 | 3 => 2.min(max_stride),
                _ => rng.gen_range(1..=max_stride),
            };
            let mut p = rng.gen_range(0..=k / 2);
            if conv_out_side(map[0], k, s, p).is_none() || conv_out_side(map[1], k, s, p).is_none()
            {
                // With padding k/2 an odd kernel never empties the map.
                p = k / 2;
            }
            let last = i + 1 == n;
            let limit = if last { max_out.min(max_map) } else { max_map };
            let side = |s: usize| {
                (
                    conv_out_side(map[0], k, s, p).unwrap_or(1),
                    conv_out_side(map[1], k, s, p).unwrap_or(1),
                )
            };
            let (mut oh, mut ow) = side(s);
            while oh * ow > limit && s < max_stride {
                s += 1;
                (oh, ow) = side(s);
            }
            if oh * ow > limit {
                ok = false;
                break;
            }
            let co = log_uniform(rng, (max_co / scale).max(1)).min(limit / (oh * ow));
            layers.push(ConvShape {
                out_channels: co.max(1),
                kernel: k,
                stride: s,
                padding: p,
            });
            map = [oh, ow, co.max(1)];
        }
        if !ok {
            continue;
        }
        let st = StemShape {
            input: [h, w, c],
            layers,
        };
        if st.weight_bits() <= stem_budget {
            return st;
        }
    }
    StemShape {
        input: [1, 1, 1],
        layers: vec![ConvShape {
            out_channels: 1,
            kernel: 1,
            stride: 1,
            padding: 0,
        }],
    }
}

/// Generates a model within `opts`, deterministic in `seed`.
pub fn gen_model(seed: u64, opts: &GenOptions) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stem = (opts.max_stem_layers > 0).then(|| gen_stem_shape(&mut rng, opts));
    let mut shape = match &stem {
        None => gen_shape(&mut rng, opts),
        Some(st) => {
            let left = opts.max_weight_bits.saturating_sub(st.weight_bits());
            gen_shape_inner(&mut rng, opts, Some((st.output_len(), left)))
        }
    };
    if let Some(st) = &stem {
        shape.group_len = st.input.iter().product();
    }
    let stem = stem.as_ref();
    let mut vo = ValueOptions {
        max_decay_shift: opts.max_decay_shift.min(limits::MAX_DECAY_SHIFT),
        ..ValueOptions::default()
    };
    // Respect the buffer budget by lowering the largest allowed h.
    let chans: usize = shape.widths.iter().sum();
    let steps = shape.timesteps.saturating_sub(1);
    while vo.max_decay_shift > 0
        && steps * chans * vo.max_decay_shift as usize > opts.max_buffer_bits
    {
        vo.max_decay_shift -= 1;
    }
    // Half of the models keep to typical values; the rest draw some from range edges.
    vo.edge_percent = [0, 0, 2, 5][rng.gen_range(0..4)];
    let mut m = gen_values(&mut rng, &shape, stem, &vo);
    m.name = format!("gen-{seed}");
    if opts.avoid_wraps {
        for attempt in 1..=32u8 {
            if !wraps(&m, seed) {
                break;
            }
            vo.edge_percent = 0;
            m = gen_values(&mut rng, &shape, stem, &vo);
            m.name = format!("gen-{seed}");
            // Lower the gain of every layer until the membranes stay in range.
            for l in m.layers_mut() {
                l.shift = (l.shift + attempt / 4).min(limits::MAX_LAYER_SHIFT);
            }
        }
    }
    m
}

fn wraps(m: &Model, seed: u64) -> bool {
    let full = vec![255; m.expected_input_len()];
    [gen_input(m, seed), full]
        .iter()
        .any(|x| crate::sim::infer(m, x).map(|r| r.wraps > 0).unwrap_or(true))
}

/// Generates a model with exactly this shape, deterministic in `seed`.
pub fn gen_model_shaped(seed: u64, shape: &Shape, vo: &ValueOptions) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut m = gen_values(&mut rng, shape, None, vo);
    m.name = format!("gen-{seed}");
    m
}

/// Generates a version 2 model with exactly this stem and dense shape
/// (`shape.group_len` must be `H*W*C` of `stem.input`), deterministic in `seed`.
pub fn gen_model_stem_shaped(
    seed: u64,
    shape: &Shape,
    stem: &StemShape,
    vo: &ValueOptions,
) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut m = gen_values(&mut rng, shape, Some(stem), vo);
    m.name = format!("gen-{seed}");
    m
}

/// Typical RMS of a non-zero activation, used to size layer shifts.
const ACT_RMS: f64 = 110.0;
/// Target spread of a layer output (a membrane), in LSBs.
const TARGET_STD: f64 = 1000.0;

fn gen_layer(
    rng: &mut ChaCha8Rng,
    n: usize,
    m: usize,
    density: f64,
    edge: u32,
    target: f64,
) -> Layer {
    let nbytes = n.div_ceil(8);
    let weights = (0..m)
        .map(|_| {
            let mut row: Vec<u8> = (0..nbytes).map(|_| rng.gen()).collect();
            let pad = nbytes * 8 - n;
            if pad > 0 {
                row[nbytes - 1] &= (1u16 << (8 - pad)).wrapping_sub(1) as u8;
            }
            row
        })
        .collect();
    let multiplier: Vec<i8> = (0..m)
        .map(|_| match rng.gen_range(0..100) {
            x if x < edge => {
                if rng.gen_bool(0.5) {
                    -128
                } else {
                    127
                }
            }
            x if x < 30 => rng.gen_range(-128..=-16),
            _ => rng.gen_range(16..=127),
        })
        .collect();
    // Expected |acc| spread: sqrt(nonzero inputs) * activation RMS; |M| ~ 70.
    let acc_std = ((n as f64 * density).max(1.0)).sqrt() * ACT_RMS;
    let raw = acc_std * 70.0 / target;
    let shift = if raw <= 1.0 {
        0
    } else {
        raw.log2().round() as u8
    }
    .min(limits::MAX_LAYER_SHIFT);
    let lim = limits::MAX_BIAS as i64;
    let bias_scale = ((target * 0.3) as i64) << shift;
    let bias = (0..m)
        .map(|_| {
            if rng.gen_range(0..100) < edge {
                if rng.gen_bool(0.5) {
                    -lim as i32
                } else {
                    lim as i32
                }
            } else {
                rng.gen_range(-bias_scale..=bias_scale).clamp(-lim, lim) as i32
            }
        })
        .collect();
    Layer {
        inputs: n,
        outputs: m,
        weights,
        multiplier,
        bias,
        shift,
    }
}

fn gen_spike(rng: &mut ChaCha8Rng, width: usize, edge: u32) -> Spike {
    let threshold = (0..width)
        .map(|_| match rng.gen_range(0..100) {
            x if x < edge => {
                if rng.gen_bool(0.5) {
                    i16::MIN
                } else {
                    i16::MAX
                }
            }
            _ => rng.gen_range(-600..=900),
        })
        .collect();
    // Spikes of c >>> k: k around log2(TARGET_STD / 128) keeps outputs in 0..255
    // without saturating all of them.
    let shift = match rng.gen_range(0..100) {
        x if x < edge => {
            if rng.gen_bool(0.5) {
                0
            } else {
                limits::MAX_SPIKE_SHIFT
            }
        }
        _ => rng.gen_range(2..=5),
    };
    Spike { threshold, shift }
}

fn gen_stem(rng: &mut ChaCha8Rng, st: &StemShape, edge: u32) -> Vec<Conv> {
    let mut ci = st.input[2];
    let mut v = Vec::with_capacity(st.layers.len());
    for (i, c) in st.layers.iter().enumerate() {
        let n = c.kernel * c.kernel * ci;
        let density = if i == 0 { 0.8 } else { 0.4 };
        v.push(Conv {
            in_channels: ci,
            out_channels: c.out_channels,
            kernel: c.kernel,
            stride: c.stride,
            padding: c.padding,
            layer: gen_layer(rng, n, c.out_channels, density, edge, TARGET_STD),
            spike: gen_spike(rng, c.out_channels, edge),
        });
        ci = c.out_channels;
    }
    v
}

fn gen_values(
    rng: &mut ChaCha8Rng,
    shape: &Shape,
    stem: Option<&StemShape>,
    vo: &ValueOptions,
) -> Model {
    let s = shape.widths.len();
    let edge = vo.edge_percent;
    let max_h = vo.max_decay_shift.min(limits::MAX_DECAY_SHIFT);
    let convs = stem.map(|st| gen_stem(rng, st, edge)).unwrap_or_default();
    let stage0_in = stem.map_or(shape.group_len, |st| st.output_len());
    let mut stages = Vec::with_capacity(s);
    for l in 0..s {
        let w = shape.widths[l];
        let (n, density) = if l == 0 {
            (stage0_in, if stem.is_some() { 0.4 } else { 0.8 })
        } else {
            (shape.widths[l - 1], 0.4)
        };
        let down = gen_layer(rng, n, w, density, edge, TARGET_STD);
        let up = (l + 1 < s)
            .then(|| gen_layer(rng, shape.widths[l + 1], w, 0.4, edge, TARGET_STD * 0.5));
        let nb = shape.blocks.get(l).copied().unwrap_or(0);
        let blocks = (0..nb)
            .map(|_| Block {
                spike: gen_spike(rng, w, edge),
                layer: gen_layer(rng, w, w, 0.4, edge, TARGET_STD * 0.5),
            })
            .collect();
        let decay = Decay {
            sign: (0..w)
                .map(|_| if rng.gen_range(0..4) == 0 { -1 } else { 1 })
                .collect(),
            shift: (0..w)
                .map(|_| match rng.gen_range(0..100) {
                    x if x < edge => {
                        if rng.gen_bool(0.5) {
                            0
                        } else {
                            max_h
                        }
                    }
                    _ => rng.gen_range(1.min(max_h)..=max_h.min(4)),
                })
                .collect(),
        };
        let out_spike = gen_spike(rng, w, edge);
        stages.push(Stage {
            width: w,
            down,
            up,
            blocks,
            decay,
            out_spike,
        });
    }
    let head = gen_layer(
        rng,
        *shape.widths.last().unwrap_or(&1),
        shape.classes,
        0.4,
        edge,
        TARGET_STD,
    );
    Model {
        name: String::new(),
        timesteps: shape.timesteps,
        input: InputSpec {
            group_len: shape.group_len,
            grouping: shape.grouping,
            shape: stem.map(|st| st.input),
        },
        classes: shape.classes,
        readout: shape.readout,
        stem: convs,
        stages,
        head,
    }
}

/// A random input for `model`, deterministic in `seed`. About one in sixteen
/// inputs is all zeros and one in sixteen is all 255; the rest mix zeros
/// (no events) with uniform bytes.
pub fn gen_input(model: &Model, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x05ee_d1a9_u64.rotate_left(17));
    let n = model.expected_input_len();
    match rng.gen_range(0..16) {
        0 => vec![0; n],
        1 => vec![255; n],
        _ => {
            let zero_share = rng.gen_range(0.0..0.6);
            (0..n)
                .map(|_| {
                    if rng.gen_bool(zero_share) {
                        0
                    } else {
                        rng.gen()
                    }
                })
                .collect()
        }
    }
}

#[allow(clippy::too_many_arguments)] // a private table helper: one argument per shape field
fn shaped(
    seed: u64,
    t: usize,
    g: usize,
    grouping: Grouping,
    classes: usize,
    readout: Readout,
    widths: &[usize],
    blocks: &[usize],
) -> Model {
    gen_model_shaped(
        seed,
        &Shape {
            timesteps: t,
            group_len: g,
            grouping,
            classes,
            readout,
            widths: widths.to_vec(),
            blocks: blocks.to_vec(),
        },
        &ValueOptions::default(),
    )
}

/// Named edge-case models with an input each: every range edge of the spec.
pub fn edge_cases() -> Vec<(String, Model, Vec<u8>)> {
    use Grouping::{Repeat, Split};
    use Readout::{Last, Sum};
    let mut v: Vec<(String, Model)> = vec![
        ("width1".into(), shaped(1, 3, 1, Split, 1, Sum, &[1], &[1])),
        (
            "width1-s4".into(),
            shaped(2, 4, 3, Repeat, 2, Last, &[1, 1, 1, 1], &[0, 1, 2, 0]),
        ),
        (
            "g13-not-multiple-of-8".into(),
            shaped(3, 2, 13, Split, 3, Sum, &[5, 9], &[1, 0]),
        ),
        (
            "t1".into(),
            shaped(4, 1, 8, Split, 4, Last, &[6, 4], &[1, 1]),
        ),
        (
            "t16".into(),
            shaped(5, 16, 5, Split, 3, Sum, &[4, 3], &[0, 1]),
        ),
        ("s1".into(), shaped(6, 3, 10, Repeat, 2, Sum, &[7], &[2])),
        (
            "s4".into(),
            shaped(7, 4, 12, Split, 5, Sum, &[8, 6, 5, 3], &[1, 0, 2, 1]),
        ),
        (
            "split-last".into(),
            shaped(8, 3, 9, Split, 4, Last, &[6, 6], &[1, 1]),
        ),
        (
            "repeat-sum".into(),
            shaped(9, 3, 9, Repeat, 4, Sum, &[6, 6], &[1, 1]),
        ),
        (
            "blocks0".into(),
            shaped(10, 3, 8, Split, 2, Sum, &[8], &[0]),
        ),
        (
            "blocks4".into(),
            shaped(11, 3, 8, Split, 2, Sum, &[8, 5], &[4, 4]),
        ),
        (
            "classes256".into(),
            shaped(12, 2, 16, Repeat, 256, Sum, &[9], &[0]),
        ),
        (
            "width-not-multiple-of-8".into(),
            shaped(13, 3, 17, Split, 3, Last, &[11, 19], &[1, 1]),
        ),
    ];
    let base = || shaped(20, 4, 12, Split, 4, Sum, &[8, 6, 5], &[1, 1, 0]);

    let mut m = base();
    for l in m.layers_mut() {
        l.multiplier
            .iter_mut()
            .for_each(|x| *x = -x.saturating_abs().max(1));
    }
    v.push(("negative-multipliers".into(), m));

    let mut m = base();
    m.stages
        .iter_mut()
        .for_each(|s| s.decay.sign.iter_mut().for_each(|x| *x = -1));
    v.push(("sign-minus".into(), m));

    for h in [0u8, 15] {
        let mut m = base();
        m.stages
            .iter_mut()
            .for_each(|s| s.decay.shift.iter_mut().for_each(|x| *x = h));
        v.push((format!("h{h}"), m));
    }

    for (name, th) in [("threshold-min", i16::MIN), ("threshold-max", i16::MAX)] {
        let mut m = base();
        for s in &mut m.stages {
            s.out_spike.threshold.iter_mut().for_each(|x| *x = th);
            for b in &mut s.blocks {
                b.spike.threshold.iter_mut().for_each(|x| *x = th);
            }
        }
        v.push((name.into(), m));
    }

    // Saturation and wrap: huge gains, no leak (sigma = +1, h = 0) so c grows
    // past i16 and wraps; rewind must still be exact.
    let mut m = base();
    for l in m.layers_mut() {
        l.multiplier.iter_mut().for_each(|x| *x = 127);
        l.shift = 0;
    }
    m.stages.iter_mut().for_each(|s| {
        s.decay.sign.iter_mut().for_each(|x| *x = 1);
        s.decay.shift.iter_mut().for_each(|x| *x = 0);
    });
    v.push(("saturate-and-wrap".into(), m));

    // Extreme spike shifts and biases.
    let mut m = base();
    for (i, s) in m.stages.iter_mut().enumerate() {
        s.out_spike.shift = if i % 2 == 0 { 0 } else { 15 };
        s.down.bias.iter_mut().enumerate().for_each(|(j, b)| {
            *b = if j % 2 == 0 {
                limits::MAX_BIAS
            } else {
                -limits::MAX_BIAS
            }
        });
        s.down.shift = 31;
    }
    v.push(("extreme-shifts".into(), m));

    // Version 2: stems. Each layer is (out_channels, kernel, stride, padding).
    let stemmed = |seed: u64,
                   t: usize,
                   grouping: Grouping,
                   readout: Readout,
                   input: [usize; 3],
                   layers: &[(usize, usize, usize, usize)],
                   widths: &[usize],
                   blocks: &[usize]| {
        gen_model_stem_shaped(
            seed,
            &Shape {
                timesteps: t,
                group_len: input.iter().product(),
                grouping,
                classes: 4,
                readout,
                widths: widths.to_vec(),
                blocks: blocks.to_vec(),
            },
            &StemShape {
                input,
                layers: layers
                    .iter()
                    .map(|&(co, k, s, p)| ConvShape {
                        out_channels: co,
                        kernel: k,
                        stride: s,
                        padding: p,
                    })
                    .collect(),
            },
            &ValueOptions::default(),
        )
    };
    let stems = [
        // 6x6x2 -> 6x6x4.
        (
            "stem-k1",
            stemmed(30, 3, Repeat, Sum, [6, 6, 2], &[(4, 1, 1, 0)], &[8], &[1]),
        ),
        // 9x9x1 -> 5x5x3.
        (
            "stem-k5",
            stemmed(31, 2, Split, Sum, [9, 9, 1], &[(3, 5, 2, 2)], &[6], &[1]),
        ),
        // 7x5x1 -> 4x3x3 (padding 1) -> 1x1x2 (padding 0).
        (
            "stem-stride2-odd",
            stemmed(
                32,
                3,
                Repeat,
                Last,
                [7, 5, 1],
                &[(3, 3, 2, 1), (2, 3, 2, 0)],
                &[5],
                &[1],
            ),
        ),
        // 5x5x2 -> 1x1x4: padding 0 shrinks the map to one position.
        (
            "stem-pad0-to-1x1",
            stemmed(33, 2, Split, Sum, [5, 5, 2], &[(4, 5, 1, 0)], &[3], &[0]),
        ),
        // The largest fan-ins the spec allows: 3*3*113 = 1017 and 5*5*40 = 1000
        // (1024 itself is not a kernel area times a channel count <= 256).
        (
            "stem-fan-in-1017",
            stemmed(34, 2, Repeat, Sum, [3, 3, 113], &[(2, 3, 1, 1)], &[4], &[1]),
        ),
        (
            "stem-fan-in-1000",
            stemmed(35, 2, Repeat, Sum, [5, 5, 40], &[(2, 5, 1, 2)], &[4], &[0]),
        ),
        // group_len 4096: 64x64x1 -> 32x32x1, stage 0 reads exactly 1024.
        (
            "stem-g4096",
            stemmed(36, 2, Repeat, Sum, [64, 64, 1], &[(1, 3, 2, 1)], &[4], &[0]),
        ),
        // Four layers: 12x12x1 -> 12x12x4 -> 6x6x8 -> 3x3x8 -> 3x3x4.
        (
            "stem-4-layers",
            stemmed(
                37,
                3,
                Split,
                Sum,
                [12, 12, 1],
                &[(4, 3, 1, 1), (8, 3, 2, 1), (8, 3, 2, 1), (4, 1, 1, 0)],
                &[6, 5],
                &[1, 0],
            ),
        ),
        // split: every timestep its own frame through the stem.
        (
            "stem-split",
            stemmed(
                38,
                4,
                Split,
                Last,
                [6, 6, 1],
                &[(4, 3, 2, 1)],
                &[8, 6],
                &[1, 1],
            ),
        ),
        // 256 channels out and in: 2x2x1 -> 2x2x256 -> 2x2x3.
        (
            "stem-256-channels",
            stemmed(
                39,
                2,
                Repeat,
                Sum,
                [2, 2, 1],
                &[(256, 1, 1, 0), (3, 1, 1, 0)],
                &[5],
                &[1],
            ),
        ),
        // Stride 4: 9x9x1 -> 3x3x2.
        (
            "stem-stride4",
            stemmed(40, 3, Split, Sum, [9, 9, 1], &[(2, 3, 4, 1)], &[4], &[1]),
        ),
    ];
    v.extend(stems.into_iter().map(|(n, m)| (n.to_string(), m)));

    let mut out: Vec<(String, Model, Vec<u8>)> = v
        .into_iter()
        .enumerate()
        .map(|(i, (name, mut m))| {
            m.name = name.clone();
            let x = gen_input(&m, 1000 + i as u64);
            (name, m, x)
        })
        .collect();
    let m = {
        let mut m = base();
        m.name = "zero-input".into();
        m
    };
    let x = vec![0; m.expected_input_len()];
    out.push(("zero-input".into(), m, x));
    let mut m = base();
    m.name = "full-input".into();
    let x = vec![255; m.expected_input_len()];
    out.push(("full-input".into(), m, x));
    out
}
