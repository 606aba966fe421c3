//! The bit-exact golden model (SEMANTICS.md "Building blocks", "Model",
//! "Version 2", "Reversibility"): building blocks, the model prepared for fast
//! evaluation ([`Engine`]), the timestep stepper [`Machine`] with rewind, and
//! [`infer`].
//!
//! The building blocks here ([`layer_acc`], [`layer`], [`conv`], ...) are the
//! spec written out plainly; [`Engine`] evaluates the same arithmetic with
//! transposed byte masks (see `fast.rs`), and tests hold the two equal.

use std::borrow::Cow;

use crate::fast::{spike_into, ConvK, Dense, Leak, Scratch};
use crate::model::{Conv, Grouping, Layer, Model, Readout, Spike};

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

/// One stem layer, as the spec writes it: the output map (spikes) of `map`,
/// a `[H, W, Ci]` map in `(y, x, c)` order. Returns the map and its `[H', W', Co]`
/// (`None` when the output would be empty or `map` has the wrong length).
pub fn conv(c: &Conv, map: &[u8], shape: [usize; 3]) -> Option<(Vec<u8>, [usize; 3])> {
    let [h, w, ci] = shape;
    if map.len() != h * w * ci || ci != c.in_channels {
        return None;
    }
    let out = c.out_map(shape)?;
    let [oh, ow, co] = out;
    let (k, s, p) = (c.kernel as i64, c.stride as i64, c.padding as i64);
    let mut res = Vec::with_capacity(oh * ow * co);
    for y in 0..oh as i64 {
        for x in 0..ow as i64 {
            let mut u = Vec::with_capacity(co);
            for o in 0..co {
                let mut acc = 0i64;
                for ky in 0..k {
                    for kx in 0..k {
                        let (iy, ix) = (y * s + ky - p, x * s + kx - p);
                        if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                            continue; // padding adds nothing
                        }
                        for cc in 0..ci {
                            let a = map[((iy as usize) * w + ix as usize) * ci + cc] as i64;
                            let i = ((ky * k + kx) as usize) * ci + cc;
                            acc += if c.layer.weight(o, i) { a } else { -a };
                        }
                    }
                }
                let l = &c.layer;
                u.push(sat16(
                    (acc * l.multiplier[o] as i64 + l.bias[o] as i64) >> l.shift,
                ));
            }
            res.extend(spike(&c.spike, &u));
        }
    }
    Some((res, out))
}

/// Activity counters of the forward timesteps run so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Non-zero output spikes of each stage, summed over timesteps.
    pub spike_counts: Vec<u64>,
    /// Synaptic operations: sum over layer evaluations of non-zero inputs *
    /// outputs, the stem's included.
    pub sops: u64,
    /// The stem's share of `sops`: per stem evaluation, per output position,
    /// non-zero inputs under the kernel * out_channels. With `repeat` the stem
    /// runs once per inference (every timestep sees the same frame), with
    /// `split` once per timestep.
    pub stem_sops: u64,
    /// Turn-on updates whose exact value fell outside i16 and wrapped.
    pub wraps: u64,
    /// `(non-zero inputs, outputs)` of each dense layer evaluation, in
    /// evaluation order: per timestep, per stage: down, up (not at t = 0, not
    /// for the last stage), each block's layer; then the head. (The stem is
    /// counted in `stem_sops` only.)
    pub layer_events: Vec<(usize, usize)>,
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

#[derive(Debug, Clone)]
struct StageK {
    down: Dense,
    up: Option<Dense>,
    blocks: Vec<Dense>,
    leak: Leak,
}

/// A model prepared for fast evaluation: every layer's weights transposed to
/// byte masks once (see the `fast` module), so that each inference only adds.
/// Build one per model and reuse it; [`infer`] and [`Machine::new`] build a
/// fresh one per call.
#[derive(Debug, Clone)]
pub struct Engine<'m> {
    model: &'m Model,
    stem: Vec<ConvK>,
    stages: Vec<StageK>,
    head: Dense,
    /// The widest padded layer output, for the scratch space.
    max_padded: usize,
}

impl<'m> Engine<'m> {
    pub fn new(model: &'m Model) -> Engine<'m> {
        let maps = model.stem_maps();
        let stem: Vec<ConvK> = model
            .stem
            .iter()
            .zip(&maps)
            .map(|(c, &m)| ConvK::new(c, m))
            .collect();
        let stages: Vec<StageK> = model
            .stages
            .iter()
            .map(|st| StageK {
                down: Dense::new(&st.down),
                up: st.up.as_ref().map(Dense::new),
                blocks: st.blocks.iter().map(|b| Dense::new(&b.layer)).collect(),
                leak: Leak::new(&st.decay.sign, &st.decay.shift),
            })
            .collect();
        let head = Dense::new(&model.head);
        let mut max_padded = head.padded;
        for c in &stem {
            max_padded = max_padded.max(c.dense.padded);
        }
        for st in &stages {
            max_padded = max_padded.max(st.down.padded);
            if let Some(u) = &st.up {
                max_padded = max_padded.max(u.padded);
            }
            for b in &st.blocks {
                max_padded = max_padded.max(b.padded);
            }
        }
        Engine {
            model,
            stem,
            stages,
            head,
            max_padded,
        }
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// A machine at t = 0 that uses this engine.
    pub fn machine(&self, input: &[u8]) -> Result<Machine<'_>, InputError> {
        Machine::with_engine(Cow::Borrowed(self), input)
    }

    /// Runs all T timesteps on `input`.
    pub fn infer(&self, input: &[u8]) -> Result<Inference, InputError> {
        run_all(self.machine(input)?)
    }

    /// Logits, prediction and wraps only (no per-timestep states), for scoring
    /// many inputs.
    pub fn classify(&self, input: &[u8]) -> Result<Classified, InputError> {
        let mut m = self.machine(input)?;
        m.st.record_events = false;
        while m.step() {}
        let logits = std::mem::take(&mut m.st.logits);
        Ok(Classified {
            prediction: argmax(&logits),
            logits,
            wraps: m.st.stats.wraps,
            sops: m.st.stats.sops,
        })
    }

    /// The stem's output (stage 0's input) of one input group.
    pub fn stem_output(&self, group: &[u8]) -> Vec<u8> {
        let mut sc = Scratch::new(self.max_padded);
        let (out, _) = self.run_stem(group, &mut sc);
        out.into_owned()
    }

    /// The stem's output map of `group` (the group itself without a stem) and its SOPs.
    fn run_stem<'g>(&self, group: &'g [u8], sc: &mut Scratch) -> (Cow<'g, [u8]>, u64) {
        if self.stem.is_empty() {
            return (Cow::Borrowed(group), 0);
        }
        let mut sops = 0;
        let mut cur: Vec<u8> = group.to_vec();
        let mut next = Vec::new();
        for c in &self.stem {
            sops += c.eval(&cur, sc, &mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        (Cow::Owned(cur), sops)
    }
}

/// The answer of [`Engine::classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub logits: Vec<i64>,
    pub prediction: usize,
    pub wraps: u64,
    pub sops: u64,
}

/// The golden model as a stepper over timesteps, with exact rewind.
#[derive(Debug, Clone)]
pub struct Machine<'m> {
    engine: Cow<'m, Engine<'m>>,
    st: MachineState,
}

#[derive(Debug, Clone)]
struct MachineState {
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
    record_events: bool,
    /// `repeat` only: stage 0's `down` output and its nonzero input count. Every
    /// timestep sees the same group, so the stem and `down` run once.
    down0: Option<(Vec<i16>, usize)>,
    sc: Scratch,
    z: Vec<i16>,
    a: Vec<u8>,
    head_out: Vec<i64>,
}

impl<'m> Machine<'m> {
    /// A machine at t = 0 (all turn-on membranes zero), with its own [`Engine`].
    pub fn new(model: &'m Model, input: &[u8]) -> Result<Machine<'m>, InputError> {
        Machine::with_engine(Cow::Owned(Engine::new(model)), input)
    }

    fn with_engine(engine: Cow<'m, Engine<'m>>, input: &[u8]) -> Result<Machine<'m>, InputError> {
        let model = engine.model;
        check_input(model, input)?;
        let s_count = model.stages.len();
        let st = MachineState {
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
            record_events: true,
            down0: None,
            sc: Scratch::new(engine.max_padded),
            z: Vec::new(),
            a: Vec::new(),
            head_out: vec![0; model.classes],
        };
        Ok(Machine { engine, st })
    }

    pub fn model(&self) -> &'m Model {
        self.engine.model
    }

    /// Timesteps done.
    pub fn t(&self) -> usize {
        self.st.t
    }

    /// True when all T timesteps have run.
    pub fn done(&self) -> bool {
        self.st.t >= self.engine.model.timesteps
    }

    /// c_l per stage after the last computed timestep.
    pub fn state(&self) -> &[Vec<i16>] {
        &self.st.c
    }

    /// s_l per stage of the last computed timestep (zeros when t = 0).
    pub fn spikes(&self) -> &[Vec<u8>] {
        &self.st.s
    }

    /// Readout over the timesteps done so far (`last`: the last one's logits).
    pub fn logits(&self) -> &[i64] {
        &self.st.logits
    }

    pub fn stats(&self) -> &Stats {
        &self.st.stats
    }

    /// Entries in the reversible state buffer (one per channel per stage per
    /// timestep t > 0).
    pub fn buffer(&self) -> &[u16] {
        &self.st.buffer
    }

    /// Bits held in the reversible state buffer now.
    pub fn buffer_bits(&self) -> usize {
        self.st.buffer_bits
    }

    /// The input group timestep t sees (t < T).
    pub fn input_group(&self, t: usize) -> &[u8] {
        group(self.engine.model, &self.st.input, t)
    }

    /// Runs the next timestep forward. Returns false (and does nothing) when
    /// all T timesteps have already run.
    pub fn step(&mut self) -> bool {
        if self.done() {
            return false;
        }
        self.st.step(&self.engine);
        true
    }

    /// Steps back one timestep, top-down, recomputing z from the forward
    /// values below and the recovered spikes above, and popping the dropped
    /// low bits from the reversible state buffer. Stats are not changed.
    pub fn rewind(&mut self) -> Result<(), RewindError> {
        self.st.rewind(&self.engine)
    }
}

fn group<'a>(model: &Model, input: &'a [u8], t: usize) -> &'a [u8] {
    let g = model.input.group_len;
    match model.input.grouping {
        Grouping::Split => &input[t * g..(t + 1) * g],
        Grouping::Repeat => &input[..g],
    }
}

impl MachineState {
    /// Counts one dense layer evaluation (forward only).
    fn note(&mut self, nz: usize, outputs: usize) {
        self.stats.sops += (nz * outputs) as u64;
        if self.record_events {
            self.stats.layer_events.push((nz, outputs));
        }
    }

    /// Stage 0's `down` output at timestep t, into `self.z`: from the stem's
    /// output of group t (the group itself without a stem). `record` counts
    /// the evaluation (forward only).
    fn down0(&mut self, eng: &Engine, t: usize, record: bool) {
        let model = eng.model;
        let repeat = model.input.grouping == Grouping::Repeat;
        if let (true, Some((z, nz))) = (repeat, &self.down0) {
            self.z.clone_from(z);
            if record {
                let nz = *nz;
                self.note(nz, model.stages[0].width);
            }
            return;
        }
        let g = group(model, &self.input, t);
        let (stage_in, stem_sops) = eng.run_stem(g, &mut self.sc);
        let nz = eng.stages[0]
            .down
            .eval(&stage_in, &mut self.sc, &mut self.z);
        if record {
            // With repeat this runs once, at t = 0: the stem's only evaluation.
            self.stats.sops += stem_sops;
            self.stats.stem_sops += stem_sops;
            self.note(nz, model.stages[0].width);
        }
        if repeat {
            self.down0 = Some((self.z.clone(), nz));
        }
    }

    /// z of stage l at timestep t, into `self.z`: `down` of stage l's input
    /// (`s[l-1]` for l > 0, which must hold `s_{l-1}(t)`), `up` of `s[l+1]`
    /// (which must hold `s_{l+1}(t-1)`), then the blocks.
    fn stage_z(&mut self, eng: &Engine, l: usize, t: usize, record: bool) {
        let model = eng.model;
        let k = &eng.stages[l];
        let st = &model.stages[l];
        let count = record;
        if l == 0 {
            self.down0(eng, t, count);
        } else {
            let nz = k.down.eval(&self.s[l - 1], &mut self.sc, &mut self.z);
            if count {
                self.note(nz, st.width);
            }
        }
        let is_last = l + 1 == model.stages.len();
        if !is_last && t > 0 {
            if let Some(up) = &k.up {
                let nz = up.eval_add(&self.s[l + 1], &mut self.sc, &mut self.z);
                if count {
                    self.note(nz, st.width);
                }
            }
        }
        for (b, bk) in st.blocks.iter().zip(&k.blocks) {
            spike_into(&b.spike, &self.z, &mut self.a);
            let nz = bk.eval_add(&self.a, &mut self.sc, &mut self.z);
            if count {
                self.note(nz, st.width);
            }
        }
    }

    fn step(&mut self, eng: &Engine) {
        let t = self.t;
        let model = eng.model;
        let s_count = model.stages.len();
        for (l, st) in model.stages.iter().enumerate() {
            // s[l+1] still holds s_{l+1}(t-1): stages above are not updated yet.
            self.stage_z(eng, l, t, true);
            let leak = &eng.stages[l].leak;
            let c = &mut self.c[l];
            if t > 0 {
                let base = self.buffer.len();
                self.buffer.resize(base + st.width, 0);
                leak.low_bits(c, &mut self.buffer[base..]);
                self.buffer_bits += leak.shift_sum;
            }
            self.stats.wraps += leak.update(&self.z, c);
            spike_into(&st.out_spike, &self.c[l], &mut self.s[l]);
            self.stats.spike_counts[l] += self.s[l].iter().filter(|&&x| x != 0).count() as u64;
        }
        let nz = eng
            .head
            .eval_head(&self.s[s_count - 1], &mut self.sc, &mut self.head_out);
        self.note(nz, model.classes);
        match model.readout {
            Readout::Last => self.logits.copy_from_slice(&self.head_out),
            Readout::Sum => {
                for (a, b) in self.logits.iter_mut().zip(&self.head_out) {
                    *a += b;
                }
            }
        }
        self.t += 1;
    }

    fn rewind(&mut self, eng: &Engine) -> Result<(), RewindError> {
        if self.t == 0 {
            return Err(RewindError::AtStart);
        }
        let t = self.t - 1; // the timestep being undone
        let model = eng.model;
        let s_count = model.stages.len();

        // Undo this timestep's contribution to the readout first, while s is
        // still the forward value.
        if model.readout == Readout::Sum {
            eng.head
                .eval_head(&self.s[s_count - 1], &mut self.sc, &mut self.head_out);
            for (a, b) in self.logits.iter_mut().zip(&self.head_out) {
                *a -= b;
            }
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

        for l in (0..s_count).rev() {
            let st = &model.stages[l];
            // s[l-1] is s_{l-1}(t) (not rewound yet); s[l+1] is s_{l+1}(t-1)
            // (just rewound). Stage 0's z comes from the stem output of group t.
            self.stage_z(eng, l, t, false);
            let c = &mut self.c[l];
            for ch in (0..st.width).rev() {
                let h = st.decay.shift[ch] as u32;
                // Length checked above.
                let low = self.buffer.pop().unwrap_or(0) as i64;
                self.buffer_bits -= h as usize;
                let d = wrap16(c[ch] as i64 - self.z[ch] as i64);
                let q = wrap16(st.decay.sign[ch] as i64 * d as i64);
                c[ch] = wrap16(((q as i64) << h) + low);
            }
            spike_into(&st.out_spike, &self.c[l], &mut self.s[l]);
        }
        if model.readout == Readout::Last {
            eng.head
                .eval_head(&self.s[s_count - 1], &mut self.sc, &mut self.head_out);
            self.logits.copy_from_slice(&self.head_out);
        }
        self.t = t;
        Ok(())
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
    /// Sum over layer evaluations of non-zero inputs * outputs (stem included).
    pub sops: u64,
    /// The stem's share of `sops`, see [`Stats::stem_sops`].
    pub stem_sops: u64,
    /// wrap16 overflows in the turn-on update.
    pub wraps: u64,
    /// c per stage after each timestep: `states[t][l][c]`.
    pub states: Vec<Vec<Vec<i16>>>,
    /// `(non-zero inputs, outputs)` per dense layer evaluation, see [`Stats::layer_events`].
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

fn run_all(mut m: Machine<'_>) -> Result<Inference, InputError> {
    let mut states = Vec::with_capacity(m.model().timesteps);
    while m.step() {
        states.push(m.state().to_vec());
    }
    let logits = m.logits().to_vec();
    let stats = std::mem::take(&mut m.st.stats);
    Ok(Inference {
        prediction: argmax(&logits),
        logits,
        spike_counts: stats.spike_counts,
        sops: stats.sops,
        stem_sops: stats.stem_sops,
        wraps: stats.wraps,
        states,
        layer_events: stats.layer_events,
    })
}

/// Runs all T timesteps of `model` on `input`. Prepares the model each call;
/// for many inputs build an [`Engine`] once and call [`Engine::infer`].
pub fn infer(model: &Model, input: &[u8]) -> Result<Inference, InputError> {
    Engine::new(model).infer(input)
}

/// The turn-on state after rewinding k = 1..=T timesteps from the end of a
/// forward pass: `rewound[k-1][l][c]` (the last is all zero), in the layout of
/// [`Inference::states`].
pub fn rewound_states(model: &Model, input: &[u8]) -> Result<Vec<Vec<Vec<i16>>>, InputError> {
    let mut m = Machine::new(model, input)?;
    while m.step() {}
    let mut out = Vec::with_capacity(model.timesteps);
    while m.rewind().is_ok() {
        out.push(m.state().to_vec());
    }
    Ok(out)
}

/// The forward pass written as plainly as SEMANTICS.md states it, from the
/// building blocks above ([`layer`], [`spike`], [`conv`], [`head`]), with no
/// preparation and no caching. Slow; it is the cross-check of [`Engine`] in
/// tests and the "before" figure of the bench.
pub fn infer_reference(model: &Model, input: &[u8]) -> Result<Inference, InputError> {
    check_input(model, input)?;
    let s_count = model.stages.len();
    let mut c: Vec<Vec<i16>> = model.stages.iter().map(|s| vec![0; s.width]).collect();
    let mut s: Vec<Vec<u8>> = model.stages.iter().map(|s| vec![0; s.width]).collect();
    let mut logits = vec![0i64; model.classes];
    let mut stats = Stats {
        spike_counts: vec![0; s_count],
        ..Stats::default()
    };
    let nonzero = |a: &[u8]| a.iter().filter(|&&x| x != 0).count();
    let mut states = Vec::with_capacity(model.timesteps);
    let maps = model.stem_maps();
    for t in 0..model.timesteps {
        let mut frame = group(model, input, t).to_vec();
        for (i, cv) in model.stem.iter().enumerate() {
            let [h, w, ci] = maps[i];
            // SOPs: nonzero inputs under the kernel at each output position.
            let [oh, ow, co] = maps[i + 1];
            let (k, st, p) = (cv.kernel as i64, cv.stride as i64, cv.padding as i64);
            let mut sops = 0u64;
            for y in 0..oh as i64 {
                for x in 0..ow as i64 {
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) = (y * st + ky - p, x * st + kx - p);
                            if iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64 {
                                let base = ((iy as usize) * w + ix as usize) * ci;
                                sops += (nonzero(&frame[base..base + ci]) * co) as u64;
                            }
                        }
                    }
                }
            }
            if t == 0 || model.input.grouping == Grouping::Split {
                stats.sops += sops;
                stats.stem_sops += sops;
            }
            frame = match conv(cv, &frame, [h, w, ci]) {
                Some((out, _)) => out,
                None => Vec::new(),
            };
        }
        let prev_s = s.clone();
        for (l, st) in model.stages.iter().enumerate() {
            let inp: &[u8] = if l == 0 { &frame } else { &s[l - 1] };
            stats.sops += (nonzero(inp) * st.width) as u64;
            stats.layer_events.push((nonzero(inp), st.width));
            let mut z = layer(&st.down, inp);
            if let (Some(up), true) = (&st.up, t > 0) {
                let a = &prev_s[l + 1];
                stats.sops += (nonzero(a) * st.width) as u64;
                stats.layer_events.push((nonzero(a), st.width));
                for (zc, u) in z.iter_mut().zip(layer(up, a)) {
                    *zc = sat16(*zc as i64 + u as i64);
                }
            }
            for b in &st.blocks {
                let a = spike(&b.spike, &z);
                stats.sops += (nonzero(&a) * st.width) as u64;
                stats.layer_events.push((nonzero(&a), st.width));
                for (zc, y) in z.iter_mut().zip(layer(&b.layer, &a)) {
                    *zc = sat16(*zc as i64 + y as i64);
                }
            }
            for ch in 0..st.width {
                let h = st.decay.shift[ch] as u32;
                let exact = z[ch] as i64 + st.decay.sign[ch] as i64 * (c[l][ch] as i64 >> h);
                if exact != wrap16(exact) as i64 {
                    stats.wraps += 1;
                }
                c[l][ch] = wrap16(exact);
            }
            s[l] = spike(&st.out_spike, &c[l]);
            stats.spike_counts[l] += nonzero(&s[l]) as u64;
        }
        let top = &s[s_count - 1];
        stats.sops += (nonzero(top) * model.classes) as u64;
        stats.layer_events.push((nonzero(top), model.classes));
        let lt = head(&model.head, top);
        match model.readout {
            Readout::Last => logits = lt,
            Readout::Sum => logits.iter_mut().zip(lt).for_each(|(a, b)| *a += b),
        }
        states.push(c.clone());
    }
    Ok(Inference {
        prediction: argmax(&logits),
        logits,
        spike_counts: stats.spike_counts,
        sops: stats.sops,
        stem_sops: stats.stem_sops,
        wraps: stats.wraps,
        states,
        layer_events: stats.layer_events,
    })
}
