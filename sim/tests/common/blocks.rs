//! Small rust-hdl blocks the co-simulation tests and the benchmark run through both
//! rust-hdl's simulator and Verilator, until the real revspike top-level exists.

#![allow(dead_code)]

use rust_hdl::prelude::*;

/// A 16-bit counter with an enable and a synchronous load, plus a combinational
/// output that mixes the count with an input so comparisons see more than a register.
#[derive(LogicBlock, Default)]
pub struct Counter {
    pub clock: Signal<In, Clock>,
    pub enable: Signal<In, Bit>,
    pub load: Signal<In, Bit>,
    pub load_value: Signal<In, Bits<16>>,
    pub count: Signal<Out, Bits<16>>,
    pub mixed: Signal<Out, Bits<16>>,
    pub wrapped: Signal<Out, Bit>,
    value: DFF<Bits<16>>,
    wrap: DFF<Bit>,
}

impl Logic for Counter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, value, wrap);
        if self.load.val() {
            self.value.d.next = self.load_value.val();
        } else if self.enable.val() {
            self.value.d.next = self.value.q.val() + 1;
            if self.value.q.val() == 0xFFFF {
                self.wrap.d.next = true;
            }
        }
        self.count.next = self.value.q.val();
        self.mixed.next = (self.value.q.val() ^ self.load_value.val()) + (self.value.q.val() >> 3);
        self.wrapped.next = self.wrap.q.val();
    }
}

/// A UART receiver and transmitter wired as a loopback: every byte received on `rx`
/// (8N1, `CPB` clocks per bit) is sent back on `tx`. A one-byte holding register
/// lets a byte arrive while the previous one is still being transmitted.
#[derive(LogicBlock)]
pub struct UartEcho {
    pub clock: Signal<In, Clock>,
    pub rx: Signal<In, Bit>,
    pub tx: Signal<Out, Bit>,
    pub count: Signal<Out, Bits<8>>,
    cpb: Constant<Bits<16>>,
    half: Constant<Bits<16>>,
    stop: Constant<Bits<10>>,
    msb: Constant<Bits<8>>,
    sync0: DFF<Bit>,
    sync1: DFF<Bit>,
    rx_busy: DFF<Bit>,
    rx_cnt: DFF<Bits<16>>,
    rx_bit: DFF<Bits<4>>,
    rx_shift: DFF<Bits<8>>,
    pend_valid: DFF<Bit>,
    pend: DFF<Bits<8>>,
    tx_busy: DFF<Bit>,
    tx_cnt: DFF<Bits<16>>,
    tx_bit: DFF<Bits<4>>,
    tx_shift: DFF<Bits<10>>,
    /// The tx line inverted, so the line idles high out of reset.
    tx_low: DFF<Bit>,
    received: DFF<Bits<8>>,
}

impl UartEcho {
    pub fn new(clocks_per_bit: u16) -> Self {
        Self {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            count: Default::default(),
            cpb: Constant::new((clocks_per_bit as u64 - 1).into()),
            half: Constant::new((clocks_per_bit as u64 / 2).into()),
            stop: Constant::new(0x200.into()),
            msb: Constant::new(0x80.into()),
            sync0: Default::default(),
            sync1: Default::default(),
            rx_busy: Default::default(),
            rx_cnt: Default::default(),
            rx_bit: Default::default(),
            rx_shift: Default::default(),
            pend_valid: Default::default(),
            pend: Default::default(),
            tx_busy: Default::default(),
            tx_cnt: Default::default(),
            tx_bit: Default::default(),
            tx_shift: Default::default(),
            tx_low: Default::default(),
            received: Default::default(),
        }
    }
}

impl Logic for UartEcho {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sync0, sync1, rx_busy, rx_cnt, rx_bit, rx_shift, pend_valid, pend,
            tx_busy, tx_cnt, tx_bit, tx_shift, tx_low, received
        );
        // Transmitter: start bit, 8 data bits LSB first, stop bit. The next byte is
        // loaded in the last cycle of the stop bit so back-to-back bytes keep the baud.
        if self.tx_busy.q.val() & (self.tx_cnt.q.val() != 0) {
            self.tx_cnt.d.next = self.tx_cnt.q.val() - 1;
        } else if self.tx_busy.q.val() & (self.tx_bit.q.val() != 9) {
            self.tx_cnt.d.next = self.cpb.val();
            self.tx_bit.d.next = self.tx_bit.q.val() + 1;
            self.tx_shift.d.next = self.tx_shift.q.val() >> 1;
            self.tx_low.d.next = !self.tx_shift.q.val().get_bit(1);
        } else {
            self.tx_busy.d.next = false;
            self.tx_low.d.next = false;
            if self.pend_valid.q.val() {
                self.pend_valid.d.next = false;
                self.tx_busy.d.next = true;
                self.tx_shift.d.next =
                    (bit_cast::<10, 8>(self.pend.q.val()) << 1) | self.stop.val();
                self.tx_cnt.d.next = self.cpb.val();
                self.tx_bit.d.next = 0.into();
                self.tx_low.d.next = true;
            }
        }
        // The rx pin is asynchronous to the clock: two flops before it is used. They
        // hold the inverted line so that after reset they read as an idle (high) line.
        self.sync0.d.next = !self.rx.val();
        self.sync1.d.next = self.sync0.q.val();
        // Receiver: wait half a bit after the falling edge, then sample every bit.
        // It runs after the transmitter so a byte completing in the cycle the
        // transmitter takes the previous one still marks the holding register full.
        if !self.rx_busy.q.val() {
            if self.sync1.q.val() {
                self.rx_busy.d.next = true;
                self.rx_cnt.d.next = self.half.val();
                self.rx_bit.d.next = 0.into();
            }
        } else if self.rx_cnt.q.val() == 0 {
            self.rx_cnt.d.next = self.cpb.val();
            self.rx_bit.d.next = self.rx_bit.q.val() + 1;
            if self.rx_bit.q.val() == 0 {
                if !self.sync1.q.val() {
                    // A glitch, not a start bit.
                    self.rx_busy.d.next = false;
                }
            } else if self.rx_bit.q.val() == 9 {
                self.rx_busy.d.next = false;
                if !self.sync1.q.val() {
                    self.pend.d.next = self.rx_shift.q.val();
                    self.pend_valid.d.next = true;
                    self.received.d.next = self.received.q.val() + 1;
                }
            } else if !self.sync1.q.val() {
                self.rx_shift.d.next = (self.rx_shift.q.val() >> 1) | self.msb.val();
            } else {
                self.rx_shift.d.next = self.rx_shift.q.val() >> 1;
            }
        } else {
            self.rx_cnt.d.next = self.rx_cnt.q.val() - 1;
        }
        self.tx.next = !self.tx_low.q.val();
        self.count.next = self.received.q.val();
    }
}

/// Verilog text of a block, as the rest of revspike produces it.
pub fn verilog_of<B: Block>(block: B) -> String {
    revspike_hdl::emit::verilog(block).unwrap_or_else(|e| panic!("{e}"))
}
