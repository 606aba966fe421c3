//! The window walker: one conv stem row step's output positions, each as its valid
//! window rows handed to the window gather one after another.
//!
//! For output position x the window's rows span the same bytes of their input rows,
//! `max(0, left) ..= min(row_last, left + k*Ci - 1)` with `left = x*s*Ci - p*Ci`, and
//! differ in where the row is stored (its first byte in the source store, one
//! `slot_bytes` further per row, wrapping to 0 at `region_bytes` in a line buffer) and in
//! the window index of its first byte (`ky*k*Ci - left`). Everything is kept by adding:
//! no multiplier. The next window row is started in the cycle the gather finishes the
//! last one, so a position costs exactly the gather's cycles (2 per window row plus the
//! bitmap words). After a position's last window row the walker waits for `advance`: the
//! core drains the lanes in between.
//!
//! The inputs are what `revspike_proto::stem_plan::WalkerStep` holds (k * Ci as k * Ci - 1,
//! p * Ci as -p * Ci, as the layer row stores them), stable for a row step (the layer's
//! fields and the step's own).

use rust_hdl::prelude::*;

use crate::window_gather::{BYTE_BITS, INDEX_BITS};

/// Signed byte positions in an input row (`left` and `left + k*Ci`).
pub const LEFT_BITS: usize = 14;
const _: () = assert!(LEFT_BITS == 14, "update the sign bit in `update`");

#[derive(LogicBlock, Default)]
pub struct WindowWalker {
    pub clock: Signal<In, Clock>,
    // The layer's geometry: k * Ci - 1 (a window row's last byte from its first), s * Ci.
    pub kci_m1: Signal<In, Bits<INDEX_BITS>>,
    pub sci: Signal<In, Bits<INDEX_BITS>>,
    pub row_last: Signal<In, Bits<BYTE_BITS>>,
    /// Pulse before `start`: take the row's output positions W' and -p * Ci, where
    /// position 0's window starts (left of its input row's byte 0). They are only
    /// needed once, so the walker's own registers take them, and no one else keeps them.
    pub prime: Signal<In, Bit>,
    pub positions: Signal<In, Bits<9>>,
    pub left0: Signal<In, Bits<LEFT_BITS>>,
    /// Bytes from one source row to the next; the source store's bytes, where a line
    /// buffer wraps (0: the store never wraps).
    pub slot_bytes: Signal<In, Bits<BYTE_BITS>>,
    pub region_bytes: Signal<In, Bits<BYTE_BITS>>,
    // The row step.
    pub rows: Signal<In, Bits<3>>,
    pub ky0_kci: Signal<In, Bits<INDEX_BITS>>,
    /// The first valid window row's first byte in the source store.
    pub row0_byte: Signal<In, Bits<BYTE_BITS>>,
    /// Pulse, at least two cycles after `prime`: the row step starts at position 0.
    pub start: Signal<In, Bit>,
    /// Pulse, at least a cycle after `position_done`: on to the next position.
    pub advance: Signal<In, Bit>,
    /// Pulse: the position's window rows are all gathered (its events still trail the
    /// gather's latency); `last_position` tells whether the row step is done with it.
    pub position_done: Signal<Out, Bit>,
    pub last_position: Signal<Out, Bit>,
    // To the window gather (its data and bitmap bases are the source store's).
    pub g_start: Signal<Out, Bit>,
    pub g_first: Signal<Out, Bits<BYTE_BITS>>,
    pub g_last: Signal<Out, Bits<BYTE_BITS>>,
    pub g_index_base: Signal<Out, Bits<INDEX_BITS>>,
    pub g_busy: Signal<In, Bit>,

    // A window row is ready to start; the position's last one has started.
    pending: DFF<Bit>,
    finishing: DFF<Bit>,
    left: DFF<Bits<LEFT_BITS>>,
    // The position's clipped byte range within an input row, and the current window
    // row's first byte in the store.
    lo: DFF<Bits<BYTE_BITS>>,
    hi: DFF<Bits<BYTE_BITS>>,
    row_byte: DFF<Bits<BYTE_BITS>>,
    // The window row's first and last bytes in the store (`row_byte + lo`, `row_byte +
    // hi`), kept rather than added on the way out: the gather's first bitmap address
    // is another add after them, and then the z memory's address choice, too much for
    // one clock period behind an add. While idle they follow `lo` and `hi` a cycle
    // later, and `hi` follows `left` two cycles later (through `right_r`), which is in
    // time: `left` is unchanged from two cycles before a load (the row step's Row2, Go
    // and first Position cycle after `prime`; a drain after a position). At each window
    // row they move with `row_byte`.
    first_byte: DFF<Bits<BYTE_BITS>>,
    last_byte: DFF<Bits<BYTE_BITS>>,
    // Whether the row after `row_byte` wraps to the store's start, and the window's
    // right end from `left`, each a cycle behind its operands: a window row starts at
    // least three cycles after the last (the gather's loading and one scan), and a
    // position loads after idle cycles with `left` unchanged, so both have settled when
    // they are used, and neither compare sits behind its add.
    wrap_r: DFF<Bit>,
    right_r: DFF<Bits<LEFT_BITS>>,
    rows_left: DFF<Bits<3>>,
    positions_left: DFF<Bits<9>>,
    index_base: DFF<Bits<INDEX_BITS>>,
    done_r: DFF<Bit>,
    last_r: DFF<Bit>,
    // The next position's `left`.
    new_left: Signal<Local, Bits<LEFT_BITS>>,
    next_row: Signal<Local, Bits<BYTE_BITS>>,
    load: Signal<Local, Bit>,
    idle: Signal<Local, Bit>,
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
            lo,
            hi,
            row_byte,
            first_byte,
            last_byte,
            wrap_r,
            right_r,
            rows_left,
            positions_left,
            index_base,
            done_r,
            last_r
        );
        self.issue.next = self.pending.q.val() & !self.g_busy.val();
        self.g_start.next = self.issue.val();
        self.g_first.next = self.first_byte.q.val();
        self.g_last.next = self.last_byte.q.val();
        // The gather numbers bytes from the store's first one: this row starts row_byte in.
        self.g_index_base.next =
            self.index_base.q.val() - bit_cast::<INDEX_BITS, BYTE_BITS>(self.row_byte.q.val());
        self.position_done.next = self.done_r.q.val();
        self.last_position.next = self.last_r.q.val();
        self.done_r.d.next = false;

        // A position is loaded at `start` (position 0, primed) or `advance` (the one
        // after). `left` is always the window start of the position loaded next (the
        // load moves it on by s * Ci), so the load's adds and compares all start at
        // flip-flops, not after the drain's end decision that `advance` comes from.
        if self.prime.val() {
            self.left.d.next = self.left0.val();
            self.positions_left.d.next = self.positions.val() - 1;
        }
        if self.advance.val() {
            self.positions_left.d.next = self.positions_left.q.val() - 1;
        }
        self.new_left.next = self.left.q.val() + bit_cast::<LEFT_BITS, INDEX_BITS>(self.sci.val());
        self.right_r.d.next =
            self.left.q.val() + bit_cast::<LEFT_BITS, INDEX_BITS>(self.kci_m1.val());
        self.load.next = self.start.val() | self.advance.val();
        if self.load.val() {
            self.left.d.next = self.new_left.val();
            self.pending.d.next = true;
            self.finishing.d.next = false;
        }
        // Between positions nothing reads the window row registers, so they take the
        // next position's values in every idle cycle (the load's cycle among them)
        // rather than only at the load: their enable is then the walker's own state, not
        // the drain's end decision that `advance` comes from, which would otherwise fan
        // out to every one of them.
        self.idle.next = !self.pending.q.val() & !self.finishing.q.val();
        if self.idle.val() {
            // Bit 13 is the sign of `left` (LEFT_BITS = 14).
            if self.left.q.val().get_bit(13) {
                self.lo.d.next = 0.into();
            } else {
                self.lo.d.next = self.left.q.val().get_bits::<BYTE_BITS>(0);
            }
            if self.right_r.q.val() > bit_cast::<LEFT_BITS, BYTE_BITS>(self.row_last.val()) {
                self.hi.d.next = self.row_last.val();
            } else {
                self.hi.d.next = self.right_r.q.val().get_bits::<BYTE_BITS>(0);
            }
            self.rows_left.d.next = self.rows.val();
            self.row_byte.d.next = self.row0_byte.val();
            self.first_byte.d.next = self.row0_byte.val() + self.lo.q.val();
            self.last_byte.d.next = self.row0_byte.val() + self.hi.q.val();
            self.index_base.d.next =
                self.ky0_kci.val() - bit_cast::<INDEX_BITS, LEFT_BITS>(self.left.q.val());
        }

        // A window row starts: ready the next one, the row below (a line buffer wraps).
        self.next_row.next = self.row_byte.q.val() + self.slot_bytes.val();
        self.wrap_r.d.next = self.next_row.val() == self.region_bytes.val();
        if self.issue.val() {
            self.rows_left.d.next = self.rows_left.q.val() - 1;
            self.index_base.d.next = self.index_base.q.val() + self.kci_m1.val() + 1;
            if self.wrap_r.q.val() {
                self.row_byte.d.next = 0.into();
                self.first_byte.d.next = self.lo.q.val();
                self.last_byte.d.next = self.hi.q.val();
            } else {
                self.row_byte.d.next = self.next_row.val();
                self.first_byte.d.next = self.first_byte.q.val() + self.slot_bytes.val();
                self.last_byte.d.next = self.last_byte.q.val() + self.slot_bytes.val();
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
