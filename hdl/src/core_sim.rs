//! The spiking core in rust-hdl's own simulator, behind the shared [`CorePort`] driver.
//!
//! Not a hardware block: the adapter that lets `revspike_proto::core_port::CoreDriver`
//! clock a `SpikingCore` directly, so the same test code runs here and on the emitted
//! Verilog in Verilator.

use rust_hdl::prelude::*;

use revspike_proto::core_port::{CorePort, Pin};

use crate::spiking_core::SpikingCore;

pub struct RustHdlCore<const P: usize, const W: usize> {
    uut: Box<SpikingCore<P, W>>,
}

impl<const P: usize, const W: usize> RustHdlCore<P, W> {
    pub fn new(mut core: SpikingCore<P, W>) -> Self {
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

impl<const P: usize, const W: usize> CorePort for RustHdlCore<P, W> {
    fn poke(&mut self, pin: Pin, v: u64) {
        let u = &mut self.uut;
        match pin {
            Pin::We => u.we.next = v != 0,
            Pin::Addr => u.addr.next = v.into(),
            Pin::Wdata => u.wdata.next = v.into(),
            Pin::Raddr => u.raddr.next = v.into(),
            Pin::InStart => u.in_start.next = v != 0,
            Pin::InValid => u.in_valid.next = v != 0,
            Pin::InByte => u.in_byte.next = v.into(),
            Pin::InCommit => u.in_commit.next = v != 0,
            Pin::InAbort => u.in_abort.next = v != 0,
            Pin::Run => u.run.next = v != 0,
            Pin::Rewind => u.rewind.next = v != 0,
            Pin::Clear => u.clear.next = v != 0,
            Pin::Rdata | Pin::Busy | Pin::Done | Pin::Status => {}
        }
    }

    fn peek(&mut self, pin: Pin) -> u64 {
        let u = &self.uut;
        match pin {
            Pin::Rdata => u.rdata.val().to_u64(),
            Pin::Busy => u.busy.val() as u64,
            Pin::Done => u.done.val() as u64,
            Pin::Status => u.status.val().to_u64(),
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
