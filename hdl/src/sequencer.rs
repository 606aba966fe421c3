//! The layer sequencer: the core's state machine and its counters.
//!
//! It takes the host's commands (run, rewind, clear), steps through the
//! descriptor program once per timestep (forward) or per rewound timestep (rewind),
//! and for every descriptor walks a tile through its phases: fetch and decode the
//! descriptor, locate the source event list (through the group table for the input),
//! stream its events, let the last one reach the lanes, drain the lanes through the
//! neuron unit, wait for the unit to empty, retire. After the last timestep of a run it
//! hands the logit memory to the argmax. It owns the timestep counters, the reversible
//! state buffer's bases, the cycle counter and the status code; the memories stay in
//! the core, which it steers through strobes and addresses.

use rust_hdl::prelude::*;

use crate::contract_constants::core_status;

use revspike_proto::contract::CoreStatus;

use crate::host_port::STATUS_BITS;
use crate::sync_ram::RAM_ADDR_BITS;

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum Phase {
    Idle,
    ClearState,
    StepStart,
    Fetch,
    Decode,
    Group0,
    Group1,
    Group2,
    Stream,
    StreamTail,
    Drain,
    Flush,
    Retire,
    Argmax,
    Finish,
}

/// Where the sequencer's tables are, per build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequencerLayout {
    /// Lanes P (a power of two): tile k's first channel is k * P.
    pub lanes: usize,
    /// First entry of the group table in the event-list memory.
    pub group_table: usize,
    /// Turn-on membrane entries (4 stages x N).
    pub state_entries: usize,
}

#[derive(LogicBlock)]
pub struct Sequencer<const S: usize> {
    pub clock: Signal<In, Clock>,
    // Commands from the host port.
    pub run: Signal<In, Bit>,
    pub rewind: Signal<In, Bit>,
    pub clear: Signal<In, Bit>,
    /// With a conv stem unit (`S` = 1; none on a build without one): the stem runs
    /// before `run` (`stem_busy`), and its cycles are the run's, so the count goes on
    /// from them; `stem_start` (a pulse in the stem's first busy cycle) starts it at 1.
    /// A zero-length array leaves no trace in the Verilog, as in the core.
    pub stem_busy: [Signal<In, Bit>; S],
    pub stem_start: [Signal<In, Bit>; S],
    pub busy: Signal<Out, Bit>,
    /// Not busy: host writes, input bytes and commands are taken.
    pub idle: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub status: Signal<Out, Bits<STATUS_BITS>>,
    // The input compactor: a commit or an input abort (registered), and its verdict.
    pub input_commit: Signal<In, Bit>,
    pub input_abort: Signal<In, Bit>,
    pub input_ok: Signal<In, Bit>,
    pub input_status: Signal<In, Bits<STATUS_BITS>>,
    // Configuration.
    pub cfg_t: Signal<In, Bits<5>>,
    pub cfg_repeat: Signal<In, Bit>,
    pub cfg_classes: Signal<In, Bits<9>>,
    pub cfg_fwd: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub cfg_rev: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub cfg_stride: Signal<In, Bits<RAM_ADDR_BITS>>,
    // The decoded descriptor.
    pub last: Signal<In, Bit>,
    pub skip_first_step: Signal<In, Bit>,
    pub src_input: Signal<In, Bit>,
    pub tile: Signal<In, Bits<2>>,
    pub param_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub last_channel: Signal<In, Bits<8>>,
    /// The source event list (its base and length) of the decoded descriptor.
    pub src_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub src_count: Signal<In, Bits<9>>,
    /// The event-list memory's read-out (group-table entries).
    pub list_data: Signal<In, Bits<16>>,
    /// The neuron unit still holds or outputs a channel.
    pub neuron_busy: Signal<In, Bit>,

    // State the datapath reads.
    pub t: Signal<Out, Bits<5>>,
    pub t_done: Signal<Out, Bits<5>>,
    /// t == 0 going forward: the previous membrane is the zero state.
    pub first_step: Signal<Out, Bit>,
    pub cycles: Signal<Out, Bits<32>>,
    /// The reversible state buffer's push and pop bases.
    pub push_base: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub rev_base: Signal<Out, Bits<RAM_ADDR_BITS>>,
    // Strobes and addresses.
    /// The descriptor row's address, read while `fetch` is high.
    pub pc: Signal<Out, Bits<RAM_ADDR_BITS>>,
    /// Fetch: the row memory is read at `pc`.
    pub fetch: Signal<Out, Bit>,
    /// Decode: the decoder takes the row, the lanes clear.
    pub decode: Signal<Out, Bit>,
    /// A tile starts (its output list is set up).
    pub tile_start: Signal<Out, Bit>,
    /// A tile retires (its output list's length is kept).
    pub retire: Signal<Out, Bit>,
    /// Group-table read at `list_addr`, else the stream's read at `ev_ptr`.
    pub list_read: Signal<Out, Bit>,
    pub list_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub ev_ptr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    /// The entry at `ev_ptr` is an event of the stream.
    pub ev_fetch: Signal<Out, Bit>,
    /// Drain: the lanes are read one a cycle, the neuron unit takes channel `ch`; its
    /// parameter row is read at `param_addr`.
    pub draining: Signal<Out, Bit>,
    pub ch: Signal<Out, Bits<9>>,
    pub param_read: Signal<Out, Bit>,
    pub param_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    /// Zero the turn-on membrane at `index`.
    pub state_clear: Signal<Out, Bit>,
    /// Argmax: the logit memory is read at `index >> 1`, one class every second cycle.
    pub argmax: Signal<Out, Bit>,
    pub index: Signal<Out, Bits<RAM_ADDR_BITS>>,

    c_plog: Constant<Bits<4>>,
    c_gt: Constant<Bits<RAM_ADDR_BITS>>,
    // Last turn-on state entry: ClearState compares with it instead of adding one first.
    c_clast: Constant<Bits<RAM_ADDR_BITS>>,
    sc_ok: Constant<Bits<STATUS_BITS>>,
    sc_no_input: Constant<Bits<STATUS_BITS>>,
    sc_nothing_to_rewind: Constant<Bits<STATUS_BITS>>,

    phase: DFF<Phase>,
    // Set while out of Idle: `idle` straight from a flip-flop rather than decoded from
    // the phase, since every host-port path is gated by it.
    active: DFF<Bit>,
    // run / rewind / clear taken while idle, acted on one cycle later: the Idle arm's
    // many register enables then start at a flip-flop, not at the host port.
    run_q: DFF<Bit>,
    rewind_q: DFF<Bit>,
    clear_q: DFF<Bit>,
    rewinding: DFF<Bit>,
    t_r: DFF<Bits<5>>,
    t_done_r: DFF<Bits<5>>,
    // t + 1 == T, registered: t and T settle long before Retire and the drain look.
    t_last: DFF<Bit>,
    // t == 0 going forward, registered: t and the direction change in Idle and Retire,
    // and every use (Group2, the drain, the neuron unit's outputs) comes cycles later.
    first_step_r: DFF<Bit>,
    pc_r: DFF<Bits<RAM_ADDR_BITS>>,
    push_base_r: DFF<Bits<RAM_ADDR_BITS>>,
    rev_base_r: DFF<Bits<RAM_ADDR_BITS>>,
    cycles_r: DFF<Bits<32>>,
    stat: DFF<Bits<STATUS_BITS>>,
    commit_seen: DFF<Bit>,
    done_r: DFF<Bit>,
    idx: DFF<Bits<RAM_ADDR_BITS>>,
    tail: DFF<Bits<2>>,
    // The tile's first channel (where the drain's channel count starts).
    c0: DFF<Bits<9>>,
    ev_ptr_r: DFF<Bits<RAM_ADDR_BITS>>,
    // The stream's last entry (its end minus one), so Stream's end test compares two
    // flip-flop words instead of waiting for `ev_ptr + 1`'s carry chain.
    ev_last: DFF<Bits<RAM_ADDR_BITS>>,
    // ev_ptr == the stream's end, registered: set in Group0 / Group2 and after every
    // fetch, so Stream's decision is one flip-flop, not a compare feeding the phase
    // enable.
    at_end: DFF<Bit>,
    // ev_ptr + 1 at the pointer's width: where the stream reads next (it wraps with the
    // pointer).
    ev_next: Signal<Local, Bits<RAM_ADDR_BITS>>,
    // d.param_base + ch, counted beside ch: the parameter row address without an adder.
    paddr: DFF<Bits<RAM_ADDR_BITS>>,
    ch_r: DFF<Bits<9>>,
    // ch == the layer's last channel, registered the same way as `at_end`.
    ch_at_last: DFF<Bit>,
    ch_next: Signal<Local, Bits<9>>,
    // Set exactly while the phase is Drain: the lanes' drain step and
    // the neuron unit's valid then come from one flip-flop, not a phase decode.
    draining_r: DFF<Bit>,
    // Set exactly while the phase is Fetch, for the same reason: it picks the row
    // memory's address.
    fetch_r: DFF<Bit>,
    group: Signal<Local, Bits<RAM_ADDR_BITS>>,
    // Argmax end: 2 * classes + 1, the cycle the last class's compare is taken.
    am_last: Signal<Local, Bits<RAM_ADDR_BITS>>,
}

impl<const S: usize> Sequencer<S> {
    pub fn new(layout: SequencerLayout) -> Self {
        assert!(layout.lanes.is_power_of_two());
        Self {
            clock: Default::default(),
            run: Default::default(),
            stem_busy: array_init::array_init(|_| Default::default()),
            stem_start: array_init::array_init(|_| Default::default()),
            rewind: Default::default(),
            clear: Default::default(),
            busy: Default::default(),
            idle: Default::default(),
            done: Default::default(),
            status: Default::default(),
            input_commit: Default::default(),
            input_abort: Default::default(),
            input_ok: Default::default(),
            input_status: Default::default(),
            cfg_t: Default::default(),
            cfg_repeat: Default::default(),
            cfg_classes: Default::default(),
            cfg_fwd: Default::default(),
            cfg_rev: Default::default(),
            cfg_stride: Default::default(),
            last: Default::default(),
            skip_first_step: Default::default(),
            src_input: Default::default(),
            tile: Default::default(),
            param_base: Default::default(),
            last_channel: Default::default(),
            src_base: Default::default(),
            src_count: Default::default(),
            list_data: Default::default(),
            neuron_busy: Default::default(),
            t: Default::default(),
            t_done: Default::default(),
            first_step: Default::default(),
            cycles: Default::default(),
            push_base: Default::default(),
            rev_base: Default::default(),
            pc: Default::default(),
            fetch: Default::default(),
            decode: Default::default(),
            tile_start: Default::default(),
            retire: Default::default(),
            list_read: Default::default(),
            list_addr: Default::default(),
            ev_ptr: Default::default(),
            ev_fetch: Default::default(),
            draining: Default::default(),
            ch: Default::default(),
            param_read: Default::default(),
            param_addr: Default::default(),
            state_clear: Default::default(),
            argmax: Default::default(),
            index: Default::default(),
            c_plog: Constant::new((layout.lanes.trailing_zeros() as u64).into()),
            c_gt: Constant::new((layout.group_table as u64).into()),
            c_clast: Constant::new(((layout.state_entries - 1) as u64).into()),
            sc_ok: core_status(None),
            sc_no_input: core_status(Some(CoreStatus::NoInput)),
            sc_nothing_to_rewind: core_status(Some(CoreStatus::NothingToRewind)),
            phase: Default::default(),
            active: Default::default(),
            run_q: Default::default(),
            rewind_q: Default::default(),
            clear_q: Default::default(),
            rewinding: Default::default(),
            t_r: Default::default(),
            t_done_r: Default::default(),
            t_last: Default::default(),
            first_step_r: Default::default(),
            pc_r: Default::default(),
            push_base_r: Default::default(),
            rev_base_r: Default::default(),
            cycles_r: Default::default(),
            stat: Default::default(),
            commit_seen: Default::default(),
            done_r: Default::default(),
            idx: Default::default(),
            tail: Default::default(),
            c0: Default::default(),
            ev_ptr_r: Default::default(),
            ev_last: Default::default(),
            at_end: Default::default(),
            ev_next: Default::default(),
            paddr: Default::default(),
            ch_r: Default::default(),
            ch_at_last: Default::default(),
            ch_next: Default::default(),
            draining_r: Default::default(),
            fetch_r: Default::default(),
            group: Default::default(),
            am_last: Default::default(),
        }
    }
}

impl<const S: usize> Logic for Sequencer<S> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            phase,
            active,
            run_q,
            rewind_q,
            clear_q,
            rewinding,
            t_r,
            t_done_r,
            t_last,
            first_step_r,
            pc_r,
            push_base_r,
            rev_base_r,
            cycles_r,
            stat,
            commit_seen,
            done_r,
            idx,
            tail,
            c0,
            ev_ptr_r,
            ev_last,
            at_end,
            paddr,
            ch_r,
            ch_at_last,
            draining_r,
            fetch_r
        );
        self.busy.next = self.active.q.val();
        self.idle.next = !self.active.q.val();
        self.done.next = self.done_r.q.val();
        self.done_r.d.next = false;
        self.status.next = self.stat.q.val();
        self.t.next = self.t_r.q.val();
        self.t_done.next = self.t_done_r.q.val();
        self.first_step.next = self.first_step_r.q.val();
        self.cycles.next = self.cycles_r.q.val();
        self.push_base.next = self.push_base_r.q.val();
        self.rev_base.next = self.rev_base_r.q.val();
        self.pc.next = self.pc_r.q.val();
        self.fetch.next = self.fetch_r.q.val();
        self.ev_ptr.next = self.ev_ptr_r.q.val();
        self.draining.next = self.draining_r.q.val();
        self.ch.next = self.ch_r.q.val();
        self.param_addr.next = self.paddr.q.val();
        self.index.next = self.idx.q.val();
        self.decode.next = self.phase.q.val() == Phase::Decode;
        self.tile_start.next = self.phase.q.val() == Phase::Group0;
        self.retire.next = self.phase.q.val() == Phase::Retire;
        self.param_read.next = self.draining_r.q.val();
        self.state_clear.next = self.phase.q.val() == Phase::ClearState;
        self.argmax.next = self.phase.q.val() == Phase::Argmax;
        // The input group of this timestep (group 0 for every step when repeated).
        if self.cfg_repeat.val() {
            self.group.next = 0.into();
        } else {
            self.group.next = bit_cast::<RAM_ADDR_BITS, 5>(self.t_r.q.val());
        }
        self.list_read.next = false;
        self.list_addr.next = self.c_gt.val() + self.group.val();
        self.ev_fetch.next = false;
        self.ev_next.next = self.ev_ptr_r.q.val() + 1;
        self.ch_next.next = self.ch_r.q.val() + 1;

        self.run_q.d.next = self.run.val() & !self.active.q.val();
        self.rewind_q.d.next = self.rewind.val() & !self.active.q.val();
        self.clear_q.d.next = self.clear.val() & !self.active.q.val();
        self.first_step_r.d.next = (self.t_r.q.val() == 0) & !self.rewinding.q.val();
        self.t_last.d.next = self.t_r.q.val() + 1 == self.cfg_t.val();
        self.commit_seen.d.next = self.input_commit.val();
        if self.commit_seen.q.val() {
            // The compactor's verdict is registered one cycle after the commit.
            self.stat.d.next = self.input_status.val();
        }
        if self.input_abort.val() {
            self.stat.d.next = self.sc_no_input.val();
        }
        // A new sample, kept or refused, has replaced the one the turn-on state was run
        // on (a refused one may have overwritten part of its event lists): no timestep
        // of the sample in memory is done, so there is nothing to rewind. Rewinding
        // with another sample's events would be silently wrong.
        if self.input_commit.val() | self.input_abort.val() {
            self.t_done_r.d.next = 0.into();
        }
        if self.phase.q.val() != Phase::Idle {
            self.cycles_r.d.next = self.cycles_r.q.val() + 1;
        }
        for i in 0..S {
            if self.stem_busy[i].val() {
                self.cycles_r.d.next = self.cycles_r.q.val() + 1;
            }
        }
        self.am_last.next = (bit_cast::<RAM_ADDR_BITS, 9>(self.cfg_classes.val()) << 1) | 1;

        match self.phase.q.val() {
            Phase::Idle => {
                if self.run_q.q.val() {
                    self.cycles_r.d.next = 0.into();
                    // After a stem, the count goes on.
                    for i in 0..S {
                        if self.stem_busy[i].val() {
                            self.cycles_r.d.next = self.cycles_r.q.val() + 1;
                        }
                    }
                    if self.input_ok.val() {
                        self.t_r.d.next = 0.into();
                        self.t_done_r.d.next = 0.into();
                        self.push_base_r.d.next = 0.into();
                        self.rewinding.d.next = false;
                        self.stat.d.next = self.sc_ok.val();
                        self.active.d.next = true;
                        self.phase.d.next = Phase::StepStart;
                    } else {
                        self.stat.d.next = self.sc_no_input.val();
                        self.done_r.d.next = true;
                    }
                } else if self.rewind_q.q.val() {
                    self.cycles_r.d.next = 0.into();
                    if self.t_done_r.q.val() == 0 {
                        self.stat.d.next = self.sc_nothing_to_rewind.val();
                        self.done_r.d.next = true;
                    } else if self.t_done_r.q.val() == 1 {
                        // Rewinding from t = 0 gives the all-zero initial state.
                        self.stat.d.next = self.sc_ok.val();
                        self.idx.d.next = 0.into();
                        self.active.d.next = true;
                        self.phase.d.next = Phase::ClearState;
                    } else {
                        self.stat.d.next = self.sc_ok.val();
                        self.active.d.next = true;
                        self.rewinding.d.next = true;
                        self.t_r.d.next = self.t_done_r.q.val() - 1;
                        self.phase.d.next = Phase::StepStart;
                    }
                } else if self.clear_q.q.val() {
                    self.cycles_r.d.next = 0.into();
                    self.stat.d.next = self.sc_ok.val();
                    self.idx.d.next = 0.into();
                    self.active.d.next = true;
                    self.phase.d.next = Phase::ClearState;
                }
            }
            Phase::ClearState => {
                self.idx.d.next = self.idx.q.val() + 1;
                if self.idx.q.val() == self.c_clast.val() {
                    self.t_done_r.d.next = 0.into();
                    self.phase.d.next = Phase::Finish;
                }
            }
            Phase::StepStart => {
                if self.rewinding.q.val() {
                    self.pc_r.d.next = self.cfg_rev.val();
                } else {
                    self.pc_r.d.next = self.cfg_fwd.val();
                }
                self.fetch_r.d.next = true;
                self.phase.d.next = Phase::Fetch;
            }
            Phase::Fetch => {
                // The descriptor row is read at pc.
                self.fetch_r.d.next = false;
                self.phase.d.next = Phase::Decode;
            }
            Phase::Decode => {
                self.phase.d.next = Phase::Group0;
            }
            Phase::Group0 => {
                // What the drain needs is derived from the latched descriptor here, a
                // cycle after the row memory's read-out and bank multiplexer.
                self.c0.d.next = bit_cast::<9, 2>(self.tile.val()) << self.c_plog.val();
                // Locate the source event list (and the input group's start).
                self.list_read.next = true;
                self.ev_ptr_r.d.next = self.src_base.val();
                self.ev_last.d.next =
                    self.src_base.val() + bit_cast::<RAM_ADDR_BITS, 9>(self.src_count.val()) - 1;
                // A list stream starts at its base: it is over when the list is empty
                // (an input group's end is known in Group2).
                self.at_end.d.next = !self.src_count.val().any();
                self.phase.d.next = Phase::Group1;
            }
            Phase::Group1 => {
                // The input group's end; its start is on the read-out.
                self.list_read.next = true;
                self.list_addr.next = self.c_gt.val() + self.group.val() + 1;
                if self.src_input.val() {
                    self.ev_ptr_r.d.next = self.list_data.val().get_bits::<RAM_ADDR_BITS>(0);
                }
                self.phase.d.next = Phase::Group2;
            }
            Phase::Group2 => {
                if self.src_input.val() {
                    self.ev_last.d.next = self.list_data.val().get_bits::<RAM_ADDR_BITS>(0) - 1;
                    self.at_end.d.next =
                        self.ev_ptr_r.q.val() == self.list_data.val().get_bits::<RAM_ADDR_BITS>(0);
                }
                if self.skip_first_step.val() & self.first_step_r.q.val() {
                    // An up-connection at t = 0 contributes nothing; its post op still runs.
                    self.tail.d.next = 0.into();
                    self.phase.d.next = Phase::StreamTail;
                } else {
                    self.phase.d.next = Phase::Stream;
                }
            }
            Phase::Stream => {
                // ev_ptr + 1 == end exactly when ev_ptr == end - 1 (both wrap).
                self.at_end.d.next = self.ev_ptr_r.q.val() == self.ev_last.q.val();
                if self.at_end.q.val() {
                    self.tail.d.next = 0.into();
                    self.phase.d.next = Phase::StreamTail;
                } else {
                    self.ev_fetch.next = true;
                    self.ev_ptr_r.d.next = self.ev_next.val();
                }
            }
            Phase::StreamTail => {
                // The last entry is still on its way to the lanes: registered out of
                // its list, read out of the row memory, registered at the PE array's
                // input, added. The first shift comes after that add.
                self.tail.d.next = self.tail.q.val() + 1;
                if self.tail.q.val() == 2 {
                    self.ch_r.d.next = self.c0.q.val();
                    self.ch_at_last.d.next =
                        self.c0.q.val() == bit_cast::<9, 8>(self.last_channel.val());
                    self.paddr.d.next = self.param_base.val();
                    self.draining_r.d.next = true;
                    self.phase.d.next = Phase::Drain;
                }
            }
            Phase::Drain => {
                self.paddr.d.next = self.paddr.q.val() + 1;
                self.ch_r.d.next = self.ch_next.val();
                self.ch_at_last.d.next =
                    self.ch_next.val() == bit_cast::<9, 8>(self.last_channel.val());
                if self.ch_at_last.q.val() {
                    self.draining_r.d.next = false;
                    self.phase.d.next = Phase::Flush;
                }
            }
            Phase::Flush => {
                if !self.neuron_busy.val() {
                    self.phase.d.next = Phase::Retire;
                }
            }
            Phase::Retire => {
                if self.last.val() {
                    if self.rewinding.q.val() {
                        self.t_done_r.d.next = self.t_done_r.q.val() - 1;
                        self.rev_base_r.d.next = self.rev_base_r.q.val() - self.cfg_stride.val();
                        self.phase.d.next = Phase::Finish;
                    } else {
                        if self.t_r.q.val() != 0 {
                            self.rev_base_r.d.next = self.push_base_r.q.val();
                            self.push_base_r.d.next =
                                self.push_base_r.q.val() + self.cfg_stride.val();
                        }
                        self.t_r.d.next = self.t_r.q.val() + 1;
                        self.t_done_r.d.next = self.t_r.q.val() + 1;
                        if self.t_last.q.val() {
                            self.idx.d.next = 0.into();
                            self.phase.d.next = Phase::Argmax;
                        } else {
                            self.phase.d.next = Phase::StepStart;
                        }
                    }
                } else {
                    self.pc_r.d.next = self.pc_r.q.val() + 1;
                    self.fetch_r.d.next = true;
                    self.phase.d.next = Phase::Fetch;
                }
            }
            Phase::Argmax => {
                self.idx.d.next = self.idx.q.val() + 1;
                if self.idx.q.val() == self.am_last.val() {
                    self.phase.d.next = Phase::Finish;
                }
            }
            Phase::Finish => {
                self.done_r.d.next = true;
                self.active.d.next = false;
                self.phase.d.next = Phase::Idle;
            }
        }
        for i in 0..S {
            if self.stem_start[i].val() {
                // The stem's first busy cycle, counted.
                self.cycles_r.d.next = 1.into();
            }
        }
    }
}
