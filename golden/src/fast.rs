//! Layers prepared for fast, bit-exact evaluation.
//!
//! A binary layer's accumulator is `acc[o] = sum_i W[o][i] * a[i]
//! = 2 * sum_{W[o][i]=+1} a[i] - sum_i a[i]` (the gated-add identity the
//! hardware uses). Here the weights are stored transposed, one u16 mask per
//! (input, output) — 0xffff for +1, 0 for -1 — with the outputs of an input
//! contiguous and padded to [`LANES`]. A nonzero input `x` then adds `x & mask`
//! to every output's plus-sum in one loop over contiguous bytes, which the
//! compiler turns into SIMD; zero inputs cost nothing. The plus-sums are kept
//! in u16 lanes and folded into u32 every 256 inputs (256 * 255 < 2^16), so the
//! result is exact.

use crate::model::{Conv, Layer, Spike};

/// Outputs are padded to a multiple of this (32 bytes: one AVX2 register).
pub const LANES: usize = 32;

/// Inputs summed in u16 lanes before they are folded into u32.
const FOLD: u32 = 256;

/// Scratch space shared by all layers of a model, sized for its widest layer.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    plus: Vec<u32>,
    acc: Vec<i32>,
    pairs: Vec<(u32, u8)>,
}

impl Scratch {
    pub fn new(max_padded_outputs: usize) -> Scratch {
        Scratch {
            plus: vec![0; max_padded_outputs],
            acc: vec![0; max_padded_outputs],
            pairs: Vec::new(),
        }
    }
}

/// A dense layer (or a conv layer's weights as one) prepared for [`Dense::acc`].
#[derive(Debug, Clone)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    /// `outputs` rounded up to [`LANES`].
    pub padded: usize,
    /// `masks[i * padded + o]` = 0xffff when W[o][i] = +1.
    masks: Vec<u16>,
    multiplier: Vec<i32>,
    bias: Vec<i32>,
    shift: u32,
}

impl Dense {
    pub fn new(l: &Layer) -> Dense {
        let padded = l.outputs.div_ceil(LANES).max(1) * LANES;
        let mut masks = vec![0u16; l.inputs * padded];
        for (o, row) in l.weights.iter().enumerate() {
            for (b, &byte) in row.iter().enumerate() {
                let mut bits = byte;
                while bits != 0 {
                    let j = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let i = 8 * b + j;
                    if i < l.inputs {
                        masks[i * padded + o] = 0xffff;
                    }
                }
            }
        }
        Dense {
            inputs: l.inputs,
            outputs: l.outputs,
            padded,
            masks,
            multiplier: l.multiplier.iter().map(|&m| m as i32).collect(),
            bias: l.bias.clone(),
            shift: l.shift as u32,
        }
    }

    /// `y[o] = (acc[o] * M[o] + B[o]) >>> R` for the nonzero `(input index,
    /// value)` pairs, into `sc.acc`. Exact in i32: |acc| <= 1024 * 255, so
    /// |acc * M + B| < 2^26 + 2^24.
    #[inline]
    fn affine_pairs(&self, pairs: &[(u32, u8)], sc: &mut Scratch) {
        let p = self.padded;
        let plus = &mut sc.plus[..p];
        let total = gated_sums(&self.masks, p, pairs, plus) as i32;
        let m = self.outputs;
        let r = self.shift;
        for (((y, &s), &mu), &b) in sc.acc[..m]
            .iter_mut()
            .zip(&plus[..m])
            .zip(&self.multiplier)
            .zip(&self.bias)
        {
            *y = ((2 * s as i32 - total) * mu + b) >> r;
        }
    }

    /// [`Dense::affine_pairs`] of a dense input vector; returns the nonzero inputs.
    #[inline]
    fn affine_dense(&self, a: &[u8], sc: &mut Scratch) -> usize {
        debug_assert_eq!(a.len(), self.inputs);
        let mut pairs = std::mem::take(&mut sc.pairs);
        let nz = nonzero_pairs(a, &mut pairs);
        self.affine_pairs(&pairs[..nz], sc);
        sc.pairs = pairs;
        nz
    }

    /// `out = layer(a)` (saturated); returns the nonzero inputs.
    pub fn eval(&self, a: &[u8], sc: &mut Scratch, out: &mut Vec<i16>) -> usize {
        let nz = self.affine_dense(a, sc);
        out.resize(self.outputs, 0);
        for (z, &y) in out.iter_mut().zip(&sc.acc[..self.outputs]) {
            *z = y.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
        nz
    }

    /// `z = sat16(z + layer(a))`; returns the nonzero inputs.
    pub fn eval_add(&self, a: &[u8], sc: &mut Scratch, z: &mut [i16]) -> usize {
        let nz = self.affine_dense(a, sc);
        for (z, &y) in z.iter_mut().zip(&sc.acc[..self.outputs]) {
            let y = y.clamp(i16::MIN as i32, i16::MAX as i32);
            *z = (*z as i32 + y).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
        nz
    }

    /// The head's unsaturated `(acc * M + B) >>> R`, into `out`; returns the nonzero inputs.
    pub fn eval_head(&self, a: &[u8], sc: &mut Scratch, out: &mut [i64]) -> usize {
        let nz = self.affine_dense(a, sc);
        for (o, &y) in out.iter_mut().zip(&sc.acc[..self.outputs]) {
            *o = y as i64;
        }
        nz
    }
}

/// Writes the nonzero entries of `a` as `(index, value)` to the front of
/// `pairs` and returns their count. Branch-free: every entry is written and
/// the count advances only past nonzero ones (spikes are too irregular for a
/// branch predictor).
#[inline]
pub fn nonzero_pairs(a: &[u8], pairs: &mut Vec<(u32, u8)>) -> usize {
    if pairs.len() <= a.len() {
        pairs.resize(a.len() + 1, (0, 0));
    }
    let buf = &mut pairs[..=a.len()];
    let mut n = 0;
    for (i, &x) in a.iter().enumerate() {
        buf[n] = (i as u32, x);
        n += (x != 0) as usize;
    }
    n
}

/// Plus-sums `plus[o] = sum over pairs (i, x) of x & masks[i*p + o]`; returns `sum x`.
#[inline]
fn gated_sums(masks: &[u16], p: usize, pairs: &[(u32, u8)], plus: &mut [u32]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { gated_sums_avx2(masks, p, pairs, plus) };
        }
    }
    gated_sums_generic::<64>(masks, p, pairs, plus)
}

/// The same loops compiled for AVX2: 16 u16 lanes per instruction, and a
/// block of 128 outputs held in eight registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gated_sums_avx2(masks: &[u16], p: usize, pairs: &[(u32, u8)], plus: &mut [u32]) -> u32 {
    gated_sums_generic::<128>(masks, p, pairs, plus)
}

/// Outputs in blocks of `B` (then of [`LANES`] for the rest), so a block's
/// plus-sums stay in registers while all the inputs stream past.
#[inline(always)]
fn gated_sums_generic<const B: usize>(
    masks: &[u16],
    p: usize,
    pairs: &[(u32, u8)],
    plus: &mut [u32],
) -> u32 {
    let mut o = 0;
    while o + B <= p {
        gated_block::<B>(masks, p, o, pairs, plus);
        o += B;
    }
    while o < p {
        gated_block::<LANES>(masks, p, o, pairs, plus);
        o += LANES;
    }
    pairs.iter().map(|&(_, x)| x as u32).sum()
}

#[inline(always)]
fn gated_block<const B: usize>(
    masks: &[u16],
    p: usize,
    o: usize,
    pairs: &[(u32, u8)],
    plus: &mut [u32],
) {
    let out: &mut [u32; B] = match (&mut plus[o..o + B]).try_into() {
        Ok(out) => out,
        Err(_) => return, // unreachable: the slice has B entries
    };
    *out = [0; B];
    for chunk in pairs.chunks(FOLD as usize) {
        let mut acc = [0u16; B];
        for &(i, x) in chunk {
            let x = x as u16;
            let start = i as usize * p + o;
            let Ok(row) = <&[u16; B]>::try_from(&masks[start..start + B]) else {
                continue; // unreachable: the slice has B entries
            };
            for j in 0..B {
                acc[j] = acc[j].wrapping_add(row[j] & x);
            }
        }
        for j in 0..B {
            out[j] += acc[j] as u32;
        }
    }
}

/// `spike(U)` into `out`, branch-free so that it vectorizes.
#[inline]
pub fn spike_into(sp: &Spike, u: &[i16], out: &mut Vec<u8>) {
    out.resize(u.len(), 0);
    let k = sp.shift as u32;
    for ((o, &x), &th) in out.iter_mut().zip(u).zip(&sp.threshold) {
        let v = (x >> k).clamp(0, 255) as u8;
        *o = if x > th { v } else { 0 };
    }
}

/// A stage's turn-on leak prepared for the update loop: per channel
/// `sigma`, `h` and the mask of the `h` bits `>>> h` drops.
#[derive(Debug, Clone)]
pub struct Leak {
    sign: Vec<i32>,
    shift: Vec<i32>,
    low_mask: Vec<i32>,
    /// sum of h: the bits one timestep pushes to the reversible state buffer.
    pub shift_sum: usize,
}

impl Leak {
    pub fn new(sign: &[i8], shift: &[u8]) -> Leak {
        Leak {
            sign: sign.iter().map(|&s| s as i32).collect(),
            shift: shift.iter().map(|&h| h as i32).collect(),
            low_mask: shift.iter().map(|&h| (1i32 << h) - 1).collect(),
            shift_sum: shift.iter().map(|&h| h as usize).sum(),
        }
    }

    /// The low h bits of each `c[ch]`, which `>>> h` is about to drop.
    #[inline]
    pub fn low_bits(&self, c: &[i16], out: &mut [u16]) {
        for ((o, &x), &m) in out.iter_mut().zip(c).zip(&self.low_mask) {
            *o = (x as i32 & m) as u16;
        }
    }

    /// `c = wrap16(z + sigma * (c >>> h))`; returns how many wrapped.
    #[inline]
    pub fn update(&self, z: &[i16], c: &mut [i16]) -> u64 {
        let mut wraps = 0u32;
        for (((c, &z), &sg), &h) in c.iter_mut().zip(z).zip(&self.sign).zip(&self.shift) {
            let exact = z as i32 + sg * ((*c as i32) >> h);
            wraps += (exact != exact as i16 as i32) as u32;
            *c = exact as i16;
        }
        wraps as u64
    }
}

/// A stem layer prepared for fast evaluation on a map of a fixed size.
#[derive(Debug, Clone)]
pub struct ConvK {
    pub dense: Dense,
    /// `[H, W, Ci]` of the input map.
    pub input: [usize; 3],
    /// `[H', W', Co]` of the output map.
    pub output: [usize; 3],
    kernel: usize,
    stride: usize,
    padding: usize,
    spike: Spike,
}

impl ConvK {
    pub fn new(c: &Conv, input: [usize; 3]) -> ConvK {
        let output = c.out_map(input).unwrap_or([0, 0, c.out_channels]);
        ConvK {
            dense: Dense::new(&c.layer),
            input,
            output,
            kernel: c.kernel,
            stride: c.stride,
            padding: c.padding,
            spike: c.spike.clone(),
        }
    }

    /// The layer's output map (spikes) of `map`, into `out`; returns the
    /// synaptic operations (nonzero patch inputs times out_channels, summed
    /// over output positions).
    pub fn eval(&self, map: &[u8], sc: &mut Scratch, out: &mut Vec<u8>) -> u64 {
        let [h, w, ci] = self.input;
        let [oh, ow, co] = self.output;
        debug_assert_eq!(map.len(), h * w * ci);
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        out.resize(oh * ow * co, 0);
        let mut sops = 0u64;
        let mut pairs = std::mem::take(&mut sc.pairs);
        let fan_in = k * k * ci;
        if pairs.len() <= fan_in {
            pairs.resize(fan_in + 1, (0, 0));
        }
        // Kernel rows (or columns) that fall inside the map at output y (or x):
        // input row y*s + ky - p must be in 0..h.
        let range = |o: usize, side: usize| {
            let lo = p.saturating_sub(o * s);
            let hi = (side + p).saturating_sub(o * s).min(k);
            (lo, hi.max(lo))
        };
        let th = &self.spike.threshold;
        let sk = self.spike.shift as u32;
        for oy in 0..oh {
            let (ky_lo, ky_hi) = range(oy, h);
            for ox in 0..ow {
                let (kx_lo, kx_hi) = range(ox, w);
                let run = (kx_hi - kx_lo) * ci;
                let buf = &mut pairs[..=fan_in];
                let mut n = 0;
                for ky in ky_lo..ky_hi {
                    // Kernel columns kx_lo..kx_hi of this row read one contiguous
                    // run of the map, against consecutive weight indices.
                    let iy = oy * s + ky - p;
                    let ix = ox * s + kx_lo - p;
                    let base = (iy * w + ix) * ci;
                    let widx = (ky * k + kx_lo) * ci;
                    for (j, &v) in map[base..base + run].iter().enumerate() {
                        buf[n] = ((widx + j) as u32, v);
                        n += (v != 0) as usize;
                    }
                }
                sops += (n * co) as u64;
                self.dense.affine_pairs(&pairs[..n], sc);
                let pos = (oy * ow + ox) * co;
                for ((o, &y), &t) in out[pos..pos + co].iter_mut().zip(&sc.acc[..co]).zip(th) {
                    let u = y.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                    let v = (u >> sk).clamp(0, 255) as u8;
                    *o = if u > t { v } else { 0 };
                }
            }
        }
        sc.pairs = pairs;
        sops
    }
}
