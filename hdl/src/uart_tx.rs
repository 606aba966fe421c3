//! UART transmitter, 8N1, with a fractional bit period fixed at elaboration.
//!
//! A bit lasts `clocks / bits` clock cycles ([`BitTiming`]; 25/3 at 12 Mbaud and
//! 100 MHz). A free-running accumulator gains `bits` every clock and ticks each time
//! it passes `clocks`, so ticks come at the exact average rate and each one within a
//! clock of its ideal time; the line changes only on ticks. Because the tick runs on
//! between bytes, back-to-back bytes keep the exact rate too.
//!
//! `start` is taken while `ready` is high; `ready` drops on the next cycle. The start
//! bit goes out on the next tick (within one bit time); `ready` rises again when the
//! stop bit goes out, and the next byte's start bit waits for the tick after it, so
//! the stop bit always lasts a full bit. The line output is registered.

use rust_hdl::prelude::*;

use revspike_proto::bit_timing::BitTiming;

use crate::uart_rx::{check_timing, UART_ACC_BITS};

#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    /// Byte to send, sampled when `start` is high and `ready` is high.
    pub data: Signal<In, Bits<8>>,
    /// Send `data`.
    pub start: Signal<In, Bit>,
    /// Idle: a byte may be started.
    pub ready: Signal<Out, Bit>,
    /// The serial line (idle high).
    pub tx: Signal<Out, Bit>,
    // Frame bits still to put on the line, LSB first: start bit, 8 data bits, stop bit.
    shift: DFF<Bits<10>>,
    bits_left: DFF<Bits<4>>,
    acc: DFF<Bits<UART_ACC_BITS>>,
    // The tick, registered: the accumulator's sign test and the shift never share a
    // clock period.
    tick: DFF<Bit>,
    // Stores the inverted line so that the power-up value (0) is "idle high".
    line_n: DFF<Bit>,
    acc_wrap: Signal<Local, Bits<UART_ACC_BITS>>,
    step: Constant<Bits<UART_ACC_BITS>>,
    // bits - clocks, two's complement.
    step_wrap: Constant<Bits<UART_ACC_BITS>>,
}

impl UartTx {
    /// A transmitter for `timing` (see [`check_timing`] for the limits).
    pub fn new(timing: BitTiming) -> Self {
        check_timing(timing);
        let mask = (1u64 << UART_ACC_BITS) - 1;
        Self {
            clock: Default::default(),
            data: Default::default(),
            start: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            shift: Default::default(),
            bits_left: Default::default(),
            acc: Default::default(),
            tick: Default::default(),
            line_n: Default::default(),
            acc_wrap: Default::default(),
            step: Constant::new((timing.bits as u64).to_bits()),
            step_wrap: Constant::new(
                ((timing.bits as u64).wrapping_sub(timing.clocks as u64) & mask).to_bits(),
            ),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, shift, bits_left, acc, tick, line_n);
        // The accumulator stays in 0..clocks: past it, wrap and tick.
        self.acc_wrap.next = self.acc.q.val() + self.step_wrap.val();
        self.tick.d.next = false;
        if self.acc_wrap.val().get_bit(12) {
            self.acc.d.next = self.acc.q.val() + self.step.val();
        } else {
            self.acc.d.next = self.acc_wrap.val();
            self.tick.d.next = true;
        }
        self.ready.next = !self.bits_left.q.val().any();
        if self.bits_left.q.val().any() {
            if self.tick.q.val() {
                self.line_n.d.next = !self.shift.q.val().get_bit(0);
                self.shift.d.next = self.shift.q.val() >> 1;
                self.bits_left.d.next = self.bits_left.q.val() - 1;
            }
        } else if self.start.val() {
            self.shift.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | 0x200;
            self.bits_left.d.next = 10.into();
        }
        self.tx.next = !self.line_n.q.val();
    }
}
