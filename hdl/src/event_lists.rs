//! The event lists' bookkeeping: where each list lives in the event-list memory, how
//! long it is, and where the tile being run reads and writes.
//!
//! The memory holds the output spikes s_l of each stage (four lists of N entries), the
//! two block scratch lists A and B, then the group table. A tile streams the list its
//! descriptor's source names; its post operation appends to the list of its stage
//! (turn-on) or to a scratch list (spikes), and the list's length is kept when the
//! tile retires. Tile 0 of a layer starts its output list; later tiles append to it.

use rust_hdl::prelude::*;

use crate::sync_ram::RAM_ADDR_BITS;

#[derive(LogicBlock)]
pub struct EventLists {
    pub clock: Signal<In, Clock>,
    // The decoded descriptor.
    pub stage: Signal<In, Bits<2>>,
    pub src_is_stage: Signal<In, Bit>,
    pub src_stage: Signal<In, Bits<2>>,
    pub src_scratch_b: Signal<In, Bit>,
    pub post_spike: Signal<In, Bit>,
    pub post_state: Signal<In, Bit>,
    pub spikes_to_b: Signal<In, Bit>,
    pub tile: Signal<In, Bits<2>>,
    /// A tile starts: its output list is chosen (and started by tile 0).
    pub tile_start: Signal<In, Bit>,
    /// A spike is written to the output list at `out_addr` this cycle.
    pub append: Signal<In, Bit>,
    /// The tile retires: its output list's length is kept.
    pub retire: Signal<In, Bit>,
    /// The source list of the decoded descriptor: first entry and length.
    pub src_base: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub src_count: Signal<Out, Bits<9>>,
    /// Stage `stage`'s first entry in a per-stage table of N entries (its output list,
    /// its turn-on membranes).
    pub stage_base: Signal<Out, Bits<RAM_ADDR_BITS>>,
    /// Where the next output spike goes.
    pub out_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,

    c_nlog: Constant<Bits<4>>,
    c_scratch_a: Constant<Bits<RAM_ADDR_BITS>>,
    c_scratch_b: Constant<Bits<RAM_ADDR_BITS>>,
    cnt0: DFF<Bits<9>>,
    cnt1: DFF<Bits<9>>,
    cnt2: DFF<Bits<9>>,
    cnt3: DFF<Bits<9>>,
    cnt_sa: DFF<Bits<9>>,
    cnt_sb: DFF<Bits<9>>,
    out_count: DFF<Bits<9>>,
    // The output list's base.
    obase: DFF<Bits<RAM_ADDR_BITS>>,
}

impl EventLists {
    /// Lists for N = `channels` (a power of two).
    pub fn new(channels: usize) -> Self {
        assert!(channels.is_power_of_two());
        let scratch = 4 * channels;
        Self {
            clock: Default::default(),
            stage: Default::default(),
            src_is_stage: Default::default(),
            src_stage: Default::default(),
            src_scratch_b: Default::default(),
            post_spike: Default::default(),
            post_state: Default::default(),
            spikes_to_b: Default::default(),
            tile: Default::default(),
            tile_start: Default::default(),
            append: Default::default(),
            retire: Default::default(),
            src_base: Default::default(),
            src_count: Default::default(),
            stage_base: Default::default(),
            out_addr: Default::default(),
            c_nlog: Constant::new((channels.trailing_zeros() as u64).into()),
            c_scratch_a: Constant::new((scratch as u64).into()),
            c_scratch_b: Constant::new(((scratch + channels) as u64).into()),
            cnt0: Default::default(),
            cnt1: Default::default(),
            cnt2: Default::default(),
            cnt3: Default::default(),
            cnt_sa: Default::default(),
            cnt_sb: Default::default(),
            out_count: Default::default(),
            obase: Default::default(),
        }
    }

    /// First entry of the group table (after the stage and scratch lists).
    pub fn group_table(channels: usize) -> usize {
        6 * channels
    }
}

impl Logic for EventLists {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, cnt0, cnt1, cnt2, cnt3, cnt_sa, cnt_sb, out_count, obase);
        self.stage_base.next = bit_cast::<RAM_ADDR_BITS, 2>(self.stage.val()) << self.c_nlog.val();
        self.out_addr.next =
            self.obase.q.val() + bit_cast::<RAM_ADDR_BITS, 9>(self.out_count.q.val());
        // Stage l's list is the l-th of four lists of N entries.
        if self.src_is_stage.val() {
            self.src_base.next =
                bit_cast::<RAM_ADDR_BITS, 2>(self.src_stage.val()) << self.c_nlog.val();
            match self.src_stage.val().index() {
                0 => self.src_count.next = self.cnt0.q.val(),
                1 => self.src_count.next = self.cnt1.q.val(),
                2 => self.src_count.next = self.cnt2.q.val(),
                _ => self.src_count.next = self.cnt3.q.val(),
            }
        } else if self.src_scratch_b.val() {
            self.src_base.next = self.c_scratch_b.val();
            self.src_count.next = self.cnt_sb.q.val();
        } else {
            self.src_base.next = self.c_scratch_a.val();
            self.src_count.next = self.cnt_sa.q.val();
        }
        if self.append.val() {
            self.out_count.d.next = self.out_count.q.val() + 1;
        }
        if self.tile_start.val() {
            if !self.post_spike.val() {
                self.obase.d.next = self.stage_base.val();
            } else if self.spikes_to_b.val() {
                self.obase.d.next = self.c_scratch_b.val();
            } else {
                self.obase.d.next = self.c_scratch_a.val();
            }
            // Later tiles of a layer append to the list its first tile started.
            if !self.tile.val().any() {
                self.out_count.d.next = 0.into();
            }
        }
        if self.retire.val() {
            if self.post_spike.val() {
                if self.spikes_to_b.val() {
                    self.cnt_sb.d.next = self.out_count.q.val();
                } else {
                    self.cnt_sa.d.next = self.out_count.q.val();
                }
            } else if self.post_state.val() {
                match self.stage.val().index() {
                    0 => self.cnt0.d.next = self.out_count.q.val(),
                    1 => self.cnt1.d.next = self.out_count.q.val(),
                    2 => self.cnt2.d.next = self.out_count.q.val(),
                    _ => self.cnt3.d.next = self.out_count.q.val(),
                }
            }
        }
    }
}
