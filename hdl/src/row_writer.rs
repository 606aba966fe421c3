//! The row writer: a conv stem row, as the neuron unit puts out its bytes, into a row
//! slot of the stem's memories (docs/architecture.md, the conv stem).
//!
//! Bytes come in row order, at most one per cycle: the output positions of the row one
//! after another, each position's channels in order. Every two bytes become a data word,
//! every 16 a bitmap word (bit i set when byte i is nonzero), and `finish`, after the
//! row's last byte, writes what is left of both. The writer never needs the row's
//! length: the stem unit knows when a row is over (the neuron unit is empty), and the
//! input port when an input is (its commit). Data and bitmaps live in different
//! memories, so a data word and a bitmap word can be written in the same cycle and no
//! byte waits.

use rust_hdl::prelude::*;

use crate::sync_ram::RAM_ADDR_BITS;

#[derive(LogicBlock, Default)]
pub struct RowWriter {
    pub clock: Signal<In, Clock>,
    /// Pulse: a row starts, its data at word `data_base`, its bitmap at word
    /// `bitmap_base`.
    pub start: Signal<In, Bit>,
    pub data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    /// The row's next byte.
    pub valid: Signal<In, Bit>,
    pub byte: Signal<In, Bits<8>>,
    /// Pulse, once, after the row's last byte: write its last, partial words.
    pub finish: Signal<In, Bit>,
    /// Data memory write port.
    pub data_we: Signal<Out, Bit>,
    pub data_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub data_word: Signal<Out, Bits<16>>,
    /// Bitmap memory write port.
    pub bitmap_we: Signal<Out, Bit>,
    pub bitmap_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub bitmap_word: Signal<Out, Bits<16>>,

    // The byte count, and where the next data and bitmap words go. A pointer moves on
    // in the cycle its word is written, so the write itself reads it from a flip-flop
    // (words are at least two bytes, so two cycles, apart).
    count: DFF<Bits<4>>,
    data_ptr: DFF<Bits<RAM_ADDR_BITS>>,
    bitmap_ptr: DFF<Bits<RAM_ADDR_BITS>>,
    // The data word being made (`hi` is 0 for a row's odd last byte) and the bitmap word;
    // a write sends them as they stand, the decision registered in `dwe` / `bwe`.
    low: DFF<Bits<8>>,
    hi: DFF<Bits<8>>,
    bits: DFF<Bits<16>>,
    dwe: DFF<Bit>,
    bwe: DFF<Bit>,
    // This byte's bitmap word with its bit set (or not); a word's first byte starts it
    // afresh, so the written word needs no clearing.
    with_bit: Signal<Local, Bits<16>>,
}

impl Logic for RowWriter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, count, data_ptr, bitmap_ptr, low, hi, bits, dwe, bwe);
        self.data_we.next = self.dwe.q.val();
        self.data_addr.next = self.data_ptr.q.val();
        self.data_word.next =
            (bit_cast::<16, 8>(self.hi.q.val()) << 8) | bit_cast::<16, 8>(self.low.q.val());
        self.bitmap_we.next = self.bwe.q.val();
        self.bitmap_addr.next = self.bitmap_ptr.q.val();
        self.bitmap_word.next = self.bits.q.val();
        self.dwe.d.next = false;
        self.bwe.d.next = false;
        if self.dwe.q.val() {
            self.data_ptr.d.next = self.data_ptr.q.val() + 1;
        }
        if self.bwe.q.val() {
            self.bitmap_ptr.d.next = self.bitmap_ptr.q.val() + 1;
        }

        self.with_bit.next = self.bits.q.val();
        if !self.count.q.val().any() {
            self.with_bit.next = 0.into();
        }
        if self.byte.val().any() {
            self.with_bit.next =
                self.with_bit.val() | (bit_cast::<16, 1>(1.into()) << self.count.q.val());
        }

        if self.start.val() {
            self.count.d.next = 0.into();
            self.data_ptr.d.next = self.data_base.val();
            self.bitmap_ptr.d.next = self.bitmap_base.val();
        } else if self.valid.val() {
            self.count.d.next = self.count.q.val() + 1;
            self.bits.d.next = self.with_bit.val();
            if self.count.q.val().get_bit(0) {
                // The high byte: the word is complete.
                self.dwe.d.next = true;
                self.hi.d.next = self.byte.val();
            } else {
                self.low.d.next = self.byte.val();
            }
            if self.count.q.val() == 15 {
                self.bwe.d.next = true;
            }
        } else if self.finish.val() {
            // A row ending on a low byte: its word goes out half full. A row ending
            // inside a bitmap word: that word goes out as it stands.
            if self.count.q.val().get_bit(0) {
                self.dwe.d.next = true;
                self.hi.d.next = 0.into();
            }
            if self.count.q.val().any() {
                self.bwe.d.next = true;
            }
        }
    }
}
