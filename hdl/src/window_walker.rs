//! The window walker: one conv stem row step's output positions, each as its valid
//! window rows handed to the window gather one after another.
//!
//! For output position x the window's rows span the same bytes of their input rows,
//! `max(0, left) ..= min(row_last, left + k*Ci - 1)` with `left = (x*s - p) * Ci`, and
//! differ in where the row is stored (its slot in a line buffer, which wraps) and in
//! the window index of its first byte (`ky*k*Ci - left`). Everything is kept by adding:
//! no multiplier. The next window row is started in the cycle the gather finishes the
//! last one, so a position costs exactly the gather's cycles (2 per window row plus the
//! bitmap words). After a position's last window row the walker waits for `advance`: the
//! core drains the lanes in between.
//!
//! The inputs are what `revspike_proto::stem_plan::WalkerStep` holds, stable for a row
//! step.

use rust_hdl::prelude::*;

use crate::sync_ram::RAM_ADDR_BITS;
use crate::window_gather::{BYTE_BITS, INDEX_BITS};

/// Signed byte positions in an input row (`left` and `left + k*Ci`).
pub const LEFT_BITS: usize = 14;
const _: () = assert!(LEFT_BITS == 14, "update the sign bit in `update`");

#[derive(LogicBlock, Default)]
pub struct WindowWalker {
    pub clock: Signal<In, Clock>,
    // The layer's geometry.
    pub kci: Signal<In, Bits<INDEX_BITS>>,
    pub sci: Signal<In, Bits<INDEX_BITS>>,
    pub row_last: Signal<In, Bits<BYTE_BITS>>,
    pub positions: Signal<In, Bits<9>>,
    pub slots: Signal<In, Bits<9>>,
    pub slot_data_words: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub slot_bitmap_words: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub src_data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub src_bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    // The row step.
    /// `left` of position 0 (two's complement).
    pub first_left: Signal<In, Bits<LEFT_BITS>>,
    pub rows: Signal<In, Bits<3>>,
    pub ky0_kci: Signal<In, Bits<INDEX_BITS>>,
    pub slot0: Signal<In, Bits<9>>,
    pub row0_data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub row0_bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    /// Pulse: the row step starts at position 0.
    pub start: Signal<In, Bit>,
    /// Pulse (after `position_done`): on to the next position.
    pub advance: Signal<In, Bit>,
    /// Pulse: the position's window rows are all gathered (its events still trail the
    /// gather's latency); `last_position` tells whether the row step is done with it.
    pub position_done: Signal<Out, Bit>,
    pub last_position: Signal<Out, Bit>,
    // To the window gather.
    pub g_start: Signal<Out, Bit>,
    pub g_first: Signal<Out, Bits<BYTE_BITS>>,
    pub g_last: Signal<Out, Bits<BYTE_BITS>>,
    pub g_data_base: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub g_bitmap_base: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub g_index_base: Signal<Out, Bits<INDEX_BITS>>,
    pub g_busy: Signal<In, Bit>,

    // A window row is ready to start; the position's last one has started.
    pending: DFF<Bit>,
    finishing: DFF<Bit>,
    left: DFF<Bits<LEFT_BITS>>,
    first: DFF<Bits<BYTE_BITS>>,
    last: DFF<Bits<BYTE_BITS>>,
    rows_left: DFF<Bits<3>>,
    positions_left: DFF<Bits<9>>,
    slot: DFF<Bits<9>>,
    data_base: DFF<Bits<RAM_ADDR_BITS>>,
    bitmap_base: DFF<Bits<RAM_ADDR_BITS>>,
    index_base: DFF<Bits<INDEX_BITS>>,
    done_r: DFF<Bit>,
    last_r: DFF<Bit>,
    // The position being loaded: its `left`, and its window's right end.
    new_left: Signal<Local, Bits<LEFT_BITS>>,
    new_right: Signal<Local, Bits<LEFT_BITS>>,
    load: Signal<Local, Bit>,
    issue: Signal<Local, Bit>,
}

impl Logic for WindowWalker {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            pending,
            finishing,
            left,
            first,
            last,
            rows_left,
            positions_left,
            slot,
            data_base,
            bitmap_base,
            index_base,
            done_r,
            last_r
        );
        self.issue.next = self.pending.q.val() & !self.g_busy.val();
        self.g_start.next = self.issue.val();
        self.g_first.next = self.first.q.val();
        self.g_last.next = self.last.q.val();
        self.g_data_base.next = self.data_base.q.val();
        self.g_bitmap_base.next = self.bitmap_base.q.val();
        self.g_index_base.next = self.index_base.q.val();
        self.position_done.next = self.done_r.q.val();
        self.last_position.next = self.last_r.q.val();
        self.done_r.d.next = false;

        // A position is loaded at `start` (position 0) or `advance` (the one after).
        if self.start.val() {
            self.new_left.next = self.first_left.val();
            self.positions_left.d.next = self.positions.val() - 1;
        } else {
            self.new_left.next =
                self.left.q.val() + bit_cast::<LEFT_BITS, INDEX_BITS>(self.sci.val());
            if self.advance.val() {
                self.positions_left.d.next = self.positions_left.q.val() - 1;
            }
        }
        self.new_right.next =
            self.new_left.val() + bit_cast::<LEFT_BITS, INDEX_BITS>(self.kci.val()) - 1;
        self.load.next = self.start.val() | self.advance.val();
        if self.load.val() {
            self.left.d.next = self.new_left.val();
            // Bit 13 is the sign of `left` (LEFT_BITS = 14).
            if self.new_left.val().get_bit(13) {
                self.first.d.next = 0.into();
            } else {
                self.first.d.next = self.new_left.val().get_bits::<BYTE_BITS>(0);
            }
            if self.new_right.val() > bit_cast::<LEFT_BITS, BYTE_BITS>(self.row_last.val()) {
                self.last.d.next = self.row_last.val();
            } else {
                self.last.d.next = self.new_right.val().get_bits::<BYTE_BITS>(0);
            }
            self.rows_left.d.next = self.rows.val();
            self.slot.d.next = self.slot0.val();
            self.data_base.d.next = self.row0_data_base.val();
            self.bitmap_base.d.next = self.row0_bitmap_base.val();
            self.index_base.d.next =
                self.ky0_kci.val() - bit_cast::<INDEX_BITS, LEFT_BITS>(self.new_left.val());
            self.pending.d.next = true;
            self.finishing.d.next = false;
        }

        // A window row starts: ready the next one, the row below (its slot wraps).
        if self.issue.val() {
            self.rows_left.d.next = self.rows_left.q.val() - 1;
            self.index_base.d.next = self.index_base.q.val() + self.kci.val();
            if self.slot.q.val() + 1 == self.slots.val() {
                self.slot.d.next = 0.into();
                self.data_base.d.next = self.src_data_base.val();
                self.bitmap_base.d.next = self.src_bitmap_base.val();
            } else {
                self.slot.d.next = self.slot.q.val() + 1;
                self.data_base.d.next = self.data_base.q.val() + self.slot_data_words.val();
                self.bitmap_base.d.next = self.bitmap_base.q.val() + self.slot_bitmap_words.val();
            }
            if self.rows_left.q.val() == 1 {
                self.pending.d.next = false;
                self.finishing.d.next = true;
            }
        }
        // The position's last window row is gathered.
        if self.finishing.q.val() & !self.g_busy.val() {
            self.finishing.d.next = false;
            self.done_r.d.next = true;
            self.last_r.d.next = !self.positions_left.q.val().any();
        }
    }
}
