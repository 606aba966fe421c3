//! The bit-exact golden model (SEMANTICS.md "Building blocks", "Model",
//! "Reversibility"): building blocks, the timestep stepper [`Machine`] with
//! rewind, and [`infer`].

use crate::model::{Grouping, Layer, Model, Readout, Spike, Stage};

/// `sat16(x)`: clamp to [-32768, 32767].
#[inline]
pub fn sat16(x: i64) -> i16 {
    x.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// `wrap16(x)`: x modulo 2^16 into [-32768, 32767] (two's complement).
#[inline]
pub fn wrap16(x: i64) -> i16 {
    x as i16
}

/// Spike point: `clamp(U >>> k, 0, 255)` where `U > threshold` (strict), else 0.
/// `u` must have one entry per threshold.
pub fn spike(sp: &Spike, u: &[i16]) -> Vec<u8> {
    debug_assert_eq!(sp.threshold.len(), u.len());
    u.iter()
        .zip(&sp.threshold)
        .map(|(&x, &th)| {
            if x > th {
                (x >> sp.shift).clamp(0, 255) as u8
            } else {
                0
            }
        })
        .collect()
}

/// Exact accumulator `acc[o] = sum_i W[o][i] * a[i]` (a has `l.inputs` entries).
///
/// Uses `sum W*a = 2 * sum_{W=+1} a - sum a` and visits only non-zero inputs,
/// as the hardware does.
pub fn layer_acc(l: &Layer, a: &[u8]) -> Vec<i32> {
    debug_assert_eq!(l.inputs, a.len());
    let nz: Vec<(usize, i32)> = a
        .iter()
        .enumerate()
        .filter(|(_, &x)| x != 0)
        .map(|(i, &x)| (i, x as i32))
        .collect();
    let total: i32 = nz.iter().map(|&(_, x)| x).sum();
    l.weights
        .iter()
        .map(|row| {
            let mut plus = 0i32;
            for &(i, x) in &nz {
                // Branch-free select keeps the inner loop tight.
                let bit = ((row[i >> 3] >> (i & 7)) & 1) as i32;
                plus += x & -bit;
            }
            2 * plus - total
        })
        .collect()
}

#[inline]
fn affine<'a>(l: &'a Layer, acc: &'a [i32]) -> impl Iterator<Item = i64> + 'a {
    acc.iter()
        .zip(l.multiplier.iter().zip(&l.bias))
        .map(move |(&a, (&m, &b))| (a as i64 * m as i64 + b as i64) >> l.shift)
}

/// `layer(a)[o] = sat16((acc[o] * M[o] + B[o]) >>> R)`.
pub fn layer(l: &Layer, a: &[u8]) -> Vec<i16> {
    let acc = layer_acc(l, a);
    affine(l, &acc).map(sat16).collect()
}

/// The head: `(acc[o] * M[o] + B[o]) >>> R`, not saturated.
pub fn head(l: &Layer, a: &[u8]) -> Vec<i64> {
    let acc = layer_acc(l, a);
    affine(l, &acc).collect()
}

/// Activity counters of the forward timesteps run so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Non-zero output spikes of each stage, summed over timesteps.
    pub spike_counts: Vec<u64>,
    /// Synaptic operations: sum over layer evaluations of non-zero inputs * outputs.
    pub sops: u64,
    /// Turn-on updates whose exact value fell outside i16 and wrapped.
    pub wraps: u64,
    /// `(non-zero inputs, outputs)` of each layer evaluation, in evaluation order:
    /// per timestep, per stage: down, up (not at t = 0, not for the last stage),
    /// each block's layer; then the head.
    pub layer_events: Vec<(usize, usize)>,
}

impl Stats {
    fn record(&mut self, a: &[u8], outputs: usize) {
        let nz = a.iter().filter(|&&x| x != 0).count();
        self.sops += (nz * outputs) as u64;
        self.layer_events.push((nz, outputs));
    }
}

/// Wrong input vector length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("input has {found} values, model expects {expected} ({grouping})")]
    Length {
        expected: usize,
        found: usize,
        grouping: String,
    },
}

/// Why a rewind could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewindError {
    #[error("nothing to rewind: no timestep has run")]
    AtStart,
    #[error("reversible state buffer is empty at timestep {0}")]
    BufferUnderflow(usize),
}

/// Checks an input vector's length against the model.
pub fn check_input(model: &Model, input: &[u8]) -> Result<(), InputError> {
    let expected = model.expected_input_len();
    if input.len() != expected {
        let grouping = match model.input.grouping {
            Grouping::Split => format!(
                "split: {} timesteps x group_len {}",
                model.timesteps, model.input.group_len
            ),
            Grouping::Repeat => format!("repeat: group_len {}", model.input.group_len),
        };
        return Err(InputError::Length {
            expected,
            found: input.len(),
            grouping,
        });
    }
    Ok(())
}

/// The golden model as a stepper over timesteps, with exact rewind.
#[derive(Debug, Clone)]
pub struct Machine<'m> {
    model: &'m Model,
    input: Vec<u8>,
    t: usize,
    /// c_l after the last computed timestep.
    c: Vec<Vec<i16>>,
    /// s_l of the last computed timestep (zeros before the first).
    s: Vec<Vec<u8>>,
    /// Reversible state buffer: the low h bits dropped by each turn-on update
    /// at t > 0, pushed stage by stage, channel by channel.
    buffer: Vec<u16>,
    buffer_bits: usize,
    /// Readout over the timesteps computed so far.
    logits: Vec<i64>,
    stats: Stats,
}

impl<'m> Machine<'m> {
    /// A machine at t = 0 (all turn-on membranes zero).
    pub fn new(model: &'m Model, input: &[u8]) -> Result<Machine<'m>, InputError> {
        check_input(model, input)?;
        let s_count = model.stages.len();
        Ok(Machine {
            model,
            input: input.to_vec(),
            t: 0,
            c: model.stages.iter().map(|s| vec![0; s.width]).collect(),
            s: model.stages.iter().map(|s| vec![0; s.width]).collect(),
            buffer: Vec::new(),
            buffer_bits: 0,
            logits: vec![0; model.classes],
            stats: Stats {
                spike_counts: vec![0; s_count],
                ..Stats::default()
            },
        })
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Timesteps done.
    pub fn t(&self) -> usize {
        self.t
    }

    /// True when all T timesteps have run.
    pub fn done(&self) -> bool {
        self.t >= self.model.timesteps
    }

    /// c_l per stage after the last computed timestep.
    pub fn state(&self) -> &[Vec<i16>] {
        &self.c
    }

    /// s_l per stage of the last computed timestep (zeros when t = 0).
    pub fn spikes(&self) -> &[Vec<u8>] {
        &self.s
    }

    /// Readout over the timesteps done so far (`last`: the last one's logits).
    pub fn logits(&self) -> &[i64] {
        &self.logits
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Entries in the reversible state buffer (one per channel per stage per
    /// timestep t > 0).
    pub fn buffer(&self) -> &[u16] {
        &self.buffer
    }

    /// Bits held in the reversible state buffer now.
    pub fn buffer_bits(&self) -> usize {
        self.buffer_bits
    }

    fn group(&self, t: usize) -> &[u8] {
        let g = self.model.input.group_len;
        match self.model.input.grouping {
            Grouping::Split => &self.input[t * g..(t + 1) * g],
            Grouping::Repeat => &self.input[..g],
        }
    }

    /// z of stage l at timestep t, given its input and the spikes from above at t-1.
    /// `stats` collects layer events when given (forward pass only).
    fn stage_z(
        st: &Stage,
        is_last: bool,
        t: usize,
        input: &[u8],
        above_prev: Option<&[u8]>,
        mut stats: Option<&mut Stats>,
    ) -> Vec<i16> {
        if let Some(s) = stats.as_deref_mut() {
            s.record(input, st.down.outputs);
        }
        let mut z = layer(&st.down, input);
        if !is_last && t > 0 {
            if let (Some(up), Some(a)) = (&st.up, above_prev) {
                if let Some(s) = stats.as_deref_mut() {
                    s.record(a, up.outputs);
                }
                let u = layer(up, a);
                for (zc, uc) in z.iter_mut().zip(u) {
                    *zc = sat16(*zc as i64 + uc as i64);
                }
            }
        }
        for b in &st.blocks {
            let a = spike(&b.spike, &z);
            if let Some(s) = stats.as_deref_mut() {
                s.record(&a, b.layer.outputs);
            }
            let y = layer(&b.layer, &a);
            for (zc, yc) in z.iter_mut().zip(y) {
                *zc = sat16(*zc as i64 + yc as i64);
            }
        }
        z
    }

    /// Runs the next timestep forward. Returns false (and does nothing) when
    /// all T timesteps have already run.
    pub fn step(&mut self) -> bool {
        if self.done() {
            return false;
        }
        let t = self.t;
        let model = self.model;
        let s_count = model.stages.len();
        let input = std::mem::take(&mut self.input);
        for (l, st) in model.stages.iter().enumerate() {
            let is_last = l + 1 == s_count;
            let z = {
                let inp: &[u8] = if l == 0 {
                    let g = model.input.group_len;
                    match model.input.grouping {
                        Grouping::Split => &input[t * g..(t + 1) * g],
                        Grouping::Repeat => &input[..g],
                    }
                } else {
                    &self.s[l - 1]
                };
                // s[l+1] still holds s_{l+1}(t-1): stages above are not updated yet.
                let above = if is_last {
                    None
                } else {
                    Some(self.s[l + 1].as_slice())
                };
                Self::stage_z(st, is_last, t, inp, above, Some(&mut self.stats))
            };
            let c = &mut self.c[l];
            for ch in 0..st.width {
                let h = st.decay.shift[ch] as u32;
                let prev = c[ch] as i64;
                if t > 0 {
                    self.buffer.push((prev & ((1i64 << h) - 1)) as u16);
                    self.buffer_bits += h as usize;
                }
                let exact = z[ch] as i64 + st.decay.sign[ch] as i64 * (prev >> h);
                if exact < i16::MIN as i64 || exact > i16::MAX as i64 {
                    self.stats.wraps += 1;
                }
                c[ch] = wrap16(exact);
            }
            self.s[l] = spike(&st.out_spike, &self.c[l]);
            self.stats.spike_counts[l] += self.s[l].iter().filter(|&&x| x != 0).count() as u64;
        }
        self.input = input;
        let top = &self.s[s_count - 1];
        self.stats.record(top, model.head.outputs);
        let lt = head(&model.head, top);
        match model.readout {
            Readout::Last => self.logits = lt,
            Readout::Sum => {
                for (a, b) in self.logits.iter_mut().zip(lt) {
                    *a += b;
                }
            }
        }
        self.t += 1;
        true
    }

    /// Steps back one timestep, top-down, recomputing z from the forward
    /// values below and the recovered spikes above, and popping the dropped
    /// low bits from the reversible state buffer. Stats are not changed.
    pub fn rewind(&mut self) -> Result<(), RewindError> {
        if self.t == 0 {
            return Err(RewindError::AtStart);
        }
        let t = self.t - 1; // the timestep being undone
        let model = self.model;
        let s_count = model.stages.len();

        // Undo this timestep's contribution to the readout first, while s is
        // still the forward value.
        let top_logits = head(&model.head, &self.s[s_count - 1]);
        match model.readout {
            Readout::Sum => {
                for (a, b) in self.logits.iter_mut().zip(&top_logits) {
                    *a -= b;
                }
            }
            Readout::Last => {}
        }

        if t == 0 {
            for l in 0..s_count {
                self.c[l].iter_mut().for_each(|x| *x = 0);
                self.s[l].iter_mut().for_each(|x| *x = 0);
            }
            self.logits.iter_mut().for_each(|x| *x = 0);
            self.t = 0;
            return Ok(());
        }

        let needed: usize = model.stages.iter().map(|s| s.width).sum();
        if self.buffer.len() < needed {
            return Err(RewindError::BufferUnderflow(t));
        }

        let input = std::mem::take(&mut self.input);
        for l in (0..s_count).rev() {
            let st = &model.stages[l];
            let is_last = l + 1 == s_count;
            let z = {
                let inp: &[u8] = if l == 0 {
                    let g = model.input.group_len;
                    match model.input.grouping {
                        Grouping::Split => &input[t * g..(t + 1) * g],
                        Grouping::Repeat => &input[..g],
                    }
                } else {
                    // s_{l-1}(t): stage l-1 is not rewound yet.
                    &self.s[l - 1]
                };
                // s_{l+1}(t-1): stage l+1 was just rewound.
                let above = if is_last {
                    None
                } else {
                    Some(self.s[l + 1].as_slice())
                };
                Self::stage_z(st, is_last, t, inp, above, None)
            };
            let c = &mut self.c[l];
            for ch in (0..st.width).rev() {
                let h = st.decay.shift[ch] as u32;
                // Length checked above.
                let low = self.buffer.pop().unwrap_or(0) as i64;
                self.buffer_bits -= h as usize;
                let d = wrap16(c[ch] as i64 - z[ch] as i64);
                let q = wrap16(st.decay.sign[ch] as i64 * d as i64);
                c[ch] = wrap16(((q as i64) << h) + low);
            }
            self.s[l] = spike(&st.out_spike, &self.c[l]);
        }
        self.input = input;
        if model.readout == Readout::Last {
            self.logits = head(&model.head, &self.s[s_count - 1]);
        }
        self.t = t;
        Ok(())
    }

    /// The input group timestep t sees (t < T).
    pub fn input_group(&self, t: usize) -> &[u8] {
        self.group(t)
    }
}

/// Result of a full inference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inference {
    pub logits: Vec<i64>,
    /// argmax of logits; the lowest index wins a tie.
    pub prediction: usize,
    /// Non-zero output spikes per stage over all timesteps.
    pub spike_counts: Vec<u64>,
    /// Sum over layer evaluations of non-zero inputs * outputs.
    pub sops: u64,
    /// wrap16 overflows in the turn-on update.
    pub wraps: u64,
    /// c per stage after each timestep: `states[t][l][c]`.
    pub states: Vec<Vec<Vec<i16>>>,
    /// `(non-zero inputs, outputs)` per layer evaluation, see [`Stats::layer_events`].
    pub layer_events: Vec<(usize, usize)>,
}

/// argmax with the lowest index winning ties (0 for an empty slice).
pub fn argmax(v: &[i64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Runs all T timesteps of `model` on `input`.
pub fn infer(model: &Model, input: &[u8]) -> Result<Inference, InputError> {
    let mut m = Machine::new(model, input)?;
    let mut states = Vec::with_capacity(model.timesteps);
    while m.step() {
        states.push(m.state().to_vec());
    }
    let logits = m.logits().to_vec();
    let stats = m.stats.clone();
    Ok(Inference {
        prediction: argmax(&logits),
        logits,
        spike_counts: stats.spike_counts,
        sops: stats.sops,
        wraps: stats.wraps,
        states,
        layer_events: stats.layer_events,
    })
}
