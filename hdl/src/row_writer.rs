//! The row writer: a conv stem row, as the neuron unit puts out its bytes, into a row
//! slot of the stem's memories (docs/architecture.md, the conv stem).
//!
//! Bytes come in row order, at most one per cycle: the output positions of the row one
//! after another, each position's channels in order. Every two bytes become a data word,
//! every 16 a bitmap word (bit i set when byte i is nonzero), and the last byte of the
//! row writes what is left of both. Data and bitmaps live in different memories, so a
//! data word and a bitmap word can be written in the same cycle and no byte waits.

use rust_hdl::prelude::*;

use crate::sync_ram::RAM_ADDR_BITS;
use crate::window_gather::BYTE_BITS;

#[derive(LogicBlock, Default)]
pub struct RowWriter {
    pub clock: Signal<In, Clock>,
    /// Pulse: a row of `row_bytes` bytes (at least one) starts, its data at word
    /// `data_base`, its bitmap at word `bitmap_base`.
    pub start: Signal<In, Bit>,
    pub data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub row_bytes: Signal<In, Bits<BYTE_BITS>>,
    /// The row's next byte.
    pub valid: Signal<In, Bit>,
    pub byte: Signal<In, Bits<8>>,
    /// Data memory write port.
    pub data_we: Signal<Out, Bit>,
    pub data_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub data_word: Signal<Out, Bits<16>>,
    /// Bitmap memory write port.
    pub bitmap_we: Signal<Out, Bit>,
    pub bitmap_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub bitmap_word: Signal<Out, Bits<16>>,

    // The byte count, and where the next data and bitmap words go.
    count: DFF<Bits<BYTE_BITS>>,
    last: DFF<Bits<BYTE_BITS>>,
    data_ptr: DFF<Bits<RAM_ADDR_BITS>>,
    bitmap_ptr: DFF<Bits<RAM_ADDR_BITS>>,
    low: DFF<Bits<8>>,
    bits: DFF<Bits<16>>,
    // The writes, registered: their decisions end at flip-flops, not at the memories.
    dwe: DFF<Bit>,
    daddr: DFF<Bits<RAM_ADDR_BITS>>,
    dword: DFF<Bits<16>>,
    bwe: DFF<Bit>,
    baddr: DFF<Bits<RAM_ADDR_BITS>>,
    bword: DFF<Bits<16>>,
    // This byte's bitmap word with its bit set (or not).
    with_bit: Signal<Local, Bits<16>>,
    at_last: Signal<Local, Bit>,
}

impl Logic for RowWriter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, count, last, data_ptr, bitmap_ptr, low, bits, dwe, daddr, dword, bwe,
            baddr, bword
        );
        self.data_we.next = self.dwe.q.val();
        self.data_addr.next = self.daddr.q.val();
        self.data_word.next = self.dword.q.val();
        self.bitmap_we.next = self.bwe.q.val();
        self.bitmap_addr.next = self.baddr.q.val();
        self.bitmap_word.next = self.bword.q.val();
        self.dwe.d.next = false;
        self.bwe.d.next = false;

        self.with_bit.next = self.bits.q.val();
        if self.byte.val().any() {
            self.with_bit.next = self.bits.q.val()
                | (bit_cast::<16, 1>(1.into()) << self.count.q.val().get_bits::<4>(0));
        }
        self.at_last.next = self.count.q.val() == self.last.q.val();

        if self.start.val() {
            self.count.d.next = 0.into();
            self.last.d.next = self.row_bytes.val() - 1;
            self.data_ptr.d.next = self.data_base.val();
            self.bitmap_ptr.d.next = self.bitmap_base.val();
            self.bits.d.next = 0.into();
        } else if self.valid.val() {
            self.count.d.next = self.count.q.val() + 1;
            self.bits.d.next = self.with_bit.val();
            self.daddr.d.next = self.data_ptr.q.val();
            self.baddr.d.next = self.bitmap_ptr.q.val();
            self.bword.d.next = self.with_bit.val();
            if self.count.q.val().get_bit(0) {
                // The high byte: the word is complete.
                self.dwe.d.next = true;
                self.dword.d.next =
                    (bit_cast::<16, 8>(self.byte.val()) << 8) | bit_cast::<16, 8>(self.low.q.val());
                self.data_ptr.d.next = self.data_ptr.q.val() + 1;
            } else {
                self.low.d.next = self.byte.val();
                if self.at_last.val() {
                    // The row ends on a low byte: its word goes out half full.
                    self.dwe.d.next = true;
                    self.dword.d.next = bit_cast::<16, 8>(self.byte.val());
                }
            }
            if self.count.q.val().get_bits::<4>(0) == 15 {
                self.bwe.d.next = true;
                self.bits.d.next = 0.into();
                self.bitmap_ptr.d.next = self.bitmap_ptr.q.val() + 1;
            } else if self.at_last.val() {
                self.bwe.d.next = true;
            }
        }
    }
}
