//! The processing-element array: `P` accumulate-only lanes fed by one broadcast event.
//!
//! Each cycle one nonzero activation `x` arrives with its weight row; lane `j` adds `x`
//! when bit `j` of the row is set. Zero activations never reach the array, so a layer
//! costs one cycle per nonzero input. The sum of all broadcast activations is kept here
//! too, for the gated-add identity `sum_i w_i x_i = 2*S+ - sum_i x_i`.
//!
//! The event (`valid`, `x`, `row`) is registered on entry, so a lane adds one cycle
//! after the event is presented: the weight row comes straight out of the row
//! memory's bank-select multiplexer, and without the register that multiplexer and
//! the lane's add enable shared one clock period across all the lanes. `clear` is
//! registered with the event, so it still comes before the first event it precedes,
//! and the lanes' clear starts at a flip-flop (it fans out to every accumulator bit).
//!
//! The drain reads the lanes in place, lane 0 first: a one-hot select register steps
//! one lane per `shift`, and `head` is the OR of the lanes' gated sums (an unselected
//! lane puts out zero). The lanes keep their sums until the next `clear`. `shift` is
//! not delayed; the sequencer leaves a cycle between the last event and the first
//! shift (StreamTail), so the last add has landed when its lane is read.

use rust_hdl::prelude::*;

use crate::pe_lane::{PeLane, ACC_BITS};

/// Bits of the running activation sum (same range as a lane).
pub const SUMX_BITS: usize = ACC_BITS;

#[derive(LogicBlock)]
pub struct PeArray<const P: usize, const W: usize> {
    pub clock: Signal<In, Clock>,
    pub clear: Signal<In, bool>,
    /// An event is on `x`/`row` this cycle.
    pub valid: Signal<In, bool>,
    pub x: Signal<In, Bits<8>>,
    /// The weight row of the event's input (bit c = output channel c's weight is +1).
    pub row: Signal<In, Bits<W>>,
    /// Channel tile of the layer: lane j takes row bit `tile * P + j`.
    pub tile: Signal<In, Bits<2>>,
    /// Drain: on to the next lane.
    pub shift: Signal<In, bool>,
    /// The next sum to drain (lane 0 after `clear`, then one lane further per `shift`;
    /// zero once every lane is read).
    pub head: Signal<Out, Bits<ACC_BITS>>,
    pub sum_x: Signal<Out, Bits<SUMX_BITS>>,
    pub lanes: [PeLane; P],
    total: DFF<Bits<SUMX_BITS>>,
    valid_r: DFF<bool>,
    x_r: DFF<Bits<8>>,
    row_r: DFF<Bits<P>>,
    clear_r: DFF<bool>,
    // The lane the drain reads, one-hot.
    select: DFF<Bits<P>>,
    c_plog: Constant<Bits<10>>,
}

impl<const P: usize, const W: usize> Default for PeArray<P, W> {
    fn default() -> Self {
        assert!(P >= 1 && P <= W);
        Self {
            clock: Default::default(),
            clear: Default::default(),
            valid: Default::default(),
            x: Default::default(),
            row: Default::default(),
            tile: Default::default(),
            shift: Default::default(),
            head: Default::default(),
            sum_x: Default::default(),
            lanes: array_init::array_init(|_| Default::default()),
            total: Default::default(),
            valid_r: Default::default(),
            x_r: Default::default(),
            row_r: Default::default(),
            clear_r: Default::default(),
            select: Default::default(),
            c_plog: Constant::new((P.trailing_zeros() as u64).into()),
        }
    }
}

impl<const P: usize, const W: usize> Logic for PeArray<P, W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, total, valid_r, x_r, row_r, clear_r, select);
        self.clear_r.d.next = self.clear.val();
        self.valid_r.d.next = self.valid.val();
        self.x_r.d.next = self.x.val();
        // The tile's slice is picked before the entry register (the tile is fixed for a
        // whole layer, so this is a small multiplexer on the row memory's output).
        self.row_r.d.next = bit_cast::<P, W>(
            self.row.val() >> (bit_cast::<10, 2>(self.tile.val()) << self.c_plog.val()),
        );
        for j in 0..P {
            self.lanes[j].clock.next = self.clock.val();
            self.lanes[j].clear.next = self.clear_r.q.val();
            self.lanes[j].x.next = self.x_r.q.val();
            self.lanes[j].add.next = self.valid_r.q.val() & self.row_r.q.val().get_bit(j);
            self.lanes[j].select.next = self.select.q.val().get_bit(j);
        }
        if self.clear_r.q.val() {
            self.select.d.next = 1.into();
        } else if self.shift.val() {
            self.select.d.next = self.select.q.val() << 1;
        }
        self.head.next = 0.into();
        for j in 0..P {
            self.head.next = self.head.val() | self.lanes[j].out.val();
        }
        if self.clear_r.q.val() {
            self.total.d.next = 0.into();
        } else if self.valid_r.q.val() {
            self.total.d.next = self.total.q.val() + bit_cast::<SUMX_BITS, 8>(self.x_r.q.val());
        }
        self.sum_x.next = self.total.q.val();
    }
}
