//! The spiking core: the memories and the datapath around the processing-element
//! array and the neuron unit, steered by the sequencer.
//!
//! The core runs a small program of layer descriptors (rows of the unified row memory,
//! written by the host; see `revspike_proto::image`). Per descriptor it streams the
//! nonzero events of its source through the PE array (one per cycle), then drains the
//! lanes through the neuron unit (one channel per cycle), whose post operation writes
//! the next event list, the turn-on membranes and the reversible state buffer.
//! The forward program runs once per timestep; the rewind program (stages top-down,
//! with the inverse turn-on update) runs once per rewound timestep.
//!
//! Blocks (docs/architecture.md): the [`Sequencer`] (phases and counters), the
//! [`DescriptorDecoder`], the [`HostRegisters`] (the host port's address map), the
//! [`EventLists`] (which list a tile reads and writes) and the [`Argmax`]; this block
//! holds the memories, the input port and the event stream, and wires them.

use rust_hdl::prelude::*;

use crate::argmax::Argmax;
use crate::descriptor_decoder::{DescriptorDecoder, DESC_BITS};
use crate::event_lists::EventLists;
use crate::host_port::HostPort;
use crate::host_registers::HostRegisters;
use crate::input_compactor::InputCompactor;
use crate::neuron_unit::NeuronUnit;
use crate::pe_array::PeArray;
use crate::row_memory::RowMemory;
use crate::sequencer::{Sequencer, SequencerLayout};
use crate::state_buffer::StateBuffer;
use crate::stem_unit::StemUnit;
use crate::sync_ram::{SyncRam, RAM_ADDR_BITS};

/// Memory sizes of one core instance (entries; all powers of two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreMemories {
    pub rows: usize,
    pub input_entries: usize,
    pub state_buffer_entries: usize,
    /// Channels N: the widest stage and the most classes (a power of two, P..=4P).
    pub channels: usize,
    /// Entries of the z memory: N, and the conv stem's bitmaps on a build with a stem.
    pub z_entries: usize,
}

/// `S` is 1 on a build with a conv stem unit ([`StemUnit`]), 0 without: a build without
/// one has exactly the core it had before the stem existed (every stem connection sits
/// in a loop over the `stem` array, which a zero-length array leaves out of the Verilog).
#[derive(LogicBlock)]
pub struct SpikingCore<const P: usize, const W: usize, const S: usize> {
    pub clock: Signal<In, Clock>,
    /// The host port (docs/architecture.md).
    pub host: HostPort,

    // Memories.
    pub rowmem: RowMemory<W>,
    pub inmem: SyncRam<Bits<16>>,
    pub evmem: SyncRam<Bits<16>>,
    pub zmem: SyncRam<Bits<16>>,
    pub lmem: SyncRam<Bits<32>>,
    pub cmem: SyncRam<Bits<16>>,
    pub state_buffer: StateBuffer,
    // Control.
    pub seq: Sequencer<S>,
    pub dec: DescriptorDecoder,
    pub regs: HostRegisters<W>,
    pub lists: EventLists,
    pub argmax: Argmax,
    // Datapath.
    pub pe: PeArray<P, W>,
    pub neuron: NeuronUnit,
    pub compactor: InputCompactor,
    pub stem: [StemUnit; S],

    // The group table's first entry in the event-list memory; input memory entries.
    c_gt: Constant<Bits<RAM_ADDR_BITS>>,
    c_inputs: Constant<Bits<RAM_ADDR_BITS>>,
    // The threshold ring's first word in the logits memory, past the logits.
    c_thr_ring: Constant<Bits<RAM_ADDR_BITS>>,
    thr_ring: Signal<Local, Bit>,

    // The input port, gated by idle and registered before the compactor: its per-value
    // decisions then start at flip-flops (values come at most every second cycle).
    cin_start: DFF<Bit>,
    cin_valid: DFF<Bit>,
    cin_byte: DFF<Bits<8>>,
    // The value's nonzero test, registered with it: it decides whether the value
    // writes at all, so it is not left in front of the compactor's write enable.
    cin_nz: DFF<Bit>,
    cin_commit: DFF<Bit>,
    cin_abort: DFF<Bit>,
    // The compactor's event writes, registered before the input-event memory: its
    // per-value decisions (value, page marker, room left) then end at flip-flops,
    // not at the far EBR's write enable. The memory is read only after the commit,
    // which comes later than the last value.
    ev_we_r: DFF<Bit>,
    ev_addr_r: DFF<Bits<RAM_ADDR_BITS>>,
    ev_data_r: DFF<Bits<16>>,
    // Event stream pipeline.
    a1_valid: DFF<Bit>,
    /// The event entry, registered out of its memory before it addresses the row memory.
    e_entry: DFF<Bits<16>>,
    a2_valid: DFF<Bit>,
    a2_x: DFF<Bits<8>>,
    // weight base + page * 256, kept up to date instead of page: the row address of an
    // event is then one add from flip-flops.
    wbp: DFF<Bits<RAM_ADDR_BITS>>,
    // The entry's value is nonzero (an event, not a page marker), tested as it is
    // registered; e_event / e_marker are that test and the entry's valid together.
    e_event: DFF<Bit>,
    e_marker: DFF<Bit>,
    entry: Signal<Local, Bits<16>>,
    spike_write: Signal<Local, Bit>,
}

impl<const P: usize, const W: usize, const S: usize> SpikingCore<P, W, S> {
    pub fn new(mem: CoreMemories) -> Self {
        assert!(S <= 1);
        assert!(P.is_power_of_two() && (8..=256).contains(&P));
        assert!(W == P.max(64));
        let n = mem.channels;
        // Up to 4 tiles of P channels, all of them in one weight row, below 256.
        assert!(n.is_power_of_two() && n >= P && n <= 4 * P && n <= W && n <= 128);
        let gt = EventLists::group_table(n);
        let evdepth = (gt + 32).next_power_of_two();
        Self {
            clock: Default::default(),
            host: Default::default(),
            rowmem: RowMemory::new(mem.rows),
            inmem: SyncRam::new(mem.input_entries),
            evmem: SyncRam::new(evdepth),
            zmem: SyncRam::new(mem.z_entries),
            // The logits below n, the neuron unit's threshold ring at n (same EBRs).
            lmem: SyncRam::new(2 * n),
            cmem: SyncRam::new(4 * n),
            state_buffer: StateBuffer::new(mem.state_buffer_entries),
            seq: Sequencer::new(SequencerLayout {
                lanes: P,
                group_table: gt,
                state_entries: 4 * n,
            }),
            dec: Default::default(),
            regs: Default::default(),
            lists: EventLists::new(n),
            argmax: Default::default(),
            pe: Default::default(),
            neuron: Default::default(),
            compactor: Default::default(),
            stem: array_init::array_init(|_| StemUnit::new(n)),
            c_gt: Constant::new((gt as u64).into()),
            c_inputs: Constant::new((mem.input_entries as u64).into()),
            c_thr_ring: Constant::new((n as u64).into()),
            thr_ring: Default::default(),
            cin_start: Default::default(),
            cin_valid: Default::default(),
            cin_byte: Default::default(),
            cin_nz: Default::default(),
            cin_commit: Default::default(),
            cin_abort: Default::default(),
            ev_we_r: Default::default(),
            ev_addr_r: Default::default(),
            ev_data_r: Default::default(),
            a1_valid: Default::default(),
            e_entry: Default::default(),
            a2_valid: Default::default(),
            a2_x: Default::default(),
            wbp: Default::default(),
            e_event: Default::default(),
            e_marker: Default::default(),
            entry: Default::default(),
            spike_write: Default::default(),
        }
    }
}

impl<const P: usize, const W: usize, const S: usize> Logic for SpikingCore<P, W, S> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, cin_start, cin_valid, cin_byte, cin_nz, cin_commit, cin_abort, ev_we_r,
            ev_addr_r, ev_data_r, a1_valid, e_entry, a2_valid, a2_x, wbp, e_event, e_marker
        );
        clock!(
            self,
            clock,
            rowmem,
            inmem,
            evmem,
            zmem,
            lmem,
            cmem,
            state_buffer,
            seq,
            dec,
            regs,
            lists,
            argmax,
            pe,
            neuron,
            compactor
        );

        // ---- Host port: commands to the sequencer, words to the register file -------
        self.seq.run.next = self.host.run.val();
        self.seq.rewind.next = self.host.rewind.val();
        self.seq.clear.next = self.host.clear.val();
        self.host.busy.next = self.seq.busy.val();
        self.host.done.next = self.seq.done.val();
        self.host.status.next = self.seq.status.val();
        self.host.rdata.next = self.regs.rdata.val();
        self.regs.idle.next = self.seq.idle.val();
        self.regs.we.next = self.host.we.val();
        self.regs.addr.next = self.host.addr.val();
        self.regs.wdata.next = self.host.wdata.val();
        self.regs.raddr.next = self.host.raddr.val();
        self.regs.t_done.next = self.seq.t_done.val();
        self.regs.prediction.next = self.argmax.prediction.val();
        self.regs.cycles.next = self.seq.cycles.val();
        self.regs.status.next = self.seq.status.val();
        self.regs.entries.next = self.compactor.entries.val();
        self.regs.row_data.next = self.rowmem.read_data.val();
        self.regs.state_data.next = self.cmem.read_data.val();
        self.regs.logit_data.next = self.lmem.read_data.val();
        self.rowmem.write_enable.next = self.regs.row_we.val();
        self.rowmem.write_address.next = self.regs.row_waddr.val();
        self.rowmem.write_word.next = self.regs.row_wword.val();
        self.rowmem.write_data.next = self.regs.row_wdata.val();

        // ---- Sequencer, descriptor decoder, event lists, argmax ----------------------
        self.seq.input_commit.next = self.cin_commit.q.val();
        self.seq.input_abort.next = self.cin_abort.q.val();
        self.seq.input_ok.next = self.compactor.input_ok.val();
        self.seq.input_status.next = self.compactor.status.val();
        self.seq.cfg_t.next = self.regs.cfg_t.val();
        self.seq.cfg_repeat.next = self.regs.cfg_repeat.val();
        self.seq.cfg_classes.next = self.regs.cfg_classes.val();
        self.seq.cfg_fwd.next = self.regs.cfg_fwd.val();
        self.seq.cfg_rev.next = self.regs.cfg_rev.val();
        self.seq.cfg_stride.next = self.regs.cfg_stride.val();
        self.seq.last.next = self.dec.last.val();
        self.seq.skip_first_step.next = self.dec.skip_first_step.val();
        self.seq.src_input.next = self.dec.src_input.val();
        self.seq.tile.next = self.dec.tile.val();
        self.seq.param_base.next = self.dec.param_base.val();
        self.seq.last_channel.next = self.dec.last_channel.val();
        self.seq.src_base.next = self.lists.src_base.val();
        self.seq.src_count.next = self.lists.src_count.val();
        self.seq.list_data.next = self.evmem.read_data.val();
        self.seq.neuron_busy.next = self.neuron.pending.val() | self.neuron.out_valid.val();
        self.dec.row.next = bit_cast::<DESC_BITS, W>(self.rowmem.read_data.val());
        self.dec.load.next = self.seq.decode.val();
        self.lists.stage.next = self.dec.stage.val();
        self.lists.src_is_stage.next = self.dec.src_is_stage.val();
        self.lists.src_stage.next = self.dec.src_stage.val();
        self.lists.src_scratch_b.next = self.dec.src_scratch_b.val();
        self.lists.post_spike.next = self.dec.post_spike.val();
        self.lists.post_state.next = self.dec.post_state.val();
        self.lists.spikes_to_b.next = self.dec.spikes_to_b.val();
        self.lists.tile.next = self.dec.tile.val();
        self.lists.tile_start.next = self.seq.tile_start.val();
        self.lists.retire.next = self.seq.retire.val();
        // A spike goes to the output list.
        self.spike_write.next = self.neuron.out_valid.val()
            & self.dec.post_any.val()
            & self.neuron.spike_out.val().any();
        for i in 0..S {
            // The stem's spikes go to its own stores, never to an event list.
            if self.stem[i].busy.val() {
                self.spike_write.next = false;
            }
        }
        self.lists.append.next = self.spike_write.val();
        self.argmax.step.next = self.seq.argmax.val();
        self.argmax.index.next = self.seq.index.val();
        self.argmax.logit.next = self.lmem.read_data.val();

        // ---- Memory read addresses (defaults) -----------------------------------------
        // The host's row reads are the row memory's default address: every read of the
        // core's own (a descriptor, a parameter row, an event's row, the stem's) is
        // picked by a flip-flop of the block that wants it, so no idle decode stands in
        // front of the memory's address. The host reads only while the core is idle.
        self.rowmem.read_address.next = self.regs.rd_row_addr.val();
        if self.seq.fetch.val() {
            self.rowmem.read_address.next = self.seq.pc.val();
        }
        self.inmem.read_address.next = self.seq.ev_ptr.val();
        self.evmem.read_address.next = self.seq.ev_ptr.val();
        // The neuron unit reads the state words of a channel just before it needs them.
        self.zmem.read_address.next = bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.late_ch.val());
        self.lmem.read_address.next = bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.late_ch.val());
        self.cmem.read_address.next =
            self.lists.stage_base.val() + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.late_ch.val());
        self.state_buffer.pop_base.next = self.seq.rev_base.val();
        self.state_buffer.pop_index.next =
            bit_cast::<RAM_ADDR_BITS, 9>(self.dec.state_offset.val())
                + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.pop_ch.val());
        self.state_buffer.push_base.next = self.seq.push_base.val();

        self.pe.clear.next = self.seq.decode.val();
        self.pe.shift.next = self.seq.draining.val();
        self.pe.valid.next = self.a2_valid.q.val();
        self.pe.x.next = self.a2_x.q.val();
        self.pe.row.next = self.rowmem.read_data.val();
        self.pe.tile.next = self.dec.tile.val();

        // ---- Input port to the compactor (idle only) ----------------------------------
        self.compactor.group_len.next = self.regs.cfg_g.val();
        if self.regs.cfg_repeat.val() {
            self.compactor.groups.next = 1.into();
        } else {
            self.compactor.groups.next = self.regs.cfg_t.val();
        }
        self.compactor.capacity.next = self.c_inputs.val();
        self.cin_start.d.next = self.host.in_start.val() & self.seq.idle.val();
        self.cin_valid.d.next = self.host.in_valid.val() & self.seq.idle.val();
        self.cin_byte.d.next = self.host.in_byte.val();
        self.cin_nz.d.next = self.host.in_byte.val().any();
        self.cin_commit.d.next = self.host.in_commit.val() & self.seq.idle.val();
        self.cin_abort.d.next = self.host.in_abort.val() & self.seq.idle.val();
        self.compactor.start.next = self.cin_start.q.val();
        self.compactor.value_valid.next = self.cin_valid.q.val();
        self.compactor.value.next = self.cin_byte.q.val();
        self.compactor.value_nz.next = self.cin_nz.q.val();
        self.compactor.commit.next = self.cin_commit.q.val();
        self.compactor.abort.next = self.cin_abort.q.val();
        self.ev_we_r.d.next = self.compactor.ev_we.val();
        self.ev_addr_r.d.next = self.compactor.ev_addr.val();
        self.ev_data_r.d.next = self.compactor.ev_data.val();
        self.inmem.write_enable.next = self.ev_we_r.q.val();
        self.inmem.write_address.next = self.ev_addr_r.q.val();
        self.inmem.write_data.next = self.ev_data_r.q.val();
        self.evmem.write_enable.next = self.compactor.gt_we.val() & self.seq.idle.val();
        self.evmem.write_address.next =
            self.c_gt.val() + bit_cast::<RAM_ADDR_BITS, 5>(self.compactor.gt_index.val());
        self.evmem.write_data.next = bit_cast::<16, RAM_ADDR_BITS>(self.compactor.gt_data.val());

        // ---- Neuron unit settings (stable for a whole drain) -----------------------
        self.neuron.sum_x.next = self.pe.sum_x.val();
        self.neuron.first.next = self.dec.kind_first.val();
        self.neuron.post_spike.next = self.dec.post_spike.val();
        self.neuron.post_rewind.next = self.dec.post_rewind.val();
        self.neuron.shift_r.next = self.dec.shift_r.val();
        self.neuron.spike_k.next = self.dec.spike_k.val();
        self.neuron.mask_y.next = self.dec.skip_first_step.val() & self.seq.first_step.val();
        self.neuron.zero_c.next = self.seq.first_step.val();
        self.neuron.accumulate.next = self.regs.cfg_sum.val() & (self.seq.t.val() != 0);
        self.neuron.valid.next = self.seq.draining.val();
        self.neuron.ch.next = bit_cast::<8, 9>(self.seq.ch.val());
        self.neuron.sp.next = self.pe.head.val();
        self.neuron.param.next = bit_cast::<64, W>(self.rowmem.read_data.val());
        self.neuron.z_in.next = self.zmem.read_data.val();
        self.neuron.c_in.next = self.cmem.read_data.val();
        self.neuron.low_in.next = self.state_buffer.low_out.val();
        self.neuron.logit_in.next = self.lmem.read_data.val();

        // ---- Results of the neuron unit ---------------------------------------------
        self.zmem.write_enable.next = false;
        self.zmem.write_address.next = bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.early_ch.val());
        self.zmem.write_data.next = self.neuron.z_out.val();
        self.lmem.write_enable.next = false;
        self.lmem.write_address.next = bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.early_ch.val());
        self.lmem.write_data.next = self.neuron.logit_out.val();
        self.cmem.write_enable.next = false;
        self.cmem.write_address.next =
            self.lists.stage_base.val() + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.out_ch.val());
        self.cmem.write_data.next = self.neuron.c_out.val();
        self.state_buffer.push.next = false;
        self.state_buffer.push_index.next =
            bit_cast::<RAM_ADDR_BITS, 9>(self.dec.state_offset.val())
                + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.early_ch.val());
        self.state_buffer.low_in.next = self.neuron.low_out.val();
        if self.neuron.early_valid.val() {
            if self.dec.kind_head.val() {
                self.lmem.write_enable.next = true;
            } else {
                self.zmem.write_enable.next = true;
            }
            self.state_buffer.push.next = self.dec.post_turn_on.val() & !self.seq.first_step.val();
        }
        if self.neuron.out_valid.val() {
            if self.dec.post_state.val() {
                self.cmem.write_enable.next = true;
            }
            if self.spike_write.val() {
                self.evmem.write_enable.next = true;
                self.evmem.write_address.next = self.lists.out_addr.val();
                self.evmem.write_data.next = (bit_cast::<16, 8>(self.neuron.out_ch.val()) << 8)
                    | bit_cast::<16, 8>(self.neuron.spike_out.val());
            }
        }
        if self.seq.state_clear.val() {
            self.cmem.write_enable.next = true;
            self.cmem.write_address.next = self.seq.index.val();
            self.cmem.write_data.next = 0.into();
        }

        // ---- Event stream: entry -> weight row -> lanes ------------------------------
        if self.dec.src_input.val() {
            self.entry.next = self.inmem.read_data.val();
        } else {
            self.entry.next = self.evmem.read_data.val();
        }
        // The entry is registered before it addresses the row memory: memory read-out,
        // page-marker test, base + page + index and the row memory's address mux did
        // not fit one 10 ns cycle together.
        self.a1_valid.d.next = self.seq.ev_fetch.val();
        self.e_event.d.next = self.a1_valid.q.val() & self.entry.val().get_bits::<8>(0).any();
        self.e_marker.d.next = self.a1_valid.q.val() & !self.entry.val().get_bits::<8>(0).any();
        self.e_entry.d.next = self.entry.val();
        self.a2_valid.d.next = self.e_event.q.val();
        self.a2_x.d.next = self.e_entry.q.val().get_bits::<8>(0);
        if self.e_marker.q.val() {
            self.wbp.d.next = self.dec.weight_base.val()
                + (bit_cast::<RAM_ADDR_BITS, 3>(self.e_entry.q.val().get_bits::<3>(8)) << 8);
        }
        if self.seq.tile_start.val() {
            self.wbp.d.next = self.dec.weight_base.val();
        }

        // The threshold ring has the logits memory's ports whenever they are not the
        // head's (the head has no spike, so its thresholds are never looked at), the
        // stem's drains included.
        self.thr_ring.next = !self.dec.kind_head.val();
        for i in 0..S {
            if self.stem[i].busy.val() {
                self.thr_ring.next = true;
            }
        }
        self.neuron.thr_late.next = self.lmem.read_data.val().get_bits::<16>(0);
        if self.thr_ring.val() {
            self.lmem.write_enable.next = true;
            self.lmem.write_address.next =
                self.c_thr_ring.val() | bit_cast::<RAM_ADDR_BITS, 3>(self.neuron.thr_waddr.val());
            self.lmem.write_data.next = bit_cast::<32, 16>(self.neuron.thr_early.val());
            self.lmem.read_address.next =
                self.c_thr_ring.val() | bit_cast::<RAM_ADDR_BITS, 3>(self.neuron.thr_raddr.val());
        }

        // ---- Reads the sequencer steers, then the host's (idle only) ------------------
        if self.seq.list_read.val() {
            self.evmem.read_address.next = self.seq.list_addr.val();
        }
        if self.seq.param_read.val() {
            self.rowmem.read_address.next = self.seq.param_addr.val();
        }
        if self.seq.argmax.val() {
            self.lmem.read_address.next = self.seq.index.val() >> 1;
        }
        if self.regs.rd_state.val() {
            self.cmem.read_address.next = self.regs.rd_state_addr.val();
        }
        if self.regs.rd_logit.val() {
            self.lmem.read_address.next = self.regs.rd_logit_addr.val();
        }

        // An event's weight row is the row memory's last address choice but the stem's:
        // both come out of an add, every other choice straight from flip-flops, so on a
        // build without a stem unit the add meets the memory through one multiplexer.
        // Nothing else reads a row while an event's row is read (the drain's parameter
        // rows start after the stream's tail, the host reads only while the core is
        // idle, and the stem runs before the sequencer).
        if self.e_event.q.val() {
            self.rowmem.read_address.next = self.wbp.q.val()
                + bit_cast::<RAM_ADDR_BITS, 8>(self.e_entry.q.val().get_bits::<8>(8));
        }

        // ---- The conv stem unit (builds with one) --------------------------------------
        for i in 0..S {
            self.stem[i].clock.next = self.clock.val();
            // Commands: `run` goes through the stem unit, which runs the stem first; the
            // core is idle only when both are.
            self.stem[i].idle.next = self.seq.idle.val() & !self.stem[i].busy.val();
            self.stem[i].we.next = self.host.we.val();
            self.stem[i].addr.next = self.host.addr.val();
            self.stem[i].wdata.next = self.host.wdata.val();
            self.stem[i].run.next = self.host.run.val() & self.seq.idle.val();
            self.stem[i].input_ok.next = self.compactor.input_ok.val();
            self.stem[i].seq_busy.next = self.seq.busy.val();
            self.seq.run.next = self.stem[i].run_out.val();
            self.seq.rewind.next = self.host.rewind.val() & !self.stem[i].busy.val();
            self.seq.clear.next = self.host.clear.val() & !self.stem[i].busy.val();
            self.host.busy.next = self.seq.busy.val() | self.stem[i].busy.val();
            self.regs.idle.next = self.seq.idle.val() & !self.stem[i].busy.val();
            self.seq.stem_busy[i].next = self.stem[i].busy.val();
            self.seq.stem_start[i].next = self.stem[i].c_start.val();
            self.cin_start.d.next =
                self.host.in_start.val() & self.seq.idle.val() & !self.stem[i].busy.val();
            self.cin_valid.d.next =
                self.host.in_valid.val() & self.seq.idle.val() & !self.stem[i].busy.val();
            self.cin_commit.d.next =
                self.host.in_commit.val() & self.seq.idle.val() & !self.stem[i].busy.val();
            self.cin_abort.d.next =
                self.host.in_abort.val() & self.seq.idle.val() & !self.stem[i].busy.val();
            self.stem[i].in_start.next = self.cin_start.q.val();
            self.stem[i].in_valid.next = self.cin_valid.q.val();
            self.stem[i].in_byte.next = self.cin_byte.q.val();
            self.stem[i].in_commit.next = self.cin_commit.q.val();

            // Memory read-outs.
            self.stem[i].row_data.next = bit_cast::<64, W>(self.rowmem.read_data.val());
            self.stem[i].in_word.next = self.inmem.read_data.val();
            self.stem[i].ev_word.next = self.evmem.read_data.val();
            self.stem[i].sb_word.next = self.state_buffer.low_out.val();
            self.stem[i].bm_data.next = self.zmem.read_data.val();
            self.stem[i].n_out_valid.next = self.neuron.out_valid.val();
            self.stem[i].n_spike.next = self.neuron.spike_out.val();
            self.stem[i].n_pending.next = self.neuron.pending.val() | self.neuron.out_valid.val();

            // The compactor: it only counts a version 2 input (the input map is stored
            // dense by the stem unit), and makes stage 0's event list from the stem's
            // output while the stem runs.
            if self.stem[i].enabled.val() {
                self.compactor.capacity.next = self.stem[i].capacity.val();
                if !self.stem[i].busy.val() {
                    self.inmem.write_enable.next = self.stem[i].wr_in.val();
                    self.inmem.write_address.next = self.stem[i].wr_addr.val();
                    self.inmem.write_data.next = self.stem[i].wr_data.val();
                }
            }
            // (The compactor's start comes in the unit's first busy cycle.)
            if self.stem[i].busy.val() {
                self.compactor.group_len.next = self.stem[i].out_len.val();
                self.compactor.start.next = self.stem[i].c_start.val();
                self.compactor.value_valid.next = self.stem[i].c_valid.val();
                self.compactor.value.next = self.stem[i].c_value.val();
                self.compactor.value_nz.next = self.stem[i].c_value_nz.val();
                self.compactor.commit.next = self.stem[i].c_commit.val();
                self.compactor.abort.next = false;
            }
            if self.stem[i].busy.val() {
                // Reads: the source stores, the bitmaps, the step, layer, weight and
                // parameter rows.
                self.inmem.read_address.next = self.stem[i].src_addr.val();
                self.evmem.read_address.next = self.stem[i].src_addr.val();
                self.state_buffer.pop_base.next = 0.into();
                self.state_buffer.pop_index.next = self.stem[i].src_addr.val();
                self.zmem.read_address.next = self.stem[i].bm_addr.val();
                self.rowmem.read_address.next = self.stem[i].row_addr.val();

                // The lanes and the neuron unit: a first layer with a spike post op.
                self.pe.clear.next = self.stem[i].pe_clear.val();
                self.pe.shift.next = self.stem[i].pe_shift.val();
                self.pe.valid.next = self.stem[i].pe_valid.val();
                self.pe.x.next = self.stem[i].pe_x.val();
                self.pe.tile.next = self.stem[i].pe_tile.val();
                self.neuron.valid.next = self.stem[i].n_valid.val();
                self.neuron.ch.next = self.stem[i].n_ch.val();
                self.neuron.first.next = true;
                self.neuron.post_spike.next = true;
                self.neuron.post_rewind.next = false;
                self.neuron.shift_r.next = self.stem[i].n_shift_r.val();
                self.neuron.spike_k.next = self.stem[i].n_spike_k.val();
                self.neuron.mask_y.next = false;
                self.neuron.zero_c.next = true;
                self.neuron.accumulate.next = false;

                // No state of the network changes while the stem runs.
                // (The logits memory's ports are the threshold ring's.)
                self.zmem.write_enable.next = false;
                self.cmem.write_enable.next = false;
                self.state_buffer.push.next = false;
            }
            // The stem's writes: line-buffer rows, bitmaps (also of an input map).
            if self.stem[i].wr_ev.val() {
                self.evmem.write_enable.next = true;
                self.evmem.write_address.next = self.stem[i].wr_addr.val();
                self.evmem.write_data.next = self.stem[i].wr_data.val();
            }
            if self.stem[i].wr_sb.val() {
                self.state_buffer.push.next = true;
                self.state_buffer.push_base.next = 0.into();
                self.state_buffer.push_index.next = self.stem[i].wr_addr.val();
                self.state_buffer.low_in.next = self.stem[i].wr_data.val();
            }
            if self.stem[i].bm_we.val() {
                self.zmem.write_enable.next = true;
                self.zmem.write_address.next = self.stem[i].bm_waddr.val();
                self.zmem.write_data.next = self.stem[i].bm_wdata.val();
            }
        }
    }
}
