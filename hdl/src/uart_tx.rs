//! UART transmitter, 8N1, with the baud divisor fixed at elaboration.
//!
//! `start` is taken while `ready` is high; `ready` drops on the next cycle and rises
//! again after the stop bit. The line output is registered so it never glitches.

use rust_hdl::prelude::*;

use crate::uart_rx::UART_COUNTER_BITS;

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
    // Frame bits still to send, LSB first: start bit, 8 data bits, stop bit.
    shift: DFF<Bits<10>>,
    bits_left: DFF<Bits<4>>,
    count: DFF<Bits<UART_COUNTER_BITS>>,
    // Stores the inverted line so that the power-up value (0) is "idle high".
    line_n: DFF<Bit>,
    full: Constant<Bits<UART_COUNTER_BITS>>,
}

impl UartTx {
    /// A transmitter for `clocks_per_bit` clocks per bit (at least 4).
    pub fn new(clocks_per_bit: u32) -> Self {
        assert!(
            (4..(1 << UART_COUNTER_BITS)).contains(&clocks_per_bit),
            "clocks per bit must be in 4..{}",
            1 << UART_COUNTER_BITS
        );
        Self {
            clock: Default::default(),
            data: Default::default(),
            start: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            shift: Default::default(),
            bits_left: Default::default(),
            count: Default::default(),
            line_n: Default::default(),
            full: Constant::new((clocks_per_bit as u64 - 1).to_bits()),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, shift, bits_left, count, line_n);
        self.ready.next = !self.bits_left.q.val().any();
        self.count.d.next = self.count.q.val() + 1;
        if self.bits_left.q.val().any() {
            self.line_n.d.next = !self.shift.q.val().get_bit(0);
            if self.count.q.val() == self.full.val() {
                self.count.d.next = 0.into();
                self.shift.d.next = self.shift.q.val() >> 1;
                self.bits_left.d.next = self.bits_left.q.val() - 1;
            }
        } else {
            self.line_n.d.next = false;
            self.count.d.next = 0.into();
            if self.start.val() {
                self.shift.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | 0x200;
                self.bits_left.d.next = 10.into();
            }
        }
        self.tx.next = !self.line_n.q.val();
    }
}
