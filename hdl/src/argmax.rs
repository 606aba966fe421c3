//! The argmax over the final logits, after the last timestep of a run.
//!
//! The sequencer reads the logit memory one class every second cycle (`index >> 1`
//! while `step`); each logit is registered as the candidate, compared with the best so
//! far, and the registered result taken: the loop through `best` is then a
//! flip-flop-to-flip-flop compare and one enable, where a compare per drained channel
//! was a 32-bit compare feeding 40 enables. The lowest index wins a tie: class 0 is
//! always taken, later ones only when strictly greater.

use rust_hdl::prelude::*;

use crate::sync_ram::RAM_ADDR_BITS;

#[derive(LogicBlock, Default)]
pub struct Argmax {
    pub clock: Signal<In, Clock>,
    /// The sequencer is in its argmax phase, reading class `index >> 1`.
    pub step: Signal<In, Bit>,
    pub index: Signal<In, Bits<RAM_ADDR_BITS>>,
    /// The logit memory's read-out (the cycle after the read).
    pub logit: Signal<In, Bits<32>>,
    /// The predicted class.
    pub prediction: Signal<Out, Bits<8>>,
    rd: DFF<Bit>,
    rd_ch: DFF<Bits<8>>,
    cand: DFF<Bits<32>>,
    cand_ch: DFF<Bits<8>>,
    cand_valid: DFF<Bit>,
    beats_r: DFF<Bit>,
    best: DFF<Bits<32>>,
    pred: DFF<Bits<8>>,
    // The signed compare as two 16-bit halves side by side.
    beats: Signal<Local, Bit>,
}

impl Logic for Argmax {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, rd, rd_ch, cand, cand_ch, cand_valid, beats_r, best, pred);
        self.prediction.next = self.pred.q.val();
        self.rd.d.next = self.step.val() & !self.index.val().get_bit(0);
        self.rd_ch.d.next = bit_cast::<8, RAM_ADDR_BITS>(self.index.val() >> 1);
        self.cand_valid.d.next = self.rd.q.val();
        if self.rd.q.val() {
            self.cand.d.next = self.logit.val();
            self.cand_ch.d.next = self.rd_ch.q.val();
        }
        self.beats.next = ((self.cand.q.val().get_bits::<16>(16) ^ 0x8000u64)
            > (self.best.q.val().get_bits::<16>(16) ^ 0x8000u64))
            | ((self.cand.q.val().get_bits::<16>(16) == self.best.q.val().get_bits::<16>(16))
                & (self.cand.q.val().get_bits::<16>(0) > self.best.q.val().get_bits::<16>(0)));
        self.beats_r.d.next =
            self.cand_valid.q.val() & (!self.cand_ch.q.val().any() | self.beats.val());
        if self.step.val() & self.beats_r.q.val() {
            self.best.d.next = self.cand.q.val();
            self.pred.d.next = self.cand_ch.q.val();
        }
    }
}
