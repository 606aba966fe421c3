//! Seeded model and input generators for tests and benches.
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
    limits, Block, Decay, Grouping, InputSpec, Layer, Model, Readout, Spike, Stage,
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
        }
    }
}

impl GenOptions {
    /// Small models (widths <= 16, G <= 24, T <= 6) for fast exhaustive tests.
    pub fn small() -> Self {
        GenOptions {
            max_width: 16,
            max_group_len: 24,
            max_timesteps: 6,
            max_classes: 8,
            ..GenOptions::default()
        }
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
    let max_w = opts.max_width.min(opts.max_weight_rows).max(1);
    let max_g = opts.max_group_len.min(opts.max_weight_rows).max(1);
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
            group_len: log_uniform(rng, (max_g / scale).max(1)),
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
        if sh.weight_bits() <= opts.max_weight_bits {
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
    sh.group_len = 1;
    sh.classes = 1;
    sh
}

/// Generates a model within `opts`, deterministic in `seed`.
pub fn gen_model(seed: u64, opts: &GenOptions) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shape = gen_shape(&mut rng, opts);
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
    let mut m = gen_values(&mut rng, &shape, &vo);
    m.name = format!("gen-{seed}");
    if opts.avoid_wraps {
        for attempt in 1..=32u8 {
            if !wraps(&m, seed) {
                break;
            }
            vo.edge_percent = 0;
            m = gen_values(&mut rng, &shape, &vo);
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
    let mut m = gen_values(&mut rng, shape, vo);
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

fn gen_values(rng: &mut ChaCha8Rng, shape: &Shape, vo: &ValueOptions) -> Model {
    let s = shape.widths.len();
    let edge = vo.edge_percent;
    let max_h = vo.max_decay_shift.min(limits::MAX_DECAY_SHIFT);
    let mut stages = Vec::with_capacity(s);
    for l in 0..s {
        let w = shape.widths[l];
        let (n, density) = if l == 0 {
            (shape.group_len, 0.8)
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
        },
        classes: shape.classes,
        readout: shape.readout,
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
