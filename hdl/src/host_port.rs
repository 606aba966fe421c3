//! The spiking core's host port, as one interface pair: [`HostPort`] on the core (and
//! the mock core), [`HostPortDriver`] on whatever drives it. `HostPortDriver::join`
//! wires the two; docs/architecture.md gives the timing of each signal, and
//! `revspike_proto::contract` the address map and status codes.

use rust_hdl::prelude::*;

use revspike_proto::contract::addr;

/// Bits of a host-port word address.
pub const ADDR_BITS: usize = addr::BITS;
/// Bits of a host-port data word.
pub const WORD_BITS: usize = addr::WORD_BITS;
/// Bits of the status code ([`revspike_proto::contract::CoreStatus`]).
pub const STATUS_BITS: usize = 8;

/// The core's side of the host port.
#[derive(LogicInterface, Default)]
#[join = "HostPortDriver"]
pub struct HostPort {
    /// Write `wdata` to word `addr` (taken only while `busy` is low).
    pub we: Signal<In, Bit>,
    pub addr: Signal<In, Bits<ADDR_BITS>>,
    pub wdata: Signal<In, Bits<WORD_BITS>>,
    /// Word address to read; its word is on `rdata` 3 cycles later.
    pub raddr: Signal<In, Bits<ADDR_BITS>>,
    pub rdata: Signal<Out, Bits<WORD_BITS>>,
    /// Pulse: a new input sample begins.
    pub in_start: Signal<In, Bit>,
    /// `in_byte` is the next input value.
    pub in_valid: Signal<In, Bit>,
    pub in_byte: Signal<In, Bits<8>>,
    /// Pulse: the sample's frame checked out.
    pub in_commit: Signal<In, Bit>,
    /// Pulse: the sample's frame was bad.
    pub in_abort: Signal<In, Bit>,
    /// Pulses: run T timesteps, step back one, zero the turn-on state.
    pub run: Signal<In, Bit>,
    pub rewind: Signal<In, Bit>,
    pub clear: Signal<In, Bit>,
    /// A command is executing.
    pub busy: Signal<Out, Bit>,
    /// One-cycle pulse when a command finishes (or is refused).
    pub done: Signal<Out, Bit>,
    /// [`CoreStatus`](revspike_proto::contract::CoreStatus) code of the last command (0: success).
    pub status: Signal<Out, Bits<STATUS_BITS>>,
}

/// The driving side of the host port (the link, a test bench).
#[derive(LogicInterface, Default)]
#[join = "HostPort"]
pub struct HostPortDriver {
    pub we: Signal<Out, Bit>,
    pub addr: Signal<Out, Bits<ADDR_BITS>>,
    pub wdata: Signal<Out, Bits<WORD_BITS>>,
    pub raddr: Signal<Out, Bits<ADDR_BITS>>,
    pub rdata: Signal<In, Bits<WORD_BITS>>,
    pub in_start: Signal<Out, Bit>,
    pub in_valid: Signal<Out, Bit>,
    pub in_byte: Signal<Out, Bits<8>>,
    pub in_commit: Signal<Out, Bit>,
    pub in_abort: Signal<Out, Bit>,
    pub run: Signal<Out, Bit>,
    pub rewind: Signal<Out, Bit>,
    pub clear: Signal<Out, Bit>,
    pub busy: Signal<In, Bit>,
    pub done: Signal<In, Bit>,
    pub status: Signal<In, Bits<STATUS_BITS>>,
}
