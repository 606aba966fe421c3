//! SLIP encoder in front of the UART transmitter.
//!
//! Takes one byte or one END marker at a time; 0xC0 and 0xDB in data go out as
//! two-byte escapes. The byte handed over is held in a register first, so `ready` is
//! a flip-flop and the escape decision starts at one: the response engine's byte
//! multiplexer and the UART's shift-register load never share a clock period. The
//! extra cycle is nothing against the 250 clocks a byte takes on the line.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct SlipTx {
    pub clock: Signal<In, Clock>,
    /// Data byte to send (ignored when `is_end`).
    pub data: Signal<In, Bits<8>>,
    /// Send an END marker instead of `data`.
    pub is_end: Signal<In, Bit>,
    /// `data`/`is_end` are valid; taken in a cycle where `ready` is high.
    pub valid: Signal<In, Bit>,
    /// The holding register is free.
    pub ready: Signal<Out, Bit>,
    pub uart_data: Signal<Out, Bits<8>>,
    pub uart_start: Signal<Out, Bit>,
    pub uart_ready: Signal<In, Bit>,
    held: DFF<Bit>,
    held_end: DFF<Bit>,
    held_data: DFF<Bits<8>>,
    pending: DFF<Bit>,
    pending_data: DFF<Bits<8>>,
}

impl Logic for SlipTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            held,
            held_end,
            held_data,
            pending,
            pending_data
        );
        self.ready.next = !self.held.q.val();
        if self.valid.val() && !self.held.q.val() {
            self.held.d.next = true;
            self.held_end.d.next = self.is_end.val();
            self.held_data.d.next = self.data.val();
        }
        self.uart_start.next = false;
        self.uart_data.next = self.held_data.q.val();
        if self.uart_ready.val() {
            if self.pending.q.val() {
                self.uart_data.next = self.pending_data.q.val();
                self.uart_start.next = true;
                self.pending.d.next = false;
            } else if self.held.q.val() {
                self.uart_start.next = true;
                self.held.d.next = false;
                if self.held_end.q.val() {
                    self.uart_data.next = 0xC0.into();
                } else if self.held_data.q.val() == 0xC0 {
                    self.uart_data.next = 0xDB.into();
                    self.pending_data.d.next = 0xDC.into();
                    self.pending.d.next = true;
                } else if self.held_data.q.val() == 0xDB {
                    self.uart_data.next = 0xDB.into();
                    self.pending_data.d.next = 0xDD.into();
                    self.pending.d.next = true;
                }
            }
        }
    }
}
