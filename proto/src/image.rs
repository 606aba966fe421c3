//! The compiler from a model to the core's memory image.
//!
//! The core knows nothing of stages or blocks: it runs a program of layer descriptors.
//! This module lays out, in the unified row memory, the forward program (one descriptor
//! per layer evaluation of a timestep, head last), the rewind program (stages top-down,
//! the last layer of each stage undoing the turn-on update), one weight row per layer
//! input and one parameter row per layer output, and computes the configuration
//! registers. Formats are bit-exact contracts with `revspike_hdl::spiking_core` and
//! `revspike_hdl::neuron_unit`; they are documented in docs/architecture.md.

use revspike_golden::model::{Grouping, Layer, Model, Readout, Spike};

use crate::build::Build;

/// Row addresses are this wide in the core.
pub const ROW_ADDR_BITS: usize = 12;

pub const KIND_FIRST: u64 = 0;
pub const KIND_RESIDUAL: u64 = 1;
pub const KIND_HEAD: u64 = 2;
pub const POST_NONE: u64 = 0;
pub const POST_SPIKE: u64 = 1;
pub const POST_TURN_ON: u64 = 2;
pub const POST_REWIND: u64 = 3;
/// Event sources: 0..=3 the output list of that stage, 4 and 6 the two block scratch
/// lists, 5 the input group of the current timestep.
pub const SRC_SCRATCH: u64 = 4;
pub const SRC_INPUT: u64 = 5;
pub const SRC_SCRATCH_B: u64 = 6;
/// Channel tiles per layer the descriptor format holds.
pub const MAX_TILES: usize = 4;

/// Word addresses of the host port (docs/architecture.md).
pub const REGION_ROWS: u32 = 0x0_0000;
pub const REGION_CONFIG: u32 = 0x1_0000;
pub const REGION_STATE: u32 = 0x2_0000;
pub const REGION_LOGITS: u32 = 0x3_0000;
pub const REGION_STATUS: u32 = 0x4_0000;

pub const CFG_T: u32 = 0;
pub const CFG_G: u32 = 1;
pub const CFG_FLAGS: u32 = 2;
pub const CFG_CLASSES: u32 = 3;
pub const CFG_FWD: u32 = 4;
pub const CFG_REV: u32 = 5;
pub const CFG_STRIDE: u32 = 6;
pub const CFG_STAGES: u32 = 7;

pub const STATUS_T_DONE: u32 = 0;
pub const STATUS_PREDICTION: u32 = 1;
pub const STATUS_CYCLES_LO: u32 = 2;
pub const STATUS_CYCLES_HI: u32 = 3;
pub const STATUS_CODE: u32 = 4;
pub const STATUS_ENTRIES: u32 = 5;

/// One layer descriptor (a 64-bit row): one channel tile of one layer evaluation.
///
/// A layer with more outputs than the build has lanes runs as tiles of P outputs: each
/// tile streams the layer's events again, its lanes taking the weight-row bits of its
/// own channels, and its post operation appends to the same output list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Descriptor {
    pub kind: u64,
    pub skip_first_step: bool,
    pub src: u64,
    pub weight_base: usize,
    /// Parameter row of the tile's first channel.
    pub param_base: usize,
    /// Tile index: lanes take weight-row bits `tile*P ..`; tile 0 starts the output list.
    pub tile: usize,
    /// The tile's first channel (`tile * P`).
    pub first_channel: usize,
    /// Outputs of this tile.
    pub outputs: usize,
    pub shift_r: u8,
    pub post: u64,
    pub spike_k: u8,
    pub stage: usize,
    pub state_offset: usize,
    /// A spike post operation writes scratch list B (else A).
    pub spikes_to_b: bool,
    pub last: bool,
}

impl Descriptor {
    pub fn encode(&self) -> u64 {
        let last_channel = self.first_channel + self.outputs - 1;
        assert!(self.outputs >= 1 && last_channel < 256);
        assert!(self.tile < MAX_TILES && self.state_offset < 512);
        self.kind
            | (self.skip_first_step as u64) << 2
            | self.src << 3
            | (self.weight_base as u64) << 6
            | (self.param_base as u64) << 18
            | (last_channel as u64) << 30
            | (self.shift_r as u64) << 38
            | self.post << 43
            | (self.spike_k as u64) << 45
            | (self.stage as u64) << 49
            | (self.state_offset as u64) << 51
            | (self.tile as u64) << 60
            | (self.spikes_to_b as u64) << 62
            | (self.last as u64) << 63
    }
}

/// One parameter row: the layer's requantization of a channel and the post operation's
/// threshold and leak for it.
pub fn param_row(m: i8, b: i32, threshold: i16, negative_leak: bool, h: u8) -> u64 {
    (m as u8 as u64)
        | ((b as u64) & ((1 << 26) - 1)) << 8
        | (threshold as u16 as u64) << 34
        | (negative_leak as u64) << 50
        | ((h as u64) & 15) << 51
}

/// What follows a layer of a stage, per channel.
enum Post<'a> {
    None,
    /// Spikes for block `.1`, written to its scratch list.
    Spike(&'a Spike, usize),
    TurnOn(usize),
}

struct Eval<'a> {
    layer: &'a Layer,
    kind: u64,
    skip: bool,
    src: u64,
    post: Post<'a>,
    stage: usize,
}

fn stage_evals(model: &Model, l: usize) -> Vec<Eval<'_>> {
    let st = &model.stages[l];
    let mut layers: Vec<(&Layer, u64, bool, u64)> = Vec::new();
    let src_down = if l == 0 { SRC_INPUT } else { (l - 1) as u64 };
    layers.push((&st.down, KIND_FIRST, false, src_down));
    if let Some(up) = &st.up {
        layers.push((up, KIND_RESIDUAL, true, (l + 1) as u64));
    }
    // Block b reads scratch list b % 2 and the layer before it writes that list, so
    // no tile of a layer overwrites the list its later tiles still stream.
    for (b, blk) in st.blocks.iter().enumerate() {
        let src = if b % 2 == 0 {
            SRC_SCRATCH
        } else {
            SRC_SCRATCH_B
        };
        layers.push((&blk.layer, KIND_RESIDUAL, false, src));
    }
    let n = layers.len();
    let first_block = n - st.blocks.len();
    layers
        .into_iter()
        .enumerate()
        .map(|(i, (layer, kind, skip, src))| {
            let post = if i + 1 == n {
                Post::TurnOn(l)
            } else if i + 1 >= first_block {
                Post::Spike(&st.blocks[i + 1 - first_block].spike, i + 1 - first_block)
            } else {
                Post::None
            };
            Eval {
                layer,
                kind,
                skip,
                src,
                post,
                stage: l,
            }
        })
        .collect()
}

/// Rows the image of a model takes on `build` (descriptors, one per channel tile of
/// every layer evaluation; weight rows; parameter rows).
pub fn rows_needed(model: &Model, build: &Build) -> usize {
    let layers = model.layers();
    let weights: usize = layers.iter().map(|l| l.inputs).sum();
    let params: usize = layers.iter().map(|l| l.outputs).sum();
    descriptors_needed(model, build) + weights + params
}

/// Descriptors of both programs: one per channel tile of every layer evaluation of a
/// timestep, forward and rewind, and the head's tiles (forward only).
fn descriptors_needed(model: &Model, build: &Build) -> usize {
    let tiles: usize = (0..model.stages.len())
        .flat_map(|l| stage_evals(model, l))
        .map(|e| build.tiles(e.layer.outputs))
        .sum();
    2 * tiles + build.tiles(model.classes)
}

/// The memory image of a model for one build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Row r, as `words_per_row` 16-bit words (word k = bits 16k..16k+15).
    pub rows: Vec<Vec<u16>>,
    /// (register index, value) of region 1.
    pub config: Vec<(u32, u16)>,
    pub forward_program: usize,
    pub rewind_program: usize,
    pub descriptors: Vec<Descriptor>,
}

impl Image {
    /// Word writes in address order: each (first word address, words).
    pub fn writes(&self) -> Vec<(u32, Vec<u16>)> {
        let mut out = Vec::new();
        let words: Vec<u16> = self.rows.iter().flatten().copied().collect();
        out.push((REGION_ROWS, words));
        for &(reg, v) in &self.config {
            out.push((REGION_CONFIG + reg, vec![v]));
        }
        out
    }

    /// Total 16-bit words written by [`Image::writes`].
    pub fn word_count(&self) -> usize {
        self.writes().iter().map(|(_, w)| w.len()).sum()
    }
}

/// Lays out `model` for `build`. Call [`Build::check`] first: this assumes it fits.
pub fn compile(model: &Model, build: &Build) -> Image {
    let k = build.words_per_row();
    let s = model.stages.len();
    let offsets: Vec<usize> = model
        .stages
        .iter()
        .scan(0, |acc, st| {
            let o = *acc;
            *acc += st.width;
            Some(o)
        })
        .collect();
    let fwd: Vec<Eval> = (0..s).flat_map(|l| stage_evals(model, l)).collect();
    let rev: Vec<Eval> = (0..s).rev().flat_map(|l| stage_evals(model, l)).collect();
    let n_desc = descriptors_needed(model, build);

    // Weight and parameter rows of every distinct layer, in model order.
    let mut rows: Vec<u128> = vec![0; n_desc];
    let mut weight_base = std::collections::HashMap::new();
    let mut param_base = std::collections::HashMap::new();
    let mut add_layer = |layer: &Layer, post: &Post, rows: &mut Vec<u128>| {
        let key = layer as *const Layer as usize;
        weight_base.insert(key, rows.len());
        for i in 0..layer.inputs {
            let mut r: u128 = 0;
            for o in 0..layer.outputs {
                if layer.weight(o, i) {
                    r |= 1 << o;
                }
            }
            rows.push(r);
        }
        param_base.insert(key, rows.len());
        for o in 0..layer.outputs {
            let (thr, neg, h) = match post {
                Post::None => (0, false, 0),
                Post::Spike(sp, _) => (sp.threshold[o], false, 0),
                Post::TurnOn(l) => {
                    let st = &model.stages[*l];
                    (
                        st.out_spike.threshold[o],
                        st.decay.sign[o] < 0,
                        st.decay.shift[o],
                    )
                }
            };
            rows.push(param_row(layer.multiplier[o], layer.bias[o], thr, neg, h) as u128);
        }
    };
    for e in &fwd {
        add_layer(e.layer, &e.post, &mut rows);
    }
    add_layer(&model.head, &Post::None, &mut rows);
    let key = |l: &Layer| l as *const Layer as usize;

    let spike_k = |p: &Post| match p {
        Post::None => 0,
        Post::Spike(sp, _) => sp.shift,
        Post::TurnOn(l) => model.stages[*l].out_spike.shift,
    };
    let p = build.lanes;
    // One descriptor per channel tile of a layer evaluation.
    let tiled = |d: Descriptor| {
        (0..build.tiles(d.outputs)).map(move |tile| Descriptor {
            tile,
            first_channel: tile * p,
            param_base: d.param_base + tile * p,
            outputs: (d.outputs - tile * p).min(p),
            ..d
        })
    };
    let desc = |e: &Eval, rewind: bool| Descriptor {
        kind: e.kind,
        skip_first_step: e.skip,
        src: e.src,
        weight_base: weight_base[&key(e.layer)],
        param_base: param_base[&key(e.layer)],
        tile: 0,
        first_channel: 0,
        outputs: e.layer.outputs,
        shift_r: e.layer.shift,
        post: match e.post {
            Post::None => POST_NONE,
            Post::Spike(..) => POST_SPIKE,
            Post::TurnOn(_) if rewind => POST_REWIND,
            Post::TurnOn(_) => POST_TURN_ON,
        },
        spike_k: spike_k(&e.post),
        stage: e.stage,
        state_offset: offsets[e.stage],
        spikes_to_b: matches!(e.post, Post::Spike(_, b) if b % 2 == 1),
        last: false,
    };
    let mut descriptors: Vec<Descriptor> = fwd.iter().flat_map(|e| tiled(desc(e, false))).collect();
    descriptors.extend(tiled(Descriptor {
        kind: KIND_HEAD,
        skip_first_step: false,
        src: (s - 1) as u64,
        weight_base: weight_base[&key(&model.head)],
        param_base: param_base[&key(&model.head)],
        tile: 0,
        first_channel: 0,
        outputs: model.classes,
        shift_r: model.head.shift,
        post: POST_NONE,
        spike_k: 0,
        stage: s - 1,
        state_offset: offsets[s - 1],
        spikes_to_b: false,
        last: false,
    }));
    if let Some(d) = descriptors.last_mut() {
        d.last = true;
    }
    let rewind_program = descriptors.len();
    descriptors.extend(rev.iter().flat_map(|e| tiled(desc(e, true))));
    if let Some(d) = descriptors.last_mut() {
        d.last = true;
    }
    assert_eq!(
        descriptors.len(),
        n_desc,
        "rows reserved for the descriptors"
    );
    for (r, d) in descriptors.iter().enumerate() {
        rows[r] = d.encode() as u128;
    }

    let rows = rows
        .into_iter()
        .map(|r| (0..k).map(|w| (r >> (16 * w)) as u16).collect())
        .collect();
    let flags = (model.input.grouping == Grouping::Repeat) as u16
        | ((model.readout == Readout::Sum) as u16) << 1;
    let stride: usize = model.stages.iter().map(|s| s.width).sum();
    Image {
        rows,
        config: vec![
            (CFG_T, model.timesteps as u16),
            (CFG_G, model.input.group_len as u16),
            (CFG_FLAGS, flags),
            (CFG_CLASSES, model.classes as u16),
            (CFG_FWD, 0),
            (CFG_REV, rewind_program as u16),
            (CFG_STRIDE, stride as u16),
            (CFG_STAGES, s as u16),
        ],
        forward_program: 0,
        rewind_program,
        descriptors,
    }
}
