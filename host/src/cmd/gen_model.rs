//! `revspike gen-model --seed N`: a random valid model within the given bounds.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use revspike_golden::{gen_model, model::limits, GenOptions, Grouping, Readout};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupingArg {
    Split,
    Repeat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReadoutArg {
    Last,
    Sum,
}

#[derive(Debug, Clone, Args)]
pub struct GenModelArgs {
    /// Generator seed; the same seed and bounds give the same model.
    #[arg(long)]
    pub seed: u64,
    /// Output file (default: stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Model name (default: gen-SEED).
    #[arg(long)]
    pub name: Option<String>,
    /// Largest stage width (1..=1024).
    #[arg(long, default_value_t = limits::MAX_WIDTH)]
    pub max_width: usize,
    /// Most stages (1..=4).
    #[arg(long, default_value_t = limits::MAX_STAGES)]
    pub max_stages: usize,
    /// Most blocks per stage (0..=4).
    #[arg(long, default_value_t = limits::MAX_BLOCKS)]
    pub max_blocks: usize,
    /// Most timesteps (1..=16).
    #[arg(long, default_value_t = limits::MAX_TIMESTEPS)]
    pub max_timesteps: usize,
    /// Longest input group (1..=1024).
    #[arg(long, default_value_t = limits::MAX_GROUP_LEN)]
    pub max_group_len: usize,
    /// Most classes (1..=256).
    #[arg(long, default_value_t = limits::MAX_CLASSES)]
    pub max_classes: usize,
    /// Largest layer `in` / `out`.
    #[arg(long)]
    pub max_weight_rows: Option<usize>,
    /// Most weight bits in the whole model.
    #[arg(long)]
    pub max_weight_bits: Option<usize>,
    /// Largest decay shift h (0..=15).
    #[arg(long, default_value_t = limits::MAX_DECAY_SHIFT)]
    pub max_decay_shift: u8,
    /// Most reversible buffer bits, (T-1) * sum h.
    #[arg(long)]
    pub max_buffer_bits: Option<usize>,
    /// Fix the input grouping.
    #[arg(long, value_enum)]
    pub grouping: Option<GroupingArg>,
    /// Fix the readout.
    #[arg(long, value_enum)]
    pub readout: Option<ReadoutArg>,
    /// Retune until the model's own test input runs without a wrap16 overflow.
    #[arg(long)]
    pub avoid_wraps: bool,
    /// Most conv stem layers (0..=4): 0 gives version 1 models without a stem,
    /// K >= 1 version 2 models with 1..=K stem layers.
    #[arg(long, default_value_t = 0)]
    pub max_stem_layers: usize,
    /// Largest out_channels of a stem layer (1..=256).
    #[arg(long, default_value_t = 32)]
    pub max_stem_channels: usize,
    /// Largest stem kernel (1, 3 or 5).
    #[arg(long, default_value_t = 5)]
    pub max_stem_kernel: usize,
    /// Largest stem stride (1..=4).
    #[arg(long, default_value_t = limits::MAX_STRIDE)]
    pub max_stem_stride: usize,
    /// Largest input height and width with a stem (1..=256).
    #[arg(long, default_value_t = 32)]
    pub max_input_side: usize,
    /// Largest input channel count with a stem (1..=256).
    #[arg(long, default_value_t = 3)]
    pub max_input_channels: usize,
    /// Longest input group H*W*C with a stem (1..=4096).
    #[arg(long, default_value_t = limits::MAX_STEM_GROUP_LEN)]
    pub max_stem_group_len: usize,
    /// Most values (H'*W'*Co) in a stem layer's output map.
    #[arg(long, default_value_t = 4096)]
    pub max_stem_map: usize,
}

impl GenModelArgs {
    /// The generator bounds these arguments ask for.
    pub fn options(&self) -> Result<GenOptions> {
        let check = |name: &str, v: usize, lo: usize, hi: usize| -> Result<()> {
            if v < lo || v > hi {
                bail!("--{name}: expected {lo}..={hi}, found {v}");
            }
            Ok(())
        };
        check("max-width", self.max_width, 1, limits::MAX_WIDTH)?;
        check("max-stages", self.max_stages, 1, limits::MAX_STAGES)?;
        check("max-blocks", self.max_blocks, 0, limits::MAX_BLOCKS)?;
        check(
            "max-timesteps",
            self.max_timesteps,
            1,
            limits::MAX_TIMESTEPS,
        )?;
        check(
            "max-group-len",
            self.max_group_len,
            1,
            limits::MAX_GROUP_LEN,
        )?;
        check("max-classes", self.max_classes, 1, limits::MAX_CLASSES)?;
        check(
            "max-decay-shift",
            self.max_decay_shift as usize,
            0,
            limits::MAX_DECAY_SHIFT as usize,
        )?;
        if let Some(r) = self.max_weight_rows {
            check("max-weight-rows", r, 1, usize::MAX)?;
        }
        check(
            "max-stem-layers",
            self.max_stem_layers,
            0,
            limits::MAX_STEM_LAYERS,
        )?;
        check(
            "max-stem-channels",
            self.max_stem_channels,
            1,
            limits::MAX_CONV_CHANNELS,
        )?;
        if !limits::KERNELS.contains(&self.max_stem_kernel) {
            bail!(
                "--max-stem-kernel: expected 1, 3 or 5, found {}",
                self.max_stem_kernel
            );
        }
        check(
            "max-stem-stride",
            self.max_stem_stride,
            1,
            limits::MAX_STRIDE,
        )?;
        check("max-input-side", self.max_input_side, 1, limits::MAX_SIDE)?;
        check(
            "max-input-channels",
            self.max_input_channels,
            1,
            limits::MAX_SIDE,
        )?;
        check(
            "max-stem-group-len",
            self.max_stem_group_len,
            1,
            limits::MAX_STEM_GROUP_LEN,
        )?;
        check("max-stem-map", self.max_stem_map, 1, usize::MAX)?;
        if let Some(b) = self.max_weight_bits {
            check("max-weight-bits", b, MIN_WEIGHT_BITS, usize::MAX).map_err(|e| {
                e.context(format!(
                    "the smallest model (one input, a stage of width 1, one class) has \
                     {MIN_WEIGHT_BITS} weight bits"
                ))
            })?;
        }
        let d = GenOptions::default();
        Ok(GenOptions {
            max_width: self.max_width,
            max_stages: self.max_stages,
            max_blocks: self.max_blocks,
            max_timesteps: self.max_timesteps,
            max_group_len: self.max_group_len,
            max_classes: self.max_classes,
            max_weight_rows: self.max_weight_rows.unwrap_or(d.max_weight_rows),
            max_weight_bits: self.max_weight_bits.unwrap_or(d.max_weight_bits),
            max_decay_shift: self.max_decay_shift,
            max_buffer_bits: self.max_buffer_bits.unwrap_or(d.max_buffer_bits),
            grouping: self.grouping.map(|g| match g {
                GroupingArg::Split => Grouping::Split,
                GroupingArg::Repeat => Grouping::Repeat,
            }),
            readout: self.readout.map(|r| match r {
                ReadoutArg::Last => Readout::Last,
                ReadoutArg::Sum => Readout::Sum,
            }),
            avoid_wraps: self.avoid_wraps,
            max_stem_layers: self.max_stem_layers,
            max_stem_channels: self.max_stem_channels,
            max_stem_kernel: self.max_stem_kernel,
            max_stem_stride: self.max_stem_stride,
            max_input_side: self.max_input_side,
            max_input_channels: self.max_input_channels,
            max_stem_group_len: self.max_stem_group_len,
            max_stem_map: self.max_stem_map,
        })
    }
}

/// Weight bits of the smallest valid model: a 1 x 1 down layer and a 1 x 1 head.
pub const MIN_WEIGHT_BITS: usize = 2;

/// The bounds `model` breaks, as `--flag: needs N` texts (the generator's own
/// fallbacks must not go unnoticed).
pub fn broken_bounds(model: &revspike_golden::Model, o: &GenOptions) -> Vec<String> {
    let info = revspike_golden::Info::of(model);
    let mut out = Vec::new();
    let mut need = |flag: &str, have: usize, max: usize| {
        if have > max {
            out.push(format!("--{flag} {max}: the model needs {have}"));
        }
    };
    need(
        "max-weight-bits",
        info.weight_bits as usize,
        o.max_weight_bits,
    );
    need(
        "max-buffer-bits",
        info.buffer_bits as usize,
        o.max_buffer_bits,
    );
    need("max-classes", model.classes, o.max_classes);
    need("max-stages", model.stages.len(), o.max_stages);
    need("max-timesteps", model.timesteps, o.max_timesteps);
    need("max-group-len", model.input.group_len, o.max_group_len);
    for st in &model.stages {
        need("max-width", st.width, o.max_width);
        need("max-blocks", st.blocks.len(), o.max_blocks);
    }
    for l in model.layers() {
        need(
            "max-weight-rows",
            l.inputs.max(l.outputs),
            o.max_weight_rows,
        );
    }
    out.dedup();
    out
}

pub fn run(a: &GenModelArgs) -> Result<()> {
    let options = a.options()?;
    let mut model = gen_model(a.seed, &options);
    let broken = broken_bounds(&model, &options);
    if !broken.is_empty() {
        bail!(
            "no model found within the bounds (seed {}): {}",
            a.seed,
            broken.join("; ")
        );
    }
    if let Some(n) = &a.name {
        model.name = n.clone();
    }
    super::write_out(a.output.as_deref(), &model.to_json_string())
}
