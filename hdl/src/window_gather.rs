//! The window gather: the nonzero bytes of one byte range of a stored row, one per
//! cycle, found through the row's nonzero bitmap.
//!
//! A conv stem row (docs/architecture.md, the conv stem) is stored dense, two bytes to a
//! 16-bit word, and its bitmap, one bit per byte and one word per 16 bytes, sits in
//! another memory, so a bitmap word and a data word can be read in the same cycle. The
//! gather scans the range's bitmap words and, for each set bit, reads the byte and
//! emits it as an event `(index_base + byte, value)`: the window index the PE lanes'
//! weight row is found by. Zero bytes are never read.
//!
//! Cycles per range, from `start` to `busy` falling: 2 to load the first bitmap word,
//! then per bitmap word max(1, set bits in range). The next word is already on the
//! bitmap memory's output when the current one is done, and stays there: the memory
//! reads the same address every cycle until the gather moves on, so the word needs no
//! register of its own. Each event leaves [`GATHER_LATENCY`] cycles after the cycle
//! that scanned its bit; its window index leaves a cycle earlier (`ahead_*`), so the
//! weight row it selects is read in time to meet the value (no register for the index
//! on either side).

use rust_hdl::prelude::*;

use crate::sync_ram::RAM_ADDR_BITS;

/// Byte offsets within a row.
pub const BYTE_BITS: usize = 12;
/// Window indices (a conv window has at most 5 * 5 * 256 bytes; stage 0 at most 1,024).
pub const INDEX_BITS: usize = 13;
/// Cycles from the scan of a bit to its event on the outputs.
pub const GATHER_LATENCY: usize = 3;

#[derive(LogicBlock)]
pub struct WindowGather {
    pub clock: Signal<In, Clock>,
    /// Pulse while idle: gather bytes `first..=last` of the row whose data starts at word
    /// `data_base` of the data memory and whose bitmap starts at word `bitmap_base` of
    /// the bitmap memory. `data_base` must hold until the last event has left.
    pub start: Signal<In, Bit>,
    pub first: Signal<In, Bits<BYTE_BITS>>,
    pub last: Signal<In, Bits<BYTE_BITS>>,
    pub data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    /// The window index of byte 0 of the row (modulo 2^INDEX_BITS).
    pub index_base: Signal<In, Bits<INDEX_BITS>>,
    /// log2 of the conv weight rows a memory row packs (0..=2, fixed for the range): an
    /// event's weight row is its index's high bits, its lanes' slice the low `pack`.
    pub pack: Signal<In, Bits<2>>,
    /// The layer's first weight row (index 0's), fixed for the range: `ahead_row` is
    /// the memory row itself, so the row memory's address is no add away.
    pub row_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    /// Bitmap memory read port (data one cycle after the address).
    pub bitmap_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub bitmap_data: Signal<In, Bits<16>>,
    /// Data memory read port (data one cycle after the address).
    pub data_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub data_word: Signal<In, Bits<16>>,
    /// Scanning the range (from the cycle after `start`).
    pub busy: Signal<Out, Bit>,
    /// An event's window index, a cycle before the event, split by `pack`: `row_base +
    /// (index >> pack)` (its weight row, modulo 2^INDEX_BITS) and `index mod 2^pack`
    /// (the lanes' slice of it). Both are registered here, so the weight row goes from
    /// a flip-flop to the row memory's address.
    pub ahead_valid: Signal<Out, Bit>,
    pub ahead_row: Signal<Out, Bits<INDEX_BITS>>,
    pub ahead_slice: Signal<Out, Bits<2>>,
    /// An event: `out_value` is the byte (its index was `ahead_*` a cycle before).
    pub out_valid: Signal<Out, Bit>,
    pub out_value: Signal<Out, Bits<8>>,

    c_ones: Constant<Bits<16>>,
    c_index_ones: Constant<Bits<INDEX_BITS>>,
    // Scan: the current bitmap word `cur` and `rest`, it with its lowest set bit
    // cleared, both registered, so "this word is done" (`rest` empty) and the bit to
    // emit (`cur ^ rest`) start at flip-flops, not at the memory's output.
    loading: DFF<Bit>,
    scanning: DFF<Bit>,
    cur: DFF<Bits<16>>,
    rest: DFF<Bits<16>>,
    cur_w: DFF<Bits<8>>,
    last_w: DFF<Bits<8>>,
    // cur_w is the range's last word.
    at_last: DFF<Bit>,
    // The range's masks, as bits rather than shift amounts, so that masking the word on
    // the memory's output is one LUT in front of the carry chain that finds `rest`:
    // `lo_mask` keeps the bits from `first` in the first word (all ones once it is
    // loaded), `hi_mask` the bits up to `last` in the last, and `use_hi` says whether
    // the word on the memory's output is the last (so it is what `at_last` becomes
    // when the gather moves on to that word).
    lo_mask: DFF<Bits<16>>,
    hi_mask: DFF<Bits<16>>,
    use_hi: DFF<Bit>,
    // Bitmap address of the next word (the memory's output); the one after is addr1 + 1.
    // (At `start` the first word's, which the memory reads while the gather loads.)
    addr1: DFF<Bits<RAM_ADDR_BITS>>,
    index_base_r: DFF<Bits<INDEX_BITS>>,
    // Emit pipeline: the byte, its data read, its event.
    b1_valid: DFF<Bit>,
    b1_byte: DFF<Bits<BYTE_BITS>>,
    b2_valid: DFF<Bit>,
    b2_high: DFF<Bit>,
    b2_row: DFF<Bits<INDEX_BITS>>,
    b2_slice: DFF<Bits<2>>,
    b2_sum: Signal<Local, Bits<INDEX_BITS>>,
    ev: DFF<Bit>,
    ev_value: DFF<Bits<8>>,
    // The lowest set bit of cur, one-hot, and its position.
    low: Signal<Local, Bits<16>>,
    low_pos: Signal<Local, Bits<4>>,
    // The next word (the memory's output), masked to range.
    next_masked: Signal<Local, Bits<16>>,
    next_rest: Signal<Local, Bits<16>>,
    word_done: Signal<Local, Bit>,
    take_next: Signal<Local, Bit>,
    first_addr: Signal<Local, Bits<RAM_ADDR_BITS>>,
}

impl Default for WindowGather {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            first: Default::default(),
            last: Default::default(),
            data_base: Default::default(),
            bitmap_base: Default::default(),
            index_base: Default::default(),
            row_base: Default::default(),
            bitmap_addr: Default::default(),
            bitmap_data: Default::default(),
            data_addr: Default::default(),
            data_word: Default::default(),
            busy: Default::default(),
            ahead_valid: Default::default(),
            ahead_row: Default::default(),
            ahead_slice: Default::default(),
            pack: Default::default(),
            out_valid: Default::default(),
            out_value: Default::default(),
            c_ones: Constant::new(0xFFFF.into()),
            c_index_ones: Constant::new(Bits::<INDEX_BITS>::mask()),
            loading: Default::default(),
            scanning: Default::default(),
            cur: Default::default(),
            rest: Default::default(),
            cur_w: Default::default(),
            last_w: Default::default(),
            at_last: Default::default(),
            lo_mask: Default::default(),
            hi_mask: Default::default(),
            use_hi: Default::default(),
            addr1: Default::default(),
            index_base_r: Default::default(),
            b1_valid: Default::default(),
            b1_byte: Default::default(),
            b2_valid: Default::default(),
            b2_high: Default::default(),
            b2_row: Default::default(),
            b2_slice: Default::default(),
            b2_sum: Default::default(),
            ev: Default::default(),
            ev_value: Default::default(),
            low: Default::default(),
            low_pos: Default::default(),
            next_masked: Default::default(),
            next_rest: Default::default(),
            word_done: Default::default(),
            take_next: Default::default(),
            first_addr: Default::default(),
        }
    }
}

impl Logic for WindowGather {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            loading,
            scanning,
            cur,
            rest,
            cur_w,
            last_w,
            at_last,
            lo_mask,
            hi_mask,
            use_hi,
            addr1,
            index_base_r,
            b1_valid,
            b1_byte,
            b2_valid,
            b2_high,
            b2_row,
            b2_slice,
            ev,
            ev_value
        );
        self.busy.next = self.loading.q.val() | self.scanning.q.val();
        self.out_valid.next = self.ev.q.val();
        self.out_value.next = self.ev_value.q.val();
        self.ahead_valid.next = self.b2_valid.q.val();
        self.ahead_row.next = self.b2_row.q.val();
        self.ahead_slice.next = self.b2_slice.q.val();

        // The bit to emit and the position it has in its word.
        self.low.next = self.cur.q.val() ^ self.rest.q.val();
        self.low_pos.next = 0.into();
        if (self.low.val() & 0xAAAA).any() {
            self.low_pos.next = self.low_pos.val() | 1;
        }
        if (self.low.val() & 0xCCCC).any() {
            self.low_pos.next = self.low_pos.val() | 2;
        }
        if (self.low.val() & 0xF0F0).any() {
            self.low_pos.next = self.low_pos.val() | 4;
        }
        if (self.low.val() & 0xFF00).any() {
            self.low_pos.next = self.low_pos.val() | 8;
        }

        // The next word, masked to the range: bits from `first` in the first word, up to
        // `last` in the last.
        self.next_masked.next = self.bitmap_data.val() & self.lo_mask.q.val();
        if self.use_hi.q.val() {
            self.next_masked.next = self.next_masked.val() & self.hi_mask.q.val();
        }
        self.next_rest.next = self.next_masked.val() & (self.next_masked.val() - 1);
        self.word_done.next = !self.rest.q.val().any();
        self.first_addr.next = self.bitmap_base.val()
            + bit_cast::<RAM_ADDR_BITS, 8>(self.first.val().get_bits::<8>(4));

        // The memory keeps reading the word after the current one; when the current
        // word is done, the one after that.
        self.bitmap_addr.next = self.addr1.q.val();

        // Emit: the byte of the lowest set bit.
        self.b1_valid.d.next = self.scanning.q.val() & self.cur.q.val().any();
        self.b1_byte.d.next = (bit_cast::<BYTE_BITS, 8>(self.cur_w.q.val()) << 4)
            | bit_cast::<BYTE_BITS, 4>(self.low_pos.val());

        if self.start.val() & !self.busy.val() {
            self.loading.d.next = true;
            self.cur_w.d.next = self.first.val().get_bits::<8>(4);
            self.last_w.d.next = self.last.val().get_bits::<8>(4);
            self.at_last.d.next =
                self.first.val().get_bits::<8>(4) == self.last.val().get_bits::<8>(4);
            self.use_hi.d.next =
                self.first.val().get_bits::<8>(4) == self.last.val().get_bits::<8>(4);
            self.lo_mask.d.next = self.c_ones.val() << self.first.val().get_bits::<4>(0);
            self.hi_mask.d.next = self.c_ones.val() >> !self.last.val().get_bits::<4>(0);
            self.bitmap_addr.next = self.first_addr.val();
            self.addr1.d.next = self.first_addr.val();
            self.index_base_r.d.next = self.index_base.val();
        }
        if self.loading.q.val() {
            // The first word is on the memory's output; the memory reads the next.
            self.loading.d.next = false;
            self.scanning.d.next = true;
            self.use_hi.d.next = self.cur_w.q.val() + 1 == self.last_w.q.val();
            self.lo_mask.d.next = self.c_ones.val();
            self.bitmap_addr.next = self.addr1.q.val() + 1;
            self.addr1.d.next = self.addr1.q.val() + 1;
        }
        if self.scanning.q.val() & self.word_done.val() {
            if self.at_last.q.val() {
                self.scanning.d.next = false;
            } else {
                self.cur_w.d.next = self.cur_w.q.val() + 1;
                self.at_last.d.next = self.use_hi.q.val();
                self.use_hi.d.next = self.cur_w.q.val() + 2 == self.last_w.q.val();
                self.bitmap_addr.next = self.addr1.q.val() + 1;
                self.addr1.d.next = self.addr1.q.val() + 1;
            }
        }
        // The scan itself takes no enable: `cur` and `rest` are free while the gather is
        // idle (loading overwrites them, and nothing reads them outside the scan), and
        // after the last word. So the choice in front of them is one LUT after the carry
        // chain, with the memory's word or the current one's rest.
        self.take_next.next = self.loading.q.val() | self.word_done.val();
        if self.take_next.val() {
            self.cur.d.next = self.next_masked.val();
            self.rest.d.next = self.next_rest.val();
        } else {
            self.cur.d.next = self.rest.q.val();
            self.rest.d.next = self.rest.q.val() & (self.rest.q.val() - 1);
        }

        // The byte's data word, then its half.
        self.data_addr.next =
            self.data_base.val() + bit_cast::<RAM_ADDR_BITS, BYTE_BITS>(self.b1_byte.q.val() >> 1);
        self.b2_valid.d.next = self.b1_valid.q.val();
        self.b2_high.d.next = self.b1_byte.q.val().get_bit(0);
        self.b2_sum.next =
            self.index_base_r.q.val() + bit_cast::<INDEX_BITS, BYTE_BITS>(self.b1_byte.q.val());
        self.b2_row.d.next = (self.b2_sum.val() >> self.pack.val())
            + bit_cast::<INDEX_BITS, RAM_ADDR_BITS>(self.row_base.val());
        self.b2_slice.d.next = bit_cast::<2, INDEX_BITS>(
            self.b2_sum.val() & !(self.c_index_ones.val() << self.pack.val()),
        );
        self.ev.d.next = self.b2_valid.q.val();
        if self.b2_high.q.val() {
            self.ev_value.d.next = self.data_word.val().get_bits::<8>(8);
        } else {
            self.ev_value.d.next = self.data_word.val().get_bits::<8>(0);
        }
    }
}
