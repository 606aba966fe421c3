//! UART receiver, 8N1, with a fractional bit period fixed at elaboration.
//!
//! The line is synchronized through two flip-flops (it comes from another clock
//! domain, the FTDI bridge). A bit lasts `clocks / bits` clock cycles ([`BitTiming`];
//! 25/3 at 12 Mbaud and 100 MHz). Every start bit restarts a sampling accumulator
//! that gains `2 * bits` per clock against `2 * clocks` per bit, loaded so that sample
//! `k` (0 the start bit, 1..=8 data, 9 stop) falls on the first clock at or after
//! `(k + 1/2) * clocks / bits - 1` clocks from the cycle the falling edge was seen.
//! With the edge seen 0..1 clock after it happened, every sample lies within one
//! clock of mid-bit (docs/protocol.md, bit timing, gives the margins this leaves for
//! a far end whose rate is off).
//!
//! A falling edge is only taken as a start bit if the line is still low at the start
//! bit's sample, so glitches shorter than half a bit are ignored. A low stop bit drops
//! the byte, pulses `framing_error`, and the receiver then waits for the line to go
//! high again, so a break (line held low) cannot make it spin on phantom start bits.
//! After a good stop bit sample the receiver looks for the next falling edge at once,
//! half a bit before it is due: each byte resynchronizes on its own start bit.

use rust_hdl::prelude::*;

use revspike_proto::bit_timing::{BitTiming, MAX_CLOCKS, MIN_CLOCKS_PER_BIT};

/// Width of the bit-timing accumulators (two's complement; holds `2 * clocks + 2 * bits`
/// for up to [`MAX_CLOCKS`] clocks per period).
pub const UART_ACC_BITS: usize = 13;
const _: () = assert!(4 * MAX_CLOCKS as usize <= 1 << UART_ACC_BITS);
// The sign bit is written as the literal 12 in the kernels (rust-hdl takes literals).
const _: () = assert!(UART_ACC_BITS == 13);

/// Panics unless the UART blocks can run at `timing`: `bits >= 1`, at most
/// [`MAX_CLOCKS`] clocks per period and at least [`MIN_CLOCKS_PER_BIT`] clocks per bit.
/// [`BitTiming::from_rates`] only makes such timings.
pub fn check_timing(t: BitTiming) {
    assert!(
        t.bits >= 1 && t.clocks <= MAX_CLOCKS && t.clocks >= MIN_CLOCKS_PER_BIT * t.bits,
        "UART bit timing {}/{} clocks: need 1 <= bits, clocks <= {MAX_CLOCKS} and at least \
         {MIN_CLOCKS_PER_BIT} clocks per bit",
        t.clocks,
        t.bits
    );
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum RxState {
    Idle,
    Frame,
    WaitHigh,
}

#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    /// The serial line (idle high).
    pub rx: Signal<In, Bit>,
    /// Last received byte, valid while `valid` pulses (and held afterwards).
    pub data: Signal<Out, Bits<8>>,
    /// One-cycle pulse: `data` holds a new byte.
    pub valid: Signal<Out, Bit>,
    /// One-cycle pulse: a byte with a low stop bit was dropped.
    pub framing_error: Signal<Out, Bit>,
    /// One-cycle pulse in the cycle a bit is sampled (for the timing tests).
    pub sample: Signal<Out, Bit>,
    // The synchronizer stores the inverted line so that its power-up value (0)
    // means "line idle".
    sync_a: DFF<Bit>,
    sync_b: DFF<Bit>,
    state: DFF<RxState>,
    acc: DFF<Bits<UART_ACC_BITS>>,
    bit_idx: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    valid_r: DFF<Bit>,
    ferr_r: DFF<Bit>,
    line: Signal<Local, Bit>,
    acc_wrap: Signal<Local, Bits<UART_ACC_BITS>>,
    take: Signal<Local, Bit>,
    step: Constant<Bits<UART_ACC_BITS>>,
    // 2 * (bits - clocks), two's complement.
    step_wrap: Constant<Bits<UART_ACC_BITS>>,
    // The accumulator after the clock that saw the falling edge: clocks + 2 * bits.
    load: Constant<Bits<UART_ACC_BITS>>,
}

impl UartRx {
    /// A receiver for `timing` (see [`check_timing`] for the limits).
    pub fn new(timing: BitTiming) -> Self {
        check_timing(timing);
        let mask = (1u64 << UART_ACC_BITS) - 1;
        let (c, b) = (timing.clocks as u64, timing.bits as u64);
        Self {
            clock: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            framing_error: Default::default(),
            sample: Default::default(),
            sync_a: Default::default(),
            sync_b: Default::default(),
            state: Default::default(),
            acc: Default::default(),
            bit_idx: Default::default(),
            shift: Default::default(),
            valid_r: Default::default(),
            ferr_r: Default::default(),
            line: Default::default(),
            acc_wrap: Default::default(),
            take: Default::default(),
            step: Constant::new((2 * b).to_bits()),
            step_wrap: Constant::new(((2 * b).wrapping_sub(2 * c) & mask).to_bits()),
            load: Constant::new((c + 2 * b).to_bits()),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync_a, sync_b, state, acc, bit_idx, shift, valid_r, ferr_r);
        self.sync_a.d.next = !self.rx.val();
        self.sync_b.d.next = self.sync_a.q.val();
        self.line.next = !self.sync_b.q.val();
        self.valid_r.d.next = false;
        self.ferr_r.d.next = false;
        // Sample when the accumulator passes a bit period (2 * clocks); it then wraps.
        self.acc_wrap.next = self.acc.q.val() + self.step_wrap.val();
        self.take.next = !self.acc_wrap.val().get_bit(12);
        if self.take.val() {
            self.acc.d.next = self.acc_wrap.val();
        } else {
            self.acc.d.next = self.acc.q.val() + self.step.val();
        }
        self.sample.next = false;
        match self.state.q.val() {
            RxState::Idle => {
                self.acc.d.next = self.load.val();
                self.bit_idx.d.next = 0.into();
                if !self.line.val() {
                    self.state.d.next = RxState::Frame;
                }
            }
            RxState::Frame => {
                if self.take.val() {
                    self.sample.next = true;
                    self.bit_idx.d.next = self.bit_idx.q.val() + 1;
                    if self.bit_idx.q.val() == 0 {
                        if self.line.val() {
                            // High again at the start bit's middle: a glitch.
                            self.state.d.next = RxState::Idle;
                        }
                    } else if self.bit_idx.q.val() == 9 {
                        if self.line.val() {
                            self.valid_r.d.next = true;
                            self.state.d.next = RxState::Idle;
                        } else {
                            self.ferr_r.d.next = true;
                            self.state.d.next = RxState::WaitHigh;
                        }
                    } else {
                        self.shift.d.next = self.shift.q.val() >> 1;
                        if self.line.val() {
                            self.shift.d.next = (self.shift.q.val() >> 1) | 0x80;
                        }
                    }
                }
            }
            RxState::WaitHigh => {
                if self.line.val() {
                    self.state.d.next = RxState::Idle;
                }
            }
            _ => {
                self.state.d.next = RxState::Idle;
            }
        }
        self.data.next = self.shift.q.val();
        self.valid.next = self.valid_r.q.val();
        self.framing_error.next = self.ferr_r.q.val();
    }
}
