//! SLIP encoder in front of the UART transmitter.
//!
//! Takes one byte or one END marker at a time; 0xC0 and 0xDB in data go out as
//! two-byte escapes. `ready` is combinational so the response engine can hand over
//! its next byte in the cycle the UART frees up.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct SlipTx {
    pub clock: Signal<In, Clock>,
    /// Data byte to send (ignored when `is_end`).
    pub data: Signal<In, Bits<8>>,
    /// Send a frame boundary (raw END) instead of `data`.
    pub is_end: Signal<In, Bit>,
    /// `data`/`is_end` is offered; taken when `ready` is high.
    pub valid: Signal<In, Bit>,
    /// The encoder takes an offered byte this cycle.
    pub ready: Signal<Out, Bit>,
    /// To the UART transmitter.
    pub uart_data: Signal<Out, Bits<8>>,
    pub uart_start: Signal<Out, Bit>,
    pub uart_ready: Signal<In, Bit>,
    pending: DFF<Bit>,
    pending_data: DFF<Bits<8>>,
}

impl Logic for SlipTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, pending, pending_data);
        self.ready.next = self.uart_ready.val() && !self.pending.q.val();
        self.uart_start.next = false;
        self.uart_data.next = self.data.val();
        if self.uart_ready.val() {
            if self.pending.q.val() {
                self.uart_data.next = self.pending_data.q.val();
                self.uart_start.next = true;
                self.pending.d.next = false;
            } else if self.valid.val() {
                self.uart_start.next = true;
                if self.is_end.val() {
                    self.uart_data.next = 0xC0.into();
                } else if self.data.val() == 0xC0 {
                    self.uart_data.next = 0xDB.into();
                    self.pending_data.d.next = 0xDC.into();
                    self.pending.d.next = true;
                } else if self.data.val() == 0xDB {
                    self.uart_data.next = 0xDB.into();
                    self.pending_data.d.next = 0xDD.into();
                    self.pending.d.next = true;
                }
            }
        }
    }
}
