//! The spiking core in rust-hdl's own simulator, behind the shared [`CorePort`] driver.
//!
//! Not a hardware block: the adapter that lets `revspike_proto::core_port::CoreDriver`
//! clock a `SpikingCore` directly, so the same test code runs here and on the emitted
//! Verilog in Verilator.

use rust_hdl::prelude::*;

use revspike_proto::core_port::{CorePort, Pin};

use crate::spiking_core::SpikingCore;

pub struct RustHdlCore<const P: usize, const W: usize, const S: usize> {
    uut: Box<SpikingCore<P, W, S>>,
}

impl<const P: usize, const W: usize, const S: usize> RustHdlCore<P, W, S> {
    pub fn new(mut core: SpikingCore<P, W, S>) -> Self {
        core.connect_all();
        let mut s = Self {
            uut: Box::new(core),
        };
        s.settle();
        s
    }

    fn settle(&mut self) {
        assert!(
            simulate(&mut *self.uut, 10_000),
            "the core's logic did not settle (combinational loop)"
        );
    }
}

impl<const P: usize, const W: usize, const S: usize> CorePort for RustHdlCore<P, W, S> {
    fn poke(&mut self, pin: Pin, v: u64) {
        let h = &mut self.uut.host;
        match pin {
            Pin::We => h.we.next = v != 0,
            Pin::Addr => h.addr.next = v.into(),
            Pin::Wdata => h.wdata.next = v.into(),
            Pin::Raddr => h.raddr.next = v.into(),
            Pin::InStart => h.in_start.next = v != 0,
            Pin::InValid => h.in_valid.next = v != 0,
            Pin::InByte => h.in_byte.next = v.into(),
            Pin::InCommit => h.in_commit.next = v != 0,
            Pin::InAbort => h.in_abort.next = v != 0,
            Pin::Run => h.run.next = v != 0,
            Pin::Rewind => h.rewind.next = v != 0,
            Pin::Clear => h.clear.next = v != 0,
            Pin::Rdata | Pin::Busy | Pin::Done | Pin::Status => {}
        }
    }

    fn peek(&mut self, pin: Pin) -> u64 {
        let h = &self.uut.host;
        match pin {
            Pin::Rdata => h.rdata.val().to_u64(),
            Pin::Busy => h.busy.val() as u64,
            Pin::Done => h.done.val() as u64,
            Pin::Status => h.status.val().to_u64(),
            _ => 0,
        }
    }

    fn tick(&mut self) {
        self.settle();
        self.uut.clock.next = Clock { clk: true };
        self.settle();
        self.uut.clock.next = Clock { clk: false };
        self.settle();
    }
}
