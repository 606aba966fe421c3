//! The compiler from a model to the core's memory image.
//!
//! The core knows nothing of stages or blocks: it runs a program of layer descriptors.
//! This module lays out, in the unified row memory, the forward program (one descriptor
//! per layer evaluation of a timestep, head last), the rewind program (stages top-down,
//! the last layer of each stage undoing the turn-on update), one weight row per layer
//! input and one parameter row per layer output, and computes the configuration
//! registers. A conv stem, on a build with a stem unit, follows all of that: its layers'
//! field rows, its step table, its packed weight rows and its parameter rows
//! ([`crate::stem_plan`]). The formats are [`crate::contract`]'s tables, which the
//! hardware decodes with; docs/architecture.md describes them.

use revspike_golden::model::{Grouping, Layer, Model, Readout, Spike};

use crate::build::Build;
use crate::stem_plan::{StemPlan, LAYER_ROWS};

use crate::contract::{self, desc, param, ConfigReg, FieldOverflow, Region};
pub use crate::contract::{Kind, Post, Source, MAX_TILES, ROW_ADDR_BITS};

/// One layer descriptor (a 64-bit row): one channel tile of one layer evaluation.
/// Its format is [`contract::desc`].
///
/// A layer with more outputs than the build has lanes runs as tiles of P outputs: each
/// tile streams the layer's events again, its lanes taking the weight-row bits of its
/// own channels, and its post operation appends to the same output list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub kind: Kind,
    pub skip_first_step: bool,
    pub src: Source,
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
    pub post: Post,
    pub spike_k: u8,
    pub stage: usize,
    pub state_offset: usize,
    /// A spike post operation writes scratch list B (else A).
    pub spikes_to_b: bool,
    pub last: bool,
}

/// A descriptor or parameter row that the format cannot hold, or a row that is no
/// descriptor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Overflow(#[from] FieldOverflow),
    #[error("a descriptor needs at least one output")]
    NoOutputs,
    #[error("{field} code {code} names nothing")]
    BadCode { field: &'static str, code: u64 },
    #[error("last channel {last} is below the tile's first channel {first}")]
    EmptyTile { first: usize, last: usize },
}

impl Descriptor {
    /// The descriptor's row. Panics if a field does not fit: the compiler only lays
    /// out models [`Build::check`] accepted.
    pub fn encode(&self) -> u64 {
        self.try_encode()
            .unwrap_or_else(|e| panic!("descriptor format: {e}"))
    }

    pub fn try_encode(&self) -> Result<u64, FormatError> {
        if self.outputs == 0 {
            return Err(FormatError::NoOutputs);
        }
        let last_channel = self.first_channel + self.outputs - 1;
        let fields = [
            (desc::KIND, self.kind.code()),
            (desc::SKIP_FIRST_STEP, self.skip_first_step as u64),
            (desc::SRC, self.src.code()),
            (desc::WEIGHT_BASE, self.weight_base as u64),
            (desc::PARAM_BASE, self.param_base as u64),
            (desc::LAST_CHANNEL, last_channel as u64),
            (desc::SHIFT_R, self.shift_r as u64),
            (desc::POST, self.post.code()),
            (desc::SPIKE_K, self.spike_k as u64),
            (desc::STAGE, self.stage as u64),
            (desc::STATE_OFFSET, self.state_offset as u64),
            (desc::TILE, self.tile as u64),
            (desc::SPIKES_TO_B, self.spikes_to_b as u64),
            (desc::LAST, self.last as u64),
        ];
        fields
            .into_iter()
            .try_fold(0, |w, (f, v)| f.put(w, v))
            .map_err(FormatError::from)
    }

    /// The descriptor a row holds on a build of `lanes` lanes (a tile's first channel
    /// is `tile * lanes`).
    pub fn decode(row: u64, lanes: usize) -> Result<Descriptor, FormatError> {
        let get = |f: contract::Field| f.get(row);
        let kind = Kind::from_code(get(desc::KIND)).ok_or(FormatError::BadCode {
            field: desc::KIND.name,
            code: get(desc::KIND),
        })?;
        let src = Source::from_code(get(desc::SRC)).ok_or(FormatError::BadCode {
            field: desc::SRC.name,
            code: get(desc::SRC),
        })?;
        let post = Post::from_code(get(desc::POST)).ok_or(FormatError::BadCode {
            field: desc::POST.name,
            code: get(desc::POST),
        })?;
        let tile = get(desc::TILE) as usize;
        let first_channel = tile * lanes;
        let last = get(desc::LAST_CHANNEL) as usize;
        if last < first_channel {
            return Err(FormatError::EmptyTile {
                first: first_channel,
                last,
            });
        }
        Ok(Descriptor {
            kind,
            skip_first_step: get(desc::SKIP_FIRST_STEP) != 0,
            src,
            weight_base: get(desc::WEIGHT_BASE) as usize,
            param_base: get(desc::PARAM_BASE) as usize,
            tile,
            first_channel,
            outputs: last - first_channel + 1,
            shift_r: get(desc::SHIFT_R) as u8,
            post,
            spike_k: get(desc::SPIKE_K) as u8,
            stage: get(desc::STAGE) as usize,
            state_offset: get(desc::STATE_OFFSET) as usize,
            spikes_to_b: get(desc::SPIKES_TO_B) != 0,
            last: get(desc::LAST) != 0,
        })
    }
}

/// One parameter row ([`contract::param`]): the layer's requantization of a channel and
/// the post operation's threshold and leak for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ParamRow {
    pub m: i8,
    /// Bias, 26-bit two's complement.
    pub b: i32,
    pub threshold: i16,
    pub negative_leak: bool,
    pub h: u8,
}

impl ParamRow {
    pub fn encode(&self) -> u64 {
        self.try_encode()
            .unwrap_or_else(|e| panic!("parameter row format: {e}"))
    }

    pub fn try_encode(&self) -> Result<u64, FormatError> {
        let b_bits = param::B.width;
        if !(-(1i64 << (b_bits - 1))..1i64 << (b_bits - 1)).contains(&(self.b as i64)) {
            return Err(FieldOverflow {
                field: param::B.name,
                value: self.b as u64,
                width: b_bits,
            }
            .into());
        }
        let w = param::M.put(0, self.m as u8 as u64)?;
        let w = param::B.put_wrapping(w, self.b as u64);
        let w = param::THRESHOLD.put(w, self.threshold as u16 as u64)?;
        let w = param::NEGATIVE_LEAK.put(w, self.negative_leak as u64)?;
        Ok(param::H.put(w, self.h as u64)?)
    }

    pub fn decode(row: u64) -> ParamRow {
        let b = param::B.get(row);
        let sign = 1 << (param::B.width - 1);
        ParamRow {
            m: param::M.get(row) as u8 as i8,
            b: ((b ^ sign).wrapping_sub(sign)) as i64 as i32,
            threshold: param::THRESHOLD.get(row) as u16 as i16,
            negative_leak: param::NEGATIVE_LEAK.get(row) != 0,
            h: param::H.get(row) as u8,
        }
    }
}

/// What follows a layer of a stage, per channel.
enum After<'a> {
    None,
    /// Spikes for block `.1`, written to its scratch list.
    Spike(&'a Spike, usize),
    TurnOn(usize),
}

/// One layer evaluation of a timestep.
struct Eval<'a> {
    layer: &'a Layer,
    /// The layer's place in the forward program (stage, layer of the stage): where its
    /// weight and parameter rows are.
    key: (usize, usize),
    kind: Kind,
    skip: bool,
    src: Source,
    after: After<'a>,
    stage: usize,
}

fn stage_evals(model: &Model, l: usize) -> Vec<Eval<'_>> {
    let st = &model.stages[l];
    let mut layers: Vec<(&Layer, Kind, bool, Source)> = Vec::new();
    let src_down = if l == 0 {
        Source::Input
    } else {
        Source::Stage((l - 1) as u8)
    };
    layers.push((&st.down, Kind::First, false, src_down));
    if let Some(up) = &st.up {
        layers.push((up, Kind::Residual, true, Source::Stage((l + 1) as u8)));
    }
    // Block b reads scratch list b % 2 and the layer before it writes that list, so
    // no tile of a layer overwrites the list its later tiles still stream.
    for (b, blk) in st.blocks.iter().enumerate() {
        let src = if b % 2 == 0 {
            Source::ScratchA
        } else {
            Source::ScratchB
        };
        layers.push((&blk.layer, Kind::Residual, false, src));
    }
    let n = layers.len();
    let first_block = n - st.blocks.len();
    layers
        .into_iter()
        .enumerate()
        .map(|(i, (layer, kind, skip, src))| {
            let after = if i + 1 == n {
                After::TurnOn(l)
            } else if i + 1 >= first_block {
                After::Spike(&st.blocks[i + 1 - first_block].spike, i + 1 - first_block)
            } else {
                After::None
            };
            Eval {
                layer,
                key: (l, i),
                kind,
                skip,
                src,
                after,
                stage: l,
            }
        })
        .collect()
}

/// Rows the image of a model takes on `build` (descriptors, one per channel tile of
/// every layer evaluation; weight rows; parameter rows), exactly as [`compile`] lays
/// them out.
///
/// On a build with a stem unit a stem adds its plan's rows
/// ([`crate::stem_plan::StemPlan::rows`]); none are counted when the stem does not fit
/// its memories (the build check says so) or the build has no stem unit (it refuses the
/// stem).
pub fn rows_needed(model: &Model, build: &Build) -> usize {
    let layers = &model.layers()[model.stem.len()..];
    let weights: usize = layers.iter().map(|l| l.inputs).sum();
    let params: usize = layers.iter().map(|l| l.outputs).sum();
    let stem = match stem_plan(model, build) {
        Some(plan) => plan.rows(model, build),
        None => 0,
    };
    descriptors_needed(model, build) + weights + params + stem
}

/// The stem plan the image lays out: on a build with a stem unit, for a model with a
/// stem that fits it.
fn stem_plan(model: &Model, build: &Build) -> Option<StemPlan> {
    if !build.stem {
        return None;
    }
    StemPlan::new(model, build).ok().flatten()
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
    /// Configuration registers (region 1) and their values.
    pub config: Vec<(ConfigReg, u16)>,
    /// Row of the forward program's first descriptor (the programs lead the image).
    pub forward_program: usize,
    pub rewind_program: usize,
    pub descriptors: Vec<Descriptor>,
}

impl Image {
    /// Word writes in address order: each (first word address, words).
    pub fn writes(&self) -> Vec<(u32, Vec<u16>)> {
        let mut out = Vec::new();
        let words: Vec<u16> = self.rows.iter().flatten().copied().collect();
        out.push((Region::Rows.base(), words));
        for &(reg, v) in &self.config {
            out.push((reg.address(), vec![v]));
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
    let forward_program = 0;
    let head_key = (s, 0);

    // Weight and parameter rows of every distinct layer, in model order, after the
    // descriptors: (weight base, parameter base) by the layer's place.
    let mut rows: Vec<u128> = vec![0; n_desc];
    let mut bases = std::collections::HashMap::new();
    let mut add_layer = |key, layer: &Layer, after: &After, rows: &mut Vec<u128>| {
        let weight_base = rows.len();
        for i in 0..layer.inputs {
            let mut r: u128 = 0;
            for o in 0..layer.outputs {
                if layer.weight(o, i) {
                    r |= 1 << o;
                }
            }
            rows.push(r);
        }
        bases.insert(key, (weight_base, rows.len()));
        for o in 0..layer.outputs {
            let (threshold, negative_leak, h) = match after {
                After::None => (0, false, 0),
                After::Spike(sp, _) => (sp.threshold[o], false, 0),
                After::TurnOn(l) => {
                    let st = &model.stages[*l];
                    (
                        st.out_spike.threshold[o],
                        st.decay.sign[o] < 0,
                        st.decay.shift[o],
                    )
                }
            };
            let row = ParamRow {
                m: layer.multiplier[o],
                b: layer.bias[o],
                threshold,
                negative_leak,
                h,
            };
            rows.push(row.encode() as u128);
        }
    };
    for e in &fwd {
        add_layer(e.key, e.layer, &e.after, &mut rows);
    }
    add_layer(head_key, &model.head, &After::None, &mut rows);

    let spike_k = |a: &After| match a {
        After::None => 0,
        After::Spike(sp, _) => sp.shift,
        After::TurnOn(l) => model.stages[*l].out_spike.shift,
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
        weight_base: bases[&e.key].0,
        param_base: bases[&e.key].1,
        tile: 0,
        first_channel: 0,
        outputs: e.layer.outputs,
        shift_r: e.layer.shift,
        post: match e.after {
            After::None => Post::None,
            After::Spike(..) => Post::Spike,
            After::TurnOn(_) if rewind => Post::Rewind,
            After::TurnOn(_) => Post::TurnOn,
        },
        spike_k: spike_k(&e.after),
        stage: e.stage,
        state_offset: offsets[e.stage],
        spikes_to_b: matches!(e.after, After::Spike(_, b) if b % 2 == 1),
        last: false,
    };
    let mut descriptors: Vec<Descriptor> = fwd.iter().flat_map(|e| tiled(desc(e, false))).collect();
    descriptors.extend(tiled(Descriptor {
        kind: Kind::Head,
        skip_first_step: false,
        src: Source::Stage((s - 1) as u8),
        weight_base: bases[&head_key].0,
        param_base: bases[&head_key].1,
        tile: 0,
        first_channel: 0,
        outputs: model.classes,
        shift_r: model.head.shift,
        post: Post::None,
        spike_k: 0,
        stage: s - 1,
        state_offset: offsets[s - 1],
        spikes_to_b: false,
        last: false,
    }));
    if let Some(d) = descriptors.last_mut() {
        d.last = true;
    }
    let rewind_program = forward_program + descriptors.len();
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
        rows[forward_program + r] = d.encode() as u128;
    }

    // The stem after everything else, so a version 1 image is the same with or without
    // a stem unit: its layers' field rows, the step table, then per layer its weight and
    // parameter rows.
    let mut stem_config = [0u16; 3];
    if !model.stem.is_empty() && build.stem {
        let plan = StemPlan::new(model, build)
            .ok()
            .flatten()
            .expect("compile: the stem fits (Build::check refuses it otherwise)");
        let n = plan.layers.len();
        let layers_row = rows.len();
        let steps_row = layers_row + LAYER_ROWS * n;
        let entries = plan.step_entries(layers_row);
        let mut next = steps_row + entries.len();
        let mut blocks = Vec::new();
        for l in 0..n {
            let weights = plan.weight_rows(model, build, l);
            let weight_base = next;
            let param_base = weight_base + weights.len();
            next = param_base + model.stem[l].out_channels;
            let fields = plan
                .layer_rows(model, build, l, weight_base, param_base)
                .unwrap_or_else(|e| panic!("stem layer rows: {e}"));
            rows.extend(fields.map(u128::from));
            blocks.push(weights);
        }
        for e in &entries {
            let row = e.encode().unwrap_or_else(|e| panic!("stem step row: {e}"));
            rows.push(u128::from(row));
        }
        for (weights, c) in blocks.into_iter().zip(&model.stem) {
            rows.extend(weights);
            for o in 0..c.out_channels {
                let p = ParamRow {
                    m: c.layer.multiplier[o],
                    b: c.layer.bias[o],
                    threshold: c.spike.threshold[o],
                    negative_leak: false,
                    h: 0,
                };
                rows.push(u128::from(p.encode()));
            }
        }
        assert_eq!(rows.len(), next, "rows reserved for the stem");
        stem_config = [
            steps_row as u16,
            plan.output_len() as u16,
            plan.input_base() as u16,
        ];
    }

    let rows = rows
        .into_iter()
        .map(|r| (0..k).map(|w| (r >> (16 * w)) as u16).collect())
        .collect();
    let flags = contract::config_flags::REPEAT
        .put_wrapping(0, (model.input.grouping == Grouping::Repeat) as u64)
        | contract::config_flags::SUM.put_wrapping(0, (model.readout == Readout::Sum) as u64);
    let stride: usize = model.stages.iter().map(|s| s.width).sum();
    let mut config = vec![
        (ConfigReg::T, model.timesteps as u16),
        (ConfigReg::G, model.input.group_len as u16),
        (ConfigReg::Flags, flags as u16),
        (ConfigReg::Classes, model.classes as u16),
        (ConfigReg::ForwardProgram, forward_program as u16),
        (ConfigReg::RewindProgram, rewind_program as u16),
        (ConfigReg::Stride, stride as u16),
        (ConfigReg::Stages, s as u16),
    ];
    // A stem unit keeps its registers across loads: a version 1 model clears them, so
    // it runs no stem left by the model before it.
    if build.stem {
        config.extend(ConfigReg::STEM.into_iter().zip(stem_config));
    }
    Image {
        rows,
        config,
        forward_program,
        rewind_program,
        descriptors,
    }
}
