//! UART receiver, 8N1, with the baud divisor fixed at elaboration.
//!
//! The line is synchronized through two flip-flops (it comes from another clock
//! domain, the FTDI bridge). A falling edge is only taken as a start bit if the line
//! is still low half a bit later, so glitches shorter than half a bit are ignored.
//! Data bits are sampled mid-bit; a low stop bit drops the byte, pulses
//! `framing_error`, and the receiver then waits for the line to go high again, so a
//! break (line held low) cannot make it spin on phantom start bits.

use rust_hdl::prelude::*;

/// Width of the bit-period counter: up to 1023 clocks per bit (115200 baud at 100 MHz).
pub const UART_COUNTER_BITS: usize = 10;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum RxState {
    Idle,
    Start,
    Data,
    Stop,
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
    // The synchronizer stores the inverted line so that its power-up value (0)
    // means "line idle".
    sync_a: DFF<Bit>,
    sync_b: DFF<Bit>,
    state: DFF<RxState>,
    count: DFF<Bits<UART_COUNTER_BITS>>,
    bit_idx: DFF<Bits<3>>,
    shift: DFF<Bits<8>>,
    valid_r: DFF<Bit>,
    ferr_r: DFF<Bit>,
    line: Signal<Local, Bit>,
    half: Constant<Bits<UART_COUNTER_BITS>>,
    full: Constant<Bits<UART_COUNTER_BITS>>,
}

impl UartRx {
    /// A receiver for `clocks_per_bit` clocks per bit (at least 4).
    pub fn new(clocks_per_bit: u32) -> Self {
        assert!(
            (4..(1 << UART_COUNTER_BITS)).contains(&clocks_per_bit),
            "clocks per bit must be in 4..{}",
            1 << UART_COUNTER_BITS
        );
        Self {
            clock: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            framing_error: Default::default(),
            sync_a: Default::default(),
            sync_b: Default::default(),
            state: Default::default(),
            count: Default::default(),
            bit_idx: Default::default(),
            shift: Default::default(),
            valid_r: Default::default(),
            ferr_r: Default::default(),
            line: Default::default(),
            half: Constant::new((clocks_per_bit as u64 / 2 - 1).to_bits()),
            full: Constant::new((clocks_per_bit as u64 - 1).to_bits()),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync_a, sync_b, state, count, bit_idx, shift, valid_r, ferr_r);
        self.sync_a.d.next = !self.rx.val();
        self.sync_b.d.next = self.sync_a.q.val();
        self.line.next = !self.sync_b.q.val();
        self.valid_r.d.next = false;
        self.ferr_r.d.next = false;
        self.count.d.next = self.count.q.val() + 1;
        match self.state.q.val() {
            RxState::Idle => {
                self.count.d.next = 0.into();
                if !self.line.val() {
                    self.state.d.next = RxState::Start;
                }
            }
            RxState::Start => {
                if self.count.q.val() == self.half.val() {
                    self.count.d.next = 0.into();
                    self.bit_idx.d.next = 0.into();
                    if self.line.val() {
                        // Shorter than half a bit: a glitch, not a start bit.
                        self.state.d.next = RxState::Idle;
                    } else {
                        self.state.d.next = RxState::Data;
                    }
                }
            }
            RxState::Data => {
                if self.count.q.val() == self.full.val() {
                    self.count.d.next = 0.into();
                    if self.line.val() {
                        self.shift.d.next = (self.shift.q.val() >> 1) | 0x80;
                    } else {
                        self.shift.d.next = self.shift.q.val() >> 1;
                    }
                    self.bit_idx.d.next = self.bit_idx.q.val() + 1;
                    if self.bit_idx.q.val() == 7 {
                        self.state.d.next = RxState::Stop;
                    }
                }
            }
            RxState::Stop => {
                if self.count.q.val() == self.full.val() {
                    if self.line.val() {
                        self.valid_r.d.next = true;
                        self.state.d.next = RxState::Idle;
                    } else {
                        self.ferr_r.d.next = true;
                        self.state.d.next = RxState::WaitHigh;
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
