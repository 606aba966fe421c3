//! Static figures of a model: shapes, parameter sizes, operation counts,
//! state memory of the turn-on design versus a vanilla SNN, and an energy
//! estimate with the ReverB-SNN constants.

use std::fmt;

use serde::Serialize;

use crate::model::{Grouping, Model, Readout};
use crate::sim::{infer, InputError};

/// Energy of one synaptic operation (an add), joules (ReverB-SNN: 77 fJ).
pub const SOP_JOULES: f64 = 77e-15;
/// Energy of one floating-point operation, joules (ReverB-SNN: 12.5 pJ).
pub const FLOP_JOULES: f64 = 12.5e-12;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerInfo {
    /// e.g. `stages[0].down`, `head`.
    pub path: String,
    #[serde(rename = "in")]
    pub inputs: usize,
    #[serde(rename = "out")]
    pub outputs: usize,
    /// How many times the layer is evaluated per inference.
    pub evaluations: usize,
}

/// One stem layer (a binary convolution).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvInfo {
    /// e.g. `stem[0]`.
    pub path: String,
    /// `[H, W, Ci]` of its input map.
    pub input: [usize; 3],
    /// `[H', W', Co]` of its output map.
    pub output: [usize; 3],
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// `kernel * kernel * Ci * Co`.
    pub weight_bits: u64,
    /// Evaluations per inference: T with `split`, 1 with `repeat` (every
    /// timestep sees the same frame, so the stem runs once).
    pub evaluations: usize,
    /// Synaptic operations per inference if every input were non-zero: per
    /// output position the kernel taps inside the map (padding adds nothing)
    /// times Ci times Co, times the evaluations.
    pub dense_sops: u64,
    /// Bytes of the output map, `H' * W' * Co` (one u8 spike each).
    pub output_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageInfo {
    pub width: usize,
    pub blocks: usize,
    /// sum over channels of the decay shift h.
    pub decay_shift_sum: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Energy {
    /// SOP energy of the dense upper bound (every input non-zero), joules.
    pub dense_sop_j: f64,
    /// SOP energy of the given input, joules (when an input was given).
    pub actual_sop_j: Option<f64>,
    /// Requantization multiply-adds counted as FLOPs, joules.
    pub requant_flop_j: f64,
    /// dense_sop_j + requant_flop_j.
    pub dense_total_j: f64,
    /// actual_sop_j + requant_flop_j.
    pub actual_total_j: Option<f64>,
    pub note: String,
}

/// Figures of one model (per inference where it says so).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Info {
    pub name: String,
    pub timesteps: usize,
    pub group_len: usize,
    pub grouping: String,
    pub input_len: usize,
    pub classes: usize,
    pub readout: String,
    /// `[H, W, C]` of an input group (version 2 models with a stem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<[usize; 3]>,
    /// The stem's conv layers (empty without a stem).
    pub stem: Vec<ConvInfo>,
    pub stages: Vec<StageInfo>,
    /// The dense layers.
    pub layers: Vec<LayerInfo>,
    /// Total binary weights (in * out over the dense layers, plus the stem's).
    pub weight_bits: u64,
    /// The stem's share of `weight_bits`.
    pub stem_weight_bits: u64,
    /// The largest stem output map in bytes (0 without a stem).
    pub largest_feature_map_bytes: u64,
    /// Packed weight rows (ceil(in/8) bytes each), plus per output multiplier
    /// (1 byte) and bias (4 bytes), per layer shift (1 byte), per spike point
    /// thresholds (2 bytes each) and shift (1 byte), per turn-on channel the
    /// decay sign and shift (1 byte).
    pub parameter_bytes: u64,
    /// Synaptic operations per inference if every input were non-zero (stem included).
    pub dense_sops: u64,
    /// The stem's share of `dense_sops`.
    pub stem_dense_sops: u64,
    /// Synaptic operations for the given input (non-zero inputs only, stem included).
    pub actual_sops: Option<u64>,
    /// The stem's share of `actual_sops`.
    pub stem_actual_sops: Option<u64>,
    /// Requantization multiply-adds per inference: one per layer output per
    /// evaluation (per output position for the stem).
    pub requant_flops: u64,
    /// Turn-on membrane bits carried across timesteps: 16 * sum of widths.
    pub turn_on_state_bits: u64,
    /// A vanilla multi-timestep SNN keeps a 16-bit membrane for every neuron of
    /// every spike point (each stem position and channel, each block's spike
    /// and each stage's out_spike).
    pub vanilla_state_bits: u64,
    /// Reversible state buffer: (T-1) * sum of h.
    pub buffer_bits: u64,
    /// Storing the full turn-on state history instead: T * turn_on_state_bits.
    pub history_bits: u64,
    pub energy: Energy,
}

impl Info {
    /// Figures that do not depend on an input.
    pub fn of(model: &Model) -> Info {
        let t = model.timesteps;
        let s_count = model.stages.len();
        let mut layers = Vec::new();
        let mut stages = Vec::new();
        let mut parameter_bytes = 0u64;
        let layer_bytes = |l: &crate::model::Layer| -> u64 {
            (l.row_bytes() * l.outputs + 5 * l.outputs + 1) as u64
        };
        let spike_bytes = |w: usize| -> u64 { (2 * w + 1) as u64 };
        for (i, st) in model.stages.iter().enumerate() {
            layers.push(LayerInfo {
                path: format!("stages[{i}].down"),
                inputs: st.down.inputs,
                outputs: st.down.outputs,
                evaluations: t,
            });
            parameter_bytes += layer_bytes(&st.down);
            if let Some(u) = &st.up {
                layers.push(LayerInfo {
                    path: format!("stages[{i}].up"),
                    inputs: u.inputs,
                    outputs: u.outputs,
                    // up is skipped at t = 0.
                    evaluations: t - 1,
                });
                parameter_bytes += layer_bytes(u);
            }
            for (b, bl) in st.blocks.iter().enumerate() {
                layers.push(LayerInfo {
                    path: format!("stages[{i}].blocks[{b}].layer"),
                    inputs: bl.layer.inputs,
                    outputs: bl.layer.outputs,
                    evaluations: t,
                });
                parameter_bytes += layer_bytes(&bl.layer) + spike_bytes(st.width);
            }
            parameter_bytes += spike_bytes(st.width) + st.width as u64;
            stages.push(StageInfo {
                width: st.width,
                blocks: st.blocks.len(),
                decay_shift_sum: st.decay.shift.iter().map(|&h| h as u64).sum(),
            });
        }
        let stem_evals = match model.input.grouping {
            Grouping::Split => t,
            Grouping::Repeat => 1,
        };
        let maps = model.stem_maps();
        let mut stem = Vec::new();
        for (i, c) in model.stem.iter().enumerate() {
            let (input, output) = (maps[i], maps[i + 1]);
            // Kernel taps inside the map, summed over output positions, per axis.
            let taps = |side: usize, out: usize| -> u64 {
                (0..out)
                    .map(|o| {
                        (0..c.kernel)
                            .filter(|&k| {
                                (o * c.stride + k)
                                    .checked_sub(c.padding)
                                    .is_some_and(|x| x < side)
                            })
                            .count() as u64
                    })
                    .sum()
            };
            let per_eval = taps(input[0], output[0])
                * taps(input[1], output[1])
                * (c.in_channels * c.out_channels) as u64;
            stem.push(ConvInfo {
                path: format!("stem[{i}]"),
                input,
                output,
                kernel: c.kernel,
                stride: c.stride,
                padding: c.padding,
                weight_bits: c.layer.weight_bits() as u64,
                evaluations: stem_evals,
                dense_sops: per_eval * stem_evals as u64,
                output_bytes: (output[0] * output[1] * output[2]) as u64,
            });
            parameter_bytes += layer_bytes(&c.layer) + spike_bytes(c.out_channels);
        }
        layers.push(LayerInfo {
            path: "head".into(),
            inputs: model.head.inputs,
            outputs: model.head.outputs,
            evaluations: t,
        });
        parameter_bytes += layer_bytes(&model.head);

        let stem_weight_bits: u64 = stem.iter().map(|c| c.weight_bits).sum();
        let stem_dense_sops: u64 = stem.iter().map(|c| c.dense_sops).sum();
        let stem_neurons: u64 = stem.iter().map(|c| c.output_bytes).sum();
        let weight_bits = layers
            .iter()
            .map(|l| (l.inputs * l.outputs) as u64)
            .sum::<u64>()
            + stem_weight_bits;
        let dense_sops = layers
            .iter()
            .map(|l| (l.inputs * l.outputs * l.evaluations) as u64)
            .sum::<u64>()
            + stem_dense_sops;
        let requant_flops: u64 = layers
            .iter()
            .map(|l| (l.outputs * l.evaluations) as u64)
            .sum::<u64>()
            + stem
                .iter()
                .map(|c| c.output_bytes * c.evaluations as u64)
                .sum::<u64>();
        let widths: u64 = model.stages.iter().map(|s| s.width as u64).sum();
        let turn_on_state_bits = 16 * widths;
        let vanilla_state_bits = 16
            * (model
                .stages
                .iter()
                .map(|s| (s.width * (s.blocks.len() + 1)) as u64)
                .sum::<u64>()
                + stem_neurons);
        let h_sum: u64 = stages.iter().map(|s| s.decay_shift_sum).sum();
        let buffer_bits = (t as u64 - 1) * h_sum;
        let history_bits = t as u64 * turn_on_state_bits;
        let dense_sop_j = dense_sops as f64 * SOP_JOULES;
        let requant_flop_j = requant_flops as f64 * FLOP_JOULES;
        let _ = s_count;
        Info {
            name: model.name.clone(),
            timesteps: t,
            group_len: model.input.group_len,
            grouping: match model.input.grouping {
                Grouping::Split => "split".into(),
                Grouping::Repeat => "repeat".into(),
            },
            input_len: model.expected_input_len(),
            classes: model.classes,
            readout: match model.readout {
                Readout::Last => "last".into(),
                Readout::Sum => "sum".into(),
            },
            input_shape: model.input.shape,
            largest_feature_map_bytes: stem.iter().map(|c| c.output_bytes).max().unwrap_or(0),
            stem,
            stages,
            layers,
            weight_bits,
            stem_weight_bits,
            parameter_bytes,
            dense_sops,
            stem_dense_sops,
            actual_sops: None,
            stem_actual_sops: None,
            requant_flops,
            turn_on_state_bits,
            vanilla_state_bits,
            buffer_bits,
            history_bits,
            energy: Energy {
                dense_sop_j,
                actual_sop_j: None,
                requant_flop_j,
                dense_total_j: dense_sop_j + requant_flop_j,
                actual_total_j: None,
                note: "SOP = 77 fJ (one add/subtract of a non-zero activation); \
                       FLOP = 12.5 pJ, counting each per-neuron requantization \
                       multiply-add (acc * M + B) as one FLOP"
                    .into(),
            },
        }
    }

    /// Figures including the actual SOPs of one input.
    pub fn with_input(model: &Model, input: &[u8]) -> Result<Info, InputError> {
        let mut info = Info::of(model);
        let inf = infer(model, input)?;
        info.actual_sops = Some(inf.sops);
        info.stem_actual_sops = Some(inf.stem_sops);
        let j = inf.sops as f64 * SOP_JOULES;
        info.energy.actual_sop_j = Some(j);
        info.energy.actual_total_j = Some(j + info.energy.requant_flop_j);
        Ok(info)
    }
}

fn joules(j: f64) -> String {
    if j >= 1e-3 {
        format!("{:.3} mJ", j * 1e3)
    } else if j >= 1e-6 {
        format!("{:.3} uJ", j * 1e6)
    } else {
        format!("{:.3} nJ", j * 1e9)
    }
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model {:?}", self.name)?;
        writeln!(
            f,
            "  timesteps {}, input {} ({} x group_len {}), classes {}, readout {}",
            self.timesteps,
            self.input_len,
            self.grouping,
            self.group_len,
            self.classes,
            self.readout
        )?;
        if let Some([h, w, c]) = self.input_shape {
            writeln!(f, "  input shape {h} x {w} x {c} (H x W x C)")?;
        }
        for c in &self.stem {
            let [ih, iw, ic] = c.input;
            let [oh, ow, oc] = c.output;
            writeln!(
                f,
                "  {}: conv {k}x{k} stride {} padding {}, {ih}x{iw}x{ic} -> {oh}x{ow}x{oc} \
                 ({} bytes), x{} per inference",
                c.path,
                c.stride,
                c.padding,
                c.output_bytes,
                c.evaluations,
                k = c.kernel,
            )?;
        }
        for (i, s) in self.stages.iter().enumerate() {
            writeln!(
                f,
                "  stage {i}: width {}, {} block(s), sum h = {}",
                s.width, s.blocks, s.decay_shift_sum
            )?;
        }
        writeln!(f, "layers:")?;
        for l in &self.layers {
            writeln!(
                f,
                "  {:<28} {:>5} -> {:<5} x{} per inference",
                l.path, l.inputs, l.outputs, l.evaluations
            )?;
        }
        writeln!(f, "parameters:")?;
        writeln!(f, "  weight bits          {}", self.weight_bits)?;
        if !self.stem.is_empty() {
            writeln!(f, "  stem weight bits     {}", self.stem_weight_bits)?;
            writeln!(
                f,
                "  largest feature map  {} bytes",
                self.largest_feature_map_bytes
            )?;
        }
        writeln!(f, "  parameter bytes      {}", self.parameter_bytes)?;
        writeln!(f, "operations per inference:")?;
        writeln!(f, "  SOPs (dense bound)   {}", self.dense_sops)?;
        if !self.stem.is_empty() {
            writeln!(f, "  stem SOPs (dense)    {}", self.stem_dense_sops)?;
        }
        if let Some(a) = self.actual_sops {
            writeln!(f, "  SOPs (this input)    {a}")?;
        }
        if let (Some(a), false) = (self.stem_actual_sops, self.stem.is_empty()) {
            writeln!(f, "  stem SOPs (input)    {a}")?;
        }
        writeln!(
            f,
            "  requant FLOPs        {} (one multiply-add per layer output, counted as one FLOP)",
            self.requant_flops
        )?;
        writeln!(f, "state memory:")?;
        writeln!(
            f,
            "  turn-on state        {} bits (vanilla SNN, a membrane per spiking neuron: {} bits, {:.2}x)",
            self.turn_on_state_bits,
            self.vanilla_state_bits,
            self.vanilla_state_bits as f64 / self.turn_on_state_bits.max(1) as f64
        )?;
        writeln!(
            f,
            "  reversible buffer    {} bits (full state history: {} bits)",
            self.buffer_bits, self.history_bits
        )?;
        writeln!(f, "energy estimate per inference:")?;
        writeln!(
            f,
            "  dense bound          {} ({} SOPs + {} FLOPs)",
            joules(self.energy.dense_total_j),
            joules(self.energy.dense_sop_j),
            joules(self.energy.requant_flop_j)
        )?;
        if let (Some(t), Some(s)) = (self.energy.actual_total_j, self.energy.actual_sop_j) {
            writeln!(
                f,
                "  this input           {} ({} SOPs + {} FLOPs)",
                joules(t),
                joules(s),
                joules(self.energy.requant_flop_j)
            )?;
        }
        write!(f, "  ({})", self.energy.note)
    }
}
