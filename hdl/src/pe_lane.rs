//! One accumulate-only processing element.
//!
//! A lane only ever adds: it sums the activations whose weight bit is +1 (`S+`). The
//! signed dot product is recovered once per neuron as `2*S+ - sum(x)` (the gated-add
//! identity), which is cheaper than an add/subtract lane and needs no multiplier.
//! 18 bits hold `S+` for up to 1,028 inputs of 255.
//!
//! During the drain the lanes form a shift chain, so the neuron unit reads one lane per
//! cycle without a wide multiplexer.

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
    /// Drain: take the neighbour's sum (`x` must be zero meanwhile).
    pub shift: Signal<In, bool>,
    pub shift_in: Signal<In, Bits<ACC_BITS>>,
    pub acc: Signal<Out, Bits<ACC_BITS>>,
    sum: DFF<Bits<ACC_BITS>>,
    // The adder's first operand: the own sum, or the neighbour's during the drain
    // (when `x` is zero). The multiplexer sits before the carry chain, so each sum bit's
    // flip-flop packs with its adder bit and the loop has no route after the chain.
    operand: Signal<Local, Bits<ACC_BITS>>,
}

impl Logic for PeLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sum);
        if self.shift.val() {
            self.operand.next = self.shift_in.val();
        } else {
            self.operand.next = self.sum.q.val();
        }
        if self.clear.val() {
            self.sum.d.next = 0.into();
        } else if self.shift.val() | self.add.val() {
            self.sum.d.next = self.operand.val() + bit_cast::<ACC_BITS, 8>(self.x.val());
        }
        self.acc.next = self.sum.q.val();
    }
}
