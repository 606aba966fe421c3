//! One accumulate-only processing element.
//!
//! A lane only ever adds: it sums the activations whose weight bit is +1 (`S+`). The
//! signed dot product is recovered once per neuron as `2*S+ - sum(x)` (the gated-add
//! identity), which is cheaper than an add/subtract lane and needs no multiplier.
//! 18 bits hold `S+` for up to 1,028 inputs of 255.
//!
//! The drain reads the lanes in place: the array selects one lane a cycle, and a lane
//! that is not selected puts out zero, so the array's read-out is an OR of the lanes.
//! (A shift chain would put a multiplexer in front of every adder bit, one LUT per bit
//! per lane; the Cu build is 114 logic cells smaller with the OR tree.)

use rust_hdl::prelude::*;

pub const ACC_BITS: usize = 18;

#[derive(LogicBlock, Default)]
pub struct PeLane {
    pub clock: Signal<In, Clock>,
    /// Start of a layer tile: the sum restarts at zero.
    pub clear: Signal<In, bool>,
    /// This lane's weight is +1 for the event on `x`.
    pub add: Signal<In, bool>,
    pub x: Signal<In, Bits<8>>,
    /// The drain reads this lane.
    pub select: Signal<In, bool>,
    pub acc: Signal<Out, Bits<ACC_BITS>>,
    /// `acc` while selected, else zero.
    pub out: Signal<Out, Bits<ACC_BITS>>,
    sum: DFF<Bits<ACC_BITS>>,
}

impl Logic for PeLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sum);
        if self.clear.val() {
            self.sum.d.next = 0.into();
        } else if self.add.val() {
            self.sum.d.next = self.sum.q.val() + bit_cast::<ACC_BITS, 8>(self.x.val());
        }
        self.acc.next = self.sum.q.val();
        if self.select.val() {
            self.out.next = self.sum.q.val();
        } else {
            self.out.next = 0.into();
        }
    }
}
