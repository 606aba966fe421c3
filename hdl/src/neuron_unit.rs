//! The neuron unit: everything that happens once per neuron, one channel per cycle.
//!
//! It turns a lane's gated sum into the layer output and applies the stage's arithmetic:
//! `full = 2*S+ - sum(x)`, `y = (full*M + B) >>> R`, then either the first layer of a
//! stage (`z = sat16(y)`), a residual layer (`z = sat16(z + sat16(y))`) or the head
//! (`logit (+)= y`, exact). A post operation follows: a turn-off spike for the next
//! block, or the turn-on update `c = wrap16(z + sigma*(c >>> h))` (or its exact inverse
//! when rewinding), then the stage's output spike.
//!
//! The per-channel multiply by the 8-bit `M` runs once per neuron, never per synapse.
//! `M` is recoded into four radix-4 digits as the parameter row arrives: the low three
//! from {-1, 0, 1, 2}, the top one from {-2, ..., 2}. A digit from {-1, 0, 1, 2} picks
//! its partial product's bit out of two bits of `full` with one LUT (0, `full`,
//! `2*full` or `!full`, the missing +1 of the negation placed in a bit that another
//! partial product leaves free), so stage 2 is four partial products summed in pairs
//! (one adder level) where the plain shift-add had eight in a two-level tree: about
//! 170 fewer LUTs on the HX8K, and a shorter stage.
//!
//! Timing: inputs `valid/ch/sp` are taken at cycle d and the channel's parameter row at
//! cycle d+1. The state the channel combines with (`z_in`, `c_in`, `low_in`,
//! `logit_in`) is read late: the unit puts the channel on `late_ch` at cycle d+4 and
//! registers the words at d+5, so they are not carried down the whole pipe (registers
//! are the scarce resource on an HX8K) yet stage 6's adds start at flip-flops rather
//! than at a block RAM's output. The state-buffer bits a rewind needs are read later
//! still (`pop_ch` at d+6, taken at d+7), right before stage 8 uses them. The new z,
//! the logit and the state-buffer bits to push leave at cycle d+7 (`early_*`), as
//! soon as they are known; the membrane and the spike at d+LATENCY (`out_*`).

use rust_hdl::prelude::*;

use crate::contract_constants::offset;

use revspike_proto::contract::param;

use crate::pe_lane::ACC_BITS;

pub const LATENCY: usize = 10;

// The parameter row is unpacked by its fields in `revspike_proto::contract::param`,
// through `Constant` offsets (a `#[hdl_gen]` kernel cannot name a Rust constant).
// Field widths for the kernel (a turbofish cannot take a braced expression there).
const B_W: usize = param::B.width;
const H_W: usize = param::H.width;
const M_W: usize = param::M.width;
const THRESHOLD_W: usize = param::THRESHOLD.width;

#[derive(LogicBlock)]
pub struct NeuronUnit {
    pub clock: Signal<In, Clock>,
    // Per-layer settings, stable for the whole drain.
    pub sum_x: Signal<In, Bits<ACC_BITS>>,
    /// The first layer of a stage (`Kind::First`): z = sat16(y).
    pub first: Signal<In, bool>,
    /// `Post::Spike`: the spike looks at z.
    pub post_spike: Signal<In, bool>,
    /// `Post::Rewind`: the inverse turn-on update.
    pub post_rewind: Signal<In, bool>,
    pub shift_r: Signal<In, Bits<5>>,
    pub spike_k: Signal<In, Bits<4>>,
    /// The layer contributes nothing (an up-connection at t = 0).
    pub mask_y: Signal<In, bool>,
    /// The previous membrane is the zero initial state (t = 0).
    pub zero_c: Signal<In, bool>,
    /// Head: add to the logit instead of replacing it.
    pub accumulate: Signal<In, bool>,
    // Per channel, cycle d.
    pub valid: Signal<In, bool>,
    pub ch: Signal<In, Bits<8>>,
    pub sp: Signal<In, Bits<ACC_BITS>>,
    // Per channel, cycle d+1.
    pub param: Signal<In, Bits<64>>,
    /// The channel whose state words are wanted next cycle (memory read address).
    pub late_ch: Signal<Out, Bits<8>>,
    /// The channel whose state-buffer bits are wanted next cycle.
    pub pop_ch: Signal<Out, Bits<8>>,
    // Per channel, cycle d+5.
    pub z_in: Signal<In, Bits<16>>,
    pub c_in: Signal<In, Bits<16>>,
    pub logit_in: Signal<In, Bits<32>>,
    // Per channel, cycle d+7.
    pub low_in: Signal<In, Bits<16>>,
    // Results.
    /// z, the logit and the state-buffer bits (the `h` low bits of the old membrane)
    /// are final at cycle d+7 and are written from there.
    pub early_valid: Signal<Out, bool>,
    pub early_ch: Signal<Out, Bits<8>>,
    pub z_out: Signal<Out, Bits<16>>,
    pub logit_out: Signal<Out, Bits<32>>,
    pub low_out: Signal<Out, Bits<16>>,
    /// The new membrane and the spike, at cycle d+LATENCY.
    pub out_valid: Signal<Out, bool>,
    pub out_ch: Signal<Out, Bits<8>>,
    pub c_out: Signal<Out, Bits<16>>,
    pub spike_out: Signal<Out, Bits<8>>,
    /// Any stage still holds a channel.
    pub pending: Signal<Out, bool>,
    /// The threshold's way from stage 1 to stage 9 goes through a block RAM's spare
    /// words rather than 128 flip-flops: `thr_early` (the parameter row's field, cycle
    /// d+1) is written at ring slot `thr_waddr` every cycle, and slot `thr_raddr` is
    /// read for `thr_late` (cycle d+8, the memory's output; registered for stage 9). The
    /// core gives the ring the logits memory's ports outside the head layer, which has
    /// no spike.
    pub thr_early: Signal<Out, Bits<16>>,
    pub thr_waddr: Signal<Out, Bits<3>>,
    pub thr_raddr: Signal<Out, Bits<3>>,
    pub thr_late: Signal<In, Bits<16>>,
    thr_ptr: DFF<Bits<3>>,
    thr_r: DFF<Bits<16>>,

    // Stage 0: channel identity, waiting one cycle for the memories.
    s0_valid: DFF<bool>,
    s0_ch: DFF<Bits<8>>,
    s0_sp: DFF<Bits<ACC_BITS>>,
    // Channel identity and carried operands along the pipe (index = stage).
    v: [DFF<bool>; LATENCY],
    chn: [DFF<Bits<8>>; LATENCY],
    // Stage 1.
    s1_full: DFF<Bits<24>>,
    // M's digits: the low three as codes (0: zero, 1: full, 2: 2*full, 3: -full), the
    // top one as a signed value in -2..=2.
    s1_d0: DFF<Bits<2>>,
    s1_d1: DFF<Bits<2>>,
    s1_d2: DFF<Bits<2>>,
    s1_d3: DFF<Bits<3>>,
    s1_b: DFF<Bits<28>>,
    // Stage 2: digits 0 + 1 and 2 + 3, and the bias (with the top digit's +1).
    s2_lo: DFF<Bits<28>>,
    s2_hi: DFF<Bits<28>>,
    s2_b: DFF<Bits<28>>,
    // Digit 1's +1 (weight 4), placed by stage 3 in the low bits `s2_hi << 4` leaves free.
    s2_n1: DFF<bool>,
    // Stage 3..4: product plus bias, shifted.
    s3_v: DFF<Bits<28>>,
    s4_y: DFF<Bits<28>>,
    // Stage 5: saturated output.
    s5_y16: DFF<Bits<16>>,
    s5_y32: DFF<Bits<32>>,
    // Stage 6: new z and logit, shifted old membrane.
    s6_z: DFF<Bits<16>>,
    s6_logit: DFF<Bits<32>>,
    s6_cs: DFF<Bits<16>>,
    // Stage 6's sign fill for the arithmetic shift, made from the shift amount a stage
    // early: the state word arrives late (just-in-time read) and only shifts.
    fill5: DFF<Bits<16>>,
    // Stage 7: forward update and the difference for the inverse.
    s7_fwd: DFF<Bits<16>>,
    s7_diff: DFF<Bits<16>>,
    // Stage 8: the new membrane, which is also the value the post spike looks at.
    s8_c: DFF<Bits<16>>,
    // Any stage holds a channel (see `pending`).
    pend_r: DFF<bool>,
    pend_w: Signal<Local, bool>,
    // Stage 9: outputs.
    s9_s: DFF<Bits<8>>,
    s9_c: DFF<Bits<16>>,
    // z and the logit as read for the channel in stage 3 (see `late_ch`).
    z_r: DFF<Bits<16>>,
    logit_r: DFF<Bits<32>>,
    // Operands carried unchanged from stage 1 to the end, per stage.
    neg: [DFF<bool>; LATENCY],
    hh: [DFF<Bits<4>>; LATENCY],
    cold: [DFF<Bits<16>>; LATENCY],
    low: [DFF<Bits<16>>; LATENCY],
    // Combinational helpers.
    full20: Signal<Local, Bits<20>>,
    fx: Signal<Local, Bits<28>>,
    lo_acc: Signal<Local, Bits<28>>,
    // M's recoding: the carry into digits 1, 2 and 3, and the top pair sign-extended.
    m8: Signal<Local, Bits<8>>,
    c1: Signal<Local, bool>,
    c2: Signal<Local, bool>,
    c3: Signal<Local, bool>,
    t3: Signal<Local, Bits<3>>,
    // The four partial products (digit i weighs 4^i) and their negations' +1s.
    pp0: Signal<Local, Bits<28>>,
    pp1: Signal<Local, Bits<28>>,
    pp2: Signal<Local, Bits<28>>,
    pp3: Signal<Local, Bits<28>>,
    mag3: Signal<Local, Bits<28>>,
    n0: Signal<Local, Bits<28>>,
    n1: Signal<Local, Bits<28>>,
    n2: Signal<Local, Bits<28>>,
    n3: Signal<Local, Bits<28>>,
    hi_acc: Signal<Local, Bits<28>>,
    z6: Signal<Local, Bits<16>>,
    l6: Signal<Local, Bits<32>>,
    y_shr: Signal<Local, Bits<28>>,
    sum17: Signal<Local, Bits<17>>,
    cs_shr: Signal<Local, Bits<16>>,
    q: Signal<Local, Bits<16>>,
    c_now: Signal<Local, Bits<16>>,
    s_shr: Signal<Local, Bits<16>>,
    // The h-bit mask of the state-buffer word, made a stage early from h: the word goes
    // straight to a block RAM's write port, with no shifter in front of it.
    hmask: DFF<Bits<16>>,
    ones28: Constant<Bits<28>>,
    ones16: Constant<Bits<16>>,
    // Parameter-row field offsets (revspike_proto::contract::param).
    o_m: Constant<Bits<8>>,
    o_b: Constant<Bits<8>>,
    o_b_sign: Constant<Bits<8>>,
    o_thr: Constant<Bits<8>>,
    o_neg: Constant<Bits<8>>,
    o_h: Constant<Bits<8>>,
}

impl Default for NeuronUnit {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            sum_x: Default::default(),
            first: Default::default(),
            post_spike: Default::default(),
            post_rewind: Default::default(),
            shift_r: Default::default(),
            spike_k: Default::default(),
            mask_y: Default::default(),
            zero_c: Default::default(),
            accumulate: Default::default(),
            valid: Default::default(),
            ch: Default::default(),
            sp: Default::default(),
            param: Default::default(),
            z_in: Default::default(),
            c_in: Default::default(),
            low_in: Default::default(),
            logit_in: Default::default(),
            late_ch: Default::default(),
            pop_ch: Default::default(),
            early_valid: Default::default(),
            early_ch: Default::default(),
            out_valid: Default::default(),
            out_ch: Default::default(),
            z_out: Default::default(),
            c_out: Default::default(),
            low_out: Default::default(),
            spike_out: Default::default(),
            logit_out: Default::default(),
            pending: Default::default(),
            s0_valid: Default::default(),
            s0_ch: Default::default(),
            s0_sp: Default::default(),
            v: array_init::array_init(|_| Default::default()),
            chn: array_init::array_init(|_| Default::default()),
            s1_full: Default::default(),
            s1_d0: Default::default(),
            s1_d1: Default::default(),
            s1_d2: Default::default(),
            s1_d3: Default::default(),
            s1_b: Default::default(),
            s2_lo: Default::default(),
            s2_hi: Default::default(),
            s2_b: Default::default(),
            s2_n1: Default::default(),
            s3_v: Default::default(),
            s4_y: Default::default(),
            s5_y16: Default::default(),
            s5_y32: Default::default(),
            s6_z: Default::default(),
            s6_logit: Default::default(),
            s6_cs: Default::default(),
            fill5: Default::default(),
            s7_fwd: Default::default(),
            s7_diff: Default::default(),
            s8_c: Default::default(),
            s9_s: Default::default(),
            s9_c: Default::default(),
            z_r: Default::default(),
            logit_r: Default::default(),
            pend_r: Default::default(),
            pend_w: Default::default(),
            thr_early: Default::default(),
            thr_waddr: Default::default(),
            thr_raddr: Default::default(),
            thr_late: Default::default(),
            thr_ptr: Default::default(),
            thr_r: Default::default(),
            neg: array_init::array_init(|_| Default::default()),
            hh: array_init::array_init(|_| Default::default()),
            cold: array_init::array_init(|_| Default::default()),
            low: array_init::array_init(|_| Default::default()),
            full20: Default::default(),
            fx: Default::default(),
            lo_acc: Default::default(),
            pp0: Default::default(),
            pp1: Default::default(),
            pp2: Default::default(),
            pp3: Default::default(),
            mag3: Default::default(),
            n0: Default::default(),
            n1: Default::default(),
            n2: Default::default(),
            n3: Default::default(),
            m8: Default::default(),
            c1: Default::default(),
            c2: Default::default(),
            c3: Default::default(),
            t3: Default::default(),
            hi_acc: Default::default(),
            z6: Default::default(),
            l6: Default::default(),
            y_shr: Default::default(),
            sum17: Default::default(),
            cs_shr: Default::default(),
            q: Default::default(),
            c_now: Default::default(),
            s_shr: Default::default(),
            hmask: Default::default(),
            ones28: Constant::new(Bits::<28>::mask()),
            ones16: Constant::new(Bits::<16>::mask()),
            o_m: offset(param::M),
            o_b: offset(param::B),
            o_b_sign: Constant::new(((param::B.end() - 1) as u64).into()),
            o_thr: offset(param::THRESHOLD),
            o_neg: offset(param::NEGATIVE_LEAK),
            o_h: offset(param::H),
        }
    }
}

impl Logic for NeuronUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, s0_valid, s0_ch, s0_sp, s1_full, s1_d0, s1_d1, s1_d2, s1_d3, s1_b, s2_lo,
            s2_hi, s2_b, s2_n1, s3_v, s4_y, s5_y16, s5_y32, s6_z, s6_logit, s6_cs, fill5, s7_fwd,
            s7_diff, s8_c, s9_s, s9_c, z_r, logit_r, pend_r, hmask, thr_ptr, thr_r
        );
        // Written at d+1 into slot p, read at d+7 from slot p: 6 cycles on, the pointer
        // is p + 6 = p - 2 (mod 8), so the read slot is the pointer plus two. The word
        // comes out at d+8 and is registered for stage 9's compare, which then starts
        // at flip-flops on both sides rather than at a block RAM's output.
        self.thr_ptr.d.next = self.thr_ptr.q.val() + 1;
        self.thr_waddr.next = self.thr_ptr.q.val();
        self.thr_raddr.next = self.thr_ptr.q.val() + 2;
        self.thr_r.d.next = self.thr_late.val();
        for i in 0..LATENCY {
            self.v[i].clock.next = self.clock.val();
            self.chn[i].clock.next = self.clock.val();
            self.neg[i].clock.next = self.clock.val();
            self.hh[i].clock.next = self.clock.val();
            self.cold[i].clock.next = self.clock.val();
            self.low[i].clock.next = self.clock.val();
        }
        // The carried operands shift one stage per cycle.
        for i in 1..LATENCY {
            self.v[i].d.next = self.v[i - 1].q.val();
            self.chn[i].d.next = self.chn[i - 1].q.val();
            self.neg[i].d.next = self.neg[i - 1].q.val();
            self.hh[i].d.next = self.hh[i - 1].q.val();
            self.cold[i].d.next = self.cold[i - 1].q.val();
            self.low[i].d.next = self.low[i - 1].q.val();
        }

        // Stage 0: remember which channel the memories are answering for.
        self.s0_valid.d.next = self.valid.val();
        self.s0_ch.d.next = self.ch.val();
        self.s0_sp.d.next = self.sp.val();

        // Stage 1: full = 2*S+ - sum(x), and unpack the parameter row.
        self.full20.next = (bit_cast::<20, ACC_BITS>(self.s0_sp.q.val()) << 1)
            - bit_cast::<20, ACC_BITS>(self.sum_x.val());
        if self.full20.val().get_bit(19) {
            self.s1_full.d.next = bit_cast::<24, 20>(self.full20.val()) | 0xF0_0000;
        } else {
            self.s1_full.d.next = bit_cast::<24, 20>(self.full20.val());
        }
        // M = u0 + 4*u1 + 16*u2 + 64*t3 (u unsigned bit pairs, t3 the signed top pair).
        // A low digit's pair plus the carry from below, in 0..=4, becomes the digit (0,
        // 1, 2), or that minus 4 (-1, 0) with a carry up: its code is the sum's low two
        // bits. The carries are plain logic of M's bits (no carry chain: they sit right
        // behind the row memory's output).
        self.m8.next = self.param.val().get_bits::<M_W>(self.o_m.val().index());
        self.c1.next = self.m8.val().get_bit(1) & self.m8.val().get_bit(0);
        self.c2.next = self.m8.val().get_bit(3) & (self.m8.val().get_bit(2) | self.c1.val());
        self.c3.next = self.m8.val().get_bit(5) & (self.m8.val().get_bit(4) | self.c2.val());
        self.s1_d0.d.next = self.m8.val().get_bits::<2>(0);
        if self.c1.val() {
            self.s1_d1.d.next = self.m8.val().get_bits::<2>(2) + 1;
        } else {
            self.s1_d1.d.next = self.m8.val().get_bits::<2>(2);
        }
        if self.c2.val() {
            self.s1_d2.d.next = self.m8.val().get_bits::<2>(4) + 1;
        } else {
            self.s1_d2.d.next = self.m8.val().get_bits::<2>(4);
        }
        if self.m8.val().get_bit(7) {
            self.t3.next = bit_cast::<3, 2>(self.m8.val().get_bits::<2>(6)) | 4;
        } else {
            self.t3.next = bit_cast::<3, 2>(self.m8.val().get_bits::<2>(6));
        }
        if self.c3.val() {
            self.s1_d3.d.next = self.t3.val() + 1;
        } else {
            self.s1_d3.d.next = self.t3.val();
        }
        if self.param.val().get_bit(self.o_b_sign.val().index()) {
            self.s1_b.d.next =
                bit_cast::<28, B_W>(self.param.val().get_bits::<B_W>(self.o_b.val().index()))
                    | 0xC00_0000;
        } else {
            self.s1_b.d.next =
                bit_cast::<28, B_W>(self.param.val().get_bits::<B_W>(self.o_b.val().index()));
        }
        self.v[0].d.next = self.s0_valid.q.val();
        self.chn[0].d.next = self.s0_ch.q.val();
        self.thr_early.next = self
            .param
            .val()
            .get_bits::<THRESHOLD_W>(self.o_thr.val().index());
        self.neg[0].d.next = self.param.val().get_bit(self.o_neg.val().index());
        self.hh[0].d.next = self.param.val().get_bits::<H_W>(self.o_h.val().index());
        // The membrane joins at stage 4 (`late_ch`), the state-buffer bits at stage 6
        // (`pop_ch`); the slots before them carry nothing.
        self.cold[0].d.next = 0.into();
        self.low[0].d.next = 0.into();

        // Stage 2: full * M as four radix-4 partial products, summed in pairs. A negative
        // digit's product is taken as !x, and its +1 (at the digit's weight) goes into a
        // low bit that a partial product shifted further up leaves zero: digit 0's into
        // bit 0 of `pp1 << 2`, digit 2's into bit 0 of `pp3 << 2`, digit 1's into bit 2 of
        // `s2_hi << 4` at stage 3. Digit 3's (weight 64) has no such bit and is added to
        // the bias.
        if self.s1_full.q.val().get_bit(23) {
            self.fx.next = bit_cast::<28, 24>(self.s1_full.q.val()) | 0xF00_0000;
        } else {
            self.fx.next = bit_cast::<28, 24>(self.s1_full.q.val());
        }
        self.pp0.next = 0.into();
        if self.s1_d0.q.val() == 1 {
            self.pp0.next = self.fx.val();
        } else if self.s1_d0.q.val() == 2 {
            self.pp0.next = self.fx.val() << 1;
        } else if self.s1_d0.q.val() == 3 {
            self.pp0.next = !self.fx.val();
        }
        self.pp1.next = 0.into();
        if self.s1_d1.q.val() == 1 {
            self.pp1.next = self.fx.val();
        } else if self.s1_d1.q.val() == 2 {
            self.pp1.next = self.fx.val() << 1;
        } else if self.s1_d1.q.val() == 3 {
            self.pp1.next = !self.fx.val();
        }
        self.pp2.next = 0.into();
        if self.s1_d2.q.val() == 1 {
            self.pp2.next = self.fx.val();
        } else if self.s1_d2.q.val() == 2 {
            self.pp2.next = self.fx.val() << 1;
        } else if self.s1_d2.q.val() == 3 {
            self.pp2.next = !self.fx.val();
        }
        // The top digit: 1 or -1 (odd), 2 or -2, or 0.
        self.mag3.next = 0.into();
        if self.s1_d3.q.val().get_bit(0) {
            self.mag3.next = self.fx.val();
        } else if self.s1_d3.q.val().get_bit(1) {
            self.mag3.next = self.fx.val() << 1;
        }
        if self.s1_d3.q.val().get_bit(2) {
            self.pp3.next = !self.mag3.val();
        } else {
            self.pp3.next = self.mag3.val();
        }
        self.n0.next = 0.into();
        if self.s1_d0.q.val() == 3 {
            self.n0.next = 1.into();
        }
        self.n2.next = 0.into();
        if self.s1_d2.q.val() == 3 {
            self.n2.next = 1.into();
        }
        self.n3.next = 0.into();
        if self.s1_d3.q.val().get_bit(2) {
            self.n3.next = 64.into();
        }
        self.lo_acc.next = self.pp0.val() + ((self.pp1.val() << 2) | self.n0.val());
        self.hi_acc.next = self.pp2.val() + ((self.pp3.val() << 2) | self.n2.val());
        self.s2_lo.d.next = self.lo_acc.val();
        self.s2_hi.d.next = self.hi_acc.val();
        self.s2_b.d.next = self.s1_b.q.val() + self.n3.val();
        self.s2_n1.d.next = self.s1_d1.q.val() == 3;
        // Stage 3: product plus bias, two adder levels like stage 2 (a stage of its own
        // for the bias would carry B, the channel and every carried operand one more
        // stage: about 80 flip-flops).
        self.n1.next = 0.into();
        if self.s2_n1.q.val() {
            self.n1.next = 4.into();
        }
        self.s3_v.d.next =
            (self.s2_lo.q.val() + self.s2_b.q.val()) + ((self.s2_hi.q.val() << 4) | self.n1.val());
        // Stage 4: arithmetic shift right by R (floor division by 2^R).
        self.y_shr.next = self.s3_v.q.val() >> self.shift_r.val();
        if self.s3_v.q.val().get_bit(27) {
            self.s4_y.d.next = self.y_shr.val() | !(self.ones28.val() >> self.shift_r.val());
        } else {
            self.s4_y.d.next = self.y_shr.val();
        }
        // Stage 5: saturate to 16 bits; the exact value goes on to the head.
        if self.mask_y.val() {
            self.s5_y16.d.next = 0.into();
            self.s5_y32.d.next = 0.into();
        } else {
            if self.s4_y.q.val().get_bit(27) {
                self.s5_y32.d.next = bit_cast::<32, 28>(self.s4_y.q.val()) | 0xF000_0000u64;
                if self.s4_y.q.val().get_bits::<13>(15) == 0x1FFF {
                    self.s5_y16.d.next = self.s4_y.q.val().get_bits::<16>(0);
                } else {
                    self.s5_y16.d.next = 0x8000.into();
                }
            } else {
                self.s5_y32.d.next = bit_cast::<32, 28>(self.s4_y.q.val());
                if self.s4_y.q.val().get_bits::<13>(15) == 0 {
                    self.s5_y16.d.next = self.s4_y.q.val().get_bits::<16>(0);
                } else {
                    self.s5_y16.d.next = 0x7FFF.into();
                }
            }
        }
        // Stage 6: combine into z (or the logit); shift the old membrane by h.
        // The state words, read for the channel at stage 3 (`late_ch`), are registered
        // (z and the logit on their own, c into the stage-4 slot of the carried
        // operands), so stage 6's adds and shifts start at flip-flops. The state-buffer
        // bits, read for the channel at stage 4 (`pop_ch`), go straight into stage 6's
        // slot: stage 8 is the first to use them.
        self.z_r.d.next = self.z_in.val();
        self.cold[4].d.next = self.c_in.val();
        self.low[6].d.next = self.low_in.val();
        self.logit_r.d.next = self.logit_in.val();
        self.sum17.next =
            bit_cast::<17, 16>(self.z_r.q.val()) + bit_cast::<17, 16>(self.s5_y16.q.val());
        if self.z_r.q.val().get_bit(15) {
            self.sum17.next = self.sum17.val() ^ 0x1_0000;
        }
        if self.s5_y16.q.val().get_bit(15) {
            self.sum17.next = self.sum17.val() ^ 0x1_0000;
        }
        if self.first.val() {
            self.z6.next = self.s5_y16.q.val();
        } else if self.sum17.val().get_bit(16) != self.sum17.val().get_bit(15) {
            if self.sum17.val().get_bit(16) {
                self.z6.next = 0x8000.into();
            } else {
                self.z6.next = 0x7FFF.into();
            }
        } else {
            self.z6.next = self.sum17.val().get_bits::<16>(0);
        }
        if self.accumulate.val() {
            self.l6.next = self.logit_r.q.val() + self.s5_y32.q.val();
        } else {
            self.l6.next = self.s5_y32.q.val();
        }
        if self.zero_c.val() {
            self.c_now.next = 0.into();
        } else {
            self.c_now.next = self.cold[4].q.val();
        }
        self.cold[5].d.next = self.c_now.val();
        self.fill5.d.next = !(self.ones16.val() >> self.hh[3].q.val());
        self.cs_shr.next = self.cold[4].q.val() >> self.hh[4].q.val();
        // A spike layer's membrane term is zero, so stage 7's forward update passes z
        // through and stage 8 needs no z of its own for the spike to look at.
        if self.zero_c.val() || self.post_spike.val() {
            self.s6_cs.d.next = 0.into();
        } else if self.cold[4].q.val().get_bit(15) {
            self.s6_cs.d.next = self.cs_shr.val() | self.fill5.q.val();
        } else {
            self.s6_cs.d.next = self.cs_shr.val();
        }
        self.s6_z.d.next = self.z6.val();
        self.s6_logit.d.next = self.l6.val();
        // Stage 7: forward turn-on update, and the difference the inverse needs.
        if self.neg[5].q.val() {
            self.s7_fwd.d.next = self.s6_z.q.val() - self.s6_cs.q.val();
        } else {
            self.s7_fwd.d.next = self.s6_z.q.val() + self.s6_cs.q.val();
        }
        // sigma * d for the inverse, with sigma = -1 folded into the subtraction's
        // order (-(c - z) = z - c mod 2^16), so stage 8 needs no negation.
        if self.neg[5].q.val() {
            self.s7_diff.d.next = self.s6_z.q.val() - self.cold[5].q.val();
        } else {
            self.s7_diff.d.next = self.cold[5].q.val() - self.s6_z.q.val();
        }
        // Stage 8: the inverse c(t-1) = (sigma*d) * 2^h + low, or the forward update
        // (z itself for a spike layer): what the spike looks at.
        self.q.next = self.s7_diff.q.val();
        if self.post_rewind.val() {
            self.s8_c.d.next = (self.q.val() << self.hh[6].q.val()) | self.low[6].q.val();
        } else {
            self.s8_c.d.next = self.s7_fwd.q.val();
        }
        self.s9_c.d.next = self.s8_c.q.val();
        // Stage 9: spike = clamp(v >>> k, 0, 255) if v > threshold (strict, signed).
        self.s_shr.next = self.s8_c.q.val() >> self.spike_k.val();
        if self.s8_c.q.val().get_bit(15) {
            self.s_shr.next = self.s_shr.val() | !(self.ones16.val() >> self.spike_k.val());
        }
        if (self.s8_c.q.val() ^ 0x8000) > (self.thr_r.q.val() ^ 0x8000) {
            if self.s_shr.val().get_bit(15) {
                self.s9_s.d.next = 0.into();
            } else if self.s_shr.val().get_bits::<8>(8) != 0 {
                self.s9_s.d.next = 0xFF.into();
            } else {
                self.s9_s.d.next = self.s_shr.val().get_bits::<8>(0);
            }
        } else {
            self.s9_s.d.next = 0.into();
        }

        self.late_ch.next = self.chn[2].q.val();
        self.pop_ch.next = self.chn[4].q.val();
        // Outputs (stage 9).
        self.hmask.d.next = !(self.ones16.val() << self.hh[4].q.val());
        self.out_valid.next = self.v[8].q.val();
        self.out_ch.next = self.chn[8].q.val();
        self.early_valid.next = self.v[5].q.val();
        self.early_ch.next = self.chn[5].q.val();
        self.z_out.next = self.s6_z.q.val();
        self.logit_out.next = self.s6_logit.q.val();
        self.c_out.next = self.s9_c.q.val();
        self.low_out.next = self.cold[5].q.val() & self.hmask.q.val();
        self.spike_out.next = self.s9_s.q.val();
        // Whether any stage will hold a channel next cycle, registered: the sequencer's
        // Flush test then reads one flip-flop instead of an OR over the whole pipe.
        self.pend_w.next = self.valid.val() | self.s0_valid.q.val();
        for i in 0..(LATENCY - 1) {
            if self.v[i].q.val() {
                self.pend_w.next = true;
            }
        }
        self.pend_r.d.next = self.pend_w.val();
        self.pending.next = self.pend_r.q.val();
    }
}
