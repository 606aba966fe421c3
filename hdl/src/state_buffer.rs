//! The reversible state buffer.
//!
//! The turn-on update `c(t) = wrap16(z + sigma*(c(t-1) >>> h))` loses exactly the `h`
//! low bits of `c(t-1)`; everything else about the past can be recomputed from the
//! present. This buffer keeps only those bits, one entry per turn-on channel per
//! timestep after the first, at `(t-1)*stride + stage offset + channel`, so the core can
//! step its state back in time without storing the history.

use rust_hdl::prelude::*;

use crate::sync_ram::{SyncRam, RAM_ADDR_BITS};

#[derive(LogicBlock)]
pub struct StateBuffer {
    pub clock: Signal<In, Clock>,
    /// Base of the timestep being pushed or popped: `(t-1) * stride`.
    pub push_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub pop_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    /// Stage offset plus channel.
    pub push_index: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub pop_index: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub push: Signal<In, bool>,
    pub low_in: Signal<In, Bits<16>>,
    /// The low bits at `pop_base + pop_index`, one cycle later.
    pub low_out: Signal<Out, Bits<16>>,
    ram: SyncRam<Bits<16>>,
}

impl StateBuffer {
    pub fn new(entries: usize) -> Self {
        Self {
            clock: Default::default(),
            push_base: Default::default(),
            pop_base: Default::default(),
            push_index: Default::default(),
            pop_index: Default::default(),
            push: Default::default(),
            low_in: Default::default(),
            low_out: Default::default(),
            ram: SyncRam::new(entries),
        }
    }
}

impl Logic for StateBuffer {
    #[hdl_gen]
    fn update(&mut self) {
        self.ram.clock.next = self.clock.val();
        self.ram.write_address.next = self.push_base.val() + self.push_index.val();
        self.ram.write_data.next = self.low_in.val();
        self.ram.write_enable.next = self.push.val();
        self.ram.read_address.next = self.pop_base.val() + self.pop_index.val();
        self.low_out.next = self.ram.read_data.val();
    }
}
