//! The input compactor: turns the host's raw input bytes into event lists.
//!
//! The host streams a sample as plain u8 values, group after group. Zero values are
//! dropped here, once, so the processing array never sees them: each nonzero value is
//! stored as an event `(index low byte, value)`. Indices past 255 within a group are
//! reached through page markers (value 0, low byte = page), which cost one memory entry
//! per 256 inputs. The start of each group is written to the group table so the
//! controller can jump to group t directly, also when rewinding.
//!
//! `value_valid` may be asserted at most every second cycle: a page marker and an event
//! can fall due together, and the marker takes the extra cycle; the tests of the group
//! position are registered and settle the cycle after each value (`start` sets them for
//! the first). The UART is 250 times slower than that.

use rust_hdl::prelude::*;

use crate::contract_constants::core_status;

use revspike_proto::contract::CoreStatus;

use crate::host_port::STATUS_BITS;
use crate::sync_ram::RAM_ADDR_BITS;

#[derive(LogicBlock)]
pub struct InputCompactor {
    pub clock: Signal<In, Clock>,
    /// Values per group (G) and groups expected in the sample (T for split, 1 for repeat).
    pub group_len: Signal<In, Bits<11>>,
    pub groups: Signal<In, Bits<5>>,
    /// Entries the input memory holds.
    pub capacity: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub start: Signal<In, bool>,
    pub value_valid: Signal<In, bool>,
    pub value: Signal<In, Bits<8>>,
    /// `value != 0`, registered with `value` by the driver: whether a value writes
    /// decides the write enable, which then starts at a flip-flop.
    pub value_nz: Signal<In, bool>,
    pub commit: Signal<In, bool>,
    pub abort: Signal<In, bool>,
    /// Event-memory write port.
    pub ev_we: Signal<Out, bool>,
    pub ev_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub ev_data: Signal<Out, Bits<16>>,
    /// Group-table write port: entry `gt_index` = first event of that group; entry
    /// `groups` = one past the last event.
    pub gt_we: Signal<Out, bool>,
    pub gt_index: Signal<Out, Bits<5>>,
    pub gt_data: Signal<Out, Bits<RAM_ADDR_BITS>>,
    /// The last committed sample is complete and usable.
    pub input_ok: Signal<Out, bool>,
    /// Status of the last commit: ok, InputLength or InputTooLarge.
    pub status: Signal<Out, Bits<STATUS_BITS>>,
    pub entries: Signal<Out, Bits<RAM_ADDR_BITS>>,
    wptr: DFF<Bits<RAM_ADDR_BITS>>,
    in_group: DFF<Bits<11>>,
    group: DFF<Bits<5>>,
    total_groups: DFF<Bits<6>>,
    overflow: DFF<bool>,
    pending: DFF<bool>,
    pending_data: DFF<Bits<16>>,
    ok: DFF<bool>,
    stat: DFF<Bits<STATUS_BITS>>,
    receiving: DFF<bool>,
    // Tests of in_group / total_groups, registered: they settle the cycle after a value,
    // and the next value (or the commit) comes no sooner than the cycle after that.
    // The next value opens a page (needs a marker first).
    page_r: DFF<bool>,
    // The next value is the last of its group.
    glast_r: DFF<bool>,
    // A commit now would find a partial group or the wrong number of groups.
    len_bad_r: DFF<bool>,
    sc_ok: Constant<Bits<STATUS_BITS>>,
    sc_length: Constant<Bits<STATUS_BITS>>,
    sc_too_large: Constant<Bits<STATUS_BITS>>,
}

impl Default for InputCompactor {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            group_len: Default::default(),
            groups: Default::default(),
            capacity: Default::default(),
            start: Default::default(),
            value_valid: Default::default(),
            value: Default::default(),
            value_nz: Default::default(),
            commit: Default::default(),
            abort: Default::default(),
            ev_we: Default::default(),
            ev_addr: Default::default(),
            ev_data: Default::default(),
            gt_we: Default::default(),
            gt_index: Default::default(),
            gt_data: Default::default(),
            input_ok: Default::default(),
            status: Default::default(),
            entries: Default::default(),
            wptr: Default::default(),
            in_group: Default::default(),
            group: Default::default(),
            total_groups: Default::default(),
            overflow: Default::default(),
            pending: Default::default(),
            pending_data: Default::default(),
            ok: Default::default(),
            stat: Default::default(),
            receiving: Default::default(),
            page_r: Default::default(),
            glast_r: Default::default(),
            len_bad_r: Default::default(),
            sc_ok: core_status(None),
            sc_length: core_status(Some(CoreStatus::InputLength)),
            sc_too_large: core_status(Some(CoreStatus::InputTooLarge)),
        }
    }
}

impl Logic for InputCompactor {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            wptr,
            in_group,
            group,
            total_groups,
            overflow,
            pending,
            pending_data,
            ok,
            stat,
            receiving,
            page_r,
            glast_r,
            len_bad_r
        );
        self.page_r.d.next = (self.in_group.q.val().get_bits::<8>(0) == 0)
            & self.in_group.q.val().get_bits::<3>(8).any();
        self.glast_r.d.next = self.in_group.q.val() + 1 == self.group_len.val();
        self.len_bad_r.d.next = (self.in_group.q.val() != 0)
            | (self.total_groups.q.val() != bit_cast::<6, 5>(self.groups.val()));
        self.ev_we.next = false;
        self.ev_addr.next = self.wptr.q.val();
        self.ev_data.next = self.pending_data.q.val();
        self.gt_we.next = false;
        self.gt_index.next = self.group.q.val();
        self.gt_data.next = self.wptr.q.val();
        self.input_ok.next = self.ok.q.val();
        self.status.next = self.stat.q.val();
        self.entries.next = self.wptr.q.val();

        if self.start.val() {
            self.wptr.d.next = 0.into();
            self.in_group.d.next = 0.into();
            self.group.d.next = 0.into();
            self.total_groups.d.next = 0.into();
            self.overflow.d.next = false;
            self.pending.d.next = false;
            self.ok.d.next = false;
            self.receiving.d.next = true;
            // The registered tests, for in_group = 0 and no groups yet: the first value
            // may come right after start.
            self.page_r.d.next = false;
            self.glast_r.d.next = self.group_len.val() == 1;
            self.len_bad_r.d.next = self.groups.val() != 0;
            // Group 0 starts at entry 0.
            self.gt_we.next = true;
            self.gt_index.next = 0.into();
            self.gt_data.next = 0.into();
        } else if self.pending.q.val() {
            // The event held back behind a page marker.
            self.pending.d.next = false;
            if self.wptr.q.val() < self.capacity.val() {
                self.ev_we.next = true;
                self.wptr.d.next = self.wptr.q.val() + 1;
            } else {
                self.overflow.d.next = true;
            }
        } else if self.value_valid.val() & self.receiving.q.val() {
            if self.value_nz.val() {
                if self.page_r.q.val() {
                    // First value of a new page: marker now, event next cycle.
                    self.ev_data.next =
                        bit_cast::<16, 3>(self.in_group.q.val().get_bits::<3>(8)) << 8;
                    self.pending.d.next = true;
                    self.pending_data.d.next =
                        (bit_cast::<16, 8>(self.in_group.q.val().get_bits::<8>(0)) << 8)
                            | bit_cast::<16, 8>(self.value.val());
                } else {
                    self.ev_data.next = (bit_cast::<16, 8>(self.in_group.q.val().get_bits::<8>(0))
                        << 8)
                        | bit_cast::<16, 8>(self.value.val());
                }
                if self.wptr.q.val() < self.capacity.val() {
                    self.ev_we.next = true;
                    self.wptr.d.next = self.wptr.q.val() + 1;
                } else {
                    self.overflow.d.next = true;
                }
            } else if self.page_r.q.val() {
                // Zero value on a page boundary: the marker is still needed for later events.
                self.ev_data.next = bit_cast::<16, 3>(self.in_group.q.val().get_bits::<3>(8)) << 8;
                if self.wptr.q.val() < self.capacity.val() {
                    self.ev_we.next = true;
                    self.wptr.d.next = self.wptr.q.val() + 1;
                } else {
                    self.overflow.d.next = true;
                }
            }
            if self.glast_r.q.val() {
                // Group complete: the next group starts after this value's entries.
                self.in_group.d.next = 0.into();
                self.group.d.next = self.group.q.val() + 1;
                self.total_groups.d.next = self.total_groups.q.val() + 1;
            } else {
                self.in_group.d.next = self.in_group.q.val() + 1;
            }
        } else if self.commit.val() {
            self.receiving.d.next = false;
            if self.overflow.q.val() {
                self.stat.d.next = self.sc_too_large.val();
                self.ok.d.next = false;
            } else if self.len_bad_r.q.val() {
                self.stat.d.next = self.sc_length.val();
                self.ok.d.next = false;
            } else {
                self.stat.d.next = self.sc_ok.val();
                self.ok.d.next = true;
            }
        } else if self.abort.val() {
            self.receiving.d.next = false;
            self.ok.d.next = false;
        }
        // A completed group's end is the next group's start; written once the entries of
        // the group's last value (and a held-back event) are in.
        if !self.start.val()
            & !self.pending.q.val()
            & (self.group.q.val() != 0)
            & (self.in_group.q.val() == 0)
            & !self.gt_we.val()
        {
            self.gt_we.next = true;
            self.gt_index.next = self.group.q.val();
            self.gt_data.next = self.wptr.q.val();
        }
    }
}
