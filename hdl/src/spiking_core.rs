//! The spiking core: memories, the layer sequencer and the datapath around the
//! processing-element array and the neuron unit.
//!
//! The core runs a small program of layer descriptors (rows of the unified row memory,
//! written by the host; see `revspike_proto::image`). Per descriptor it streams the
//! nonzero events of its source through the PE array (one per cycle), then drains the
//! lanes through the neuron unit (one channel per cycle), whose post operation writes
//! the next event list, the turn-on membranes and the reversible state buffer.
//! The forward program runs once per timestep; the rewind program (stages top-down,
//! with the inverse turn-on update) runs once per rewound timestep.
//!
//! Host port and address map: docs/architecture.md.

use rust_hdl::prelude::*;

use crate::input_compactor::InputCompactor;
use crate::neuron_unit::NeuronUnit;
use crate::pe_array::PeArray;
use crate::row_memory::RowMemory;
use crate::state_buffer::StateBuffer;
use crate::sync_ram::{SyncRam, RAM_ADDR_BITS};

// `#[hdl_gen]` kernels cannot name a Rust constant, so the core unpacks descriptors
// and decodes host-port addresses with bit positions and codes written as literals.
// Each literal is tied here to its one definition in `revspike_proto::contract`: a
// change there that this file does not follow fails to compile.
const _: () = {
    use revspike_proto::contract::{
        config_flags, desc, ConfigReg, CoreStatus, Kind, Post, Region, Source, StatusReg,
        ROW_ADDR_BITS,
    };
    assert!(RAM_ADDR_BITS == ROW_ADDR_BITS);
    // Decode: the get_bits/get_bit offsets and widths below.
    assert!(desc::KIND.offset == 0 && desc::KIND.width == 2);
    assert!(desc::SKIP_FIRST_STEP.offset == 2 && desc::SKIP_FIRST_STEP.width == 1);
    assert!(desc::SRC.offset == 3 && desc::SRC.width == 3);
    assert!(desc::WEIGHT_BASE.offset == 6 && desc::WEIGHT_BASE.width == RAM_ADDR_BITS);
    assert!(desc::PARAM_BASE.offset == 18 && desc::PARAM_BASE.width == RAM_ADDR_BITS);
    assert!(desc::LAST_CHANNEL.offset == 30 && desc::LAST_CHANNEL.width == 8);
    assert!(desc::SHIFT_R.offset == 38 && desc::SHIFT_R.width == 5);
    assert!(desc::POST.offset == 43 && desc::POST.width == 2);
    assert!(desc::SPIKE_K.offset == 45 && desc::SPIKE_K.width == 4);
    assert!(desc::STAGE.offset == 49 && desc::STAGE.width == 2);
    assert!(desc::STATE_OFFSET.offset == 51 && desc::STATE_OFFSET.width == 9);
    assert!(desc::TILE.offset == 60 && desc::TILE.width == 2);
    assert!(desc::SPIKES_TO_B.offset == 62 && desc::SPIKES_TO_B.width == 1);
    assert!(desc::LAST.offset == 63 && desc::LAST.width == 1);
    // The codes compared: kind 2, post 0 / 1 / 2, src 5.
    assert!(Kind::Head.code() == 2);
    assert!(Post::None.code() == 0 && Post::Spike.code() == 1 && Post::TurnOn.code() == 2);
    assert!(Source::Input.code() == 5);
    // Configuration flags: bit 0 repeat grouping, bit 1 sum readout.
    assert!(config_flags::REPEAT.offset == 0 && config_flags::SUM.offset == 1);
    // Host-port address map: region in bits 16..19, registers in bits 0..3.
    assert!(Region::Rows.base() == 0 && Region::Config.base() == 1 << 16);
    assert!(Region::State.base() == 2 << 16 && Region::Logits.base() == 3 << 16);
    assert!(Region::Status.base() == 4 << 16);
    assert!(ConfigReg::T.index() == 0 && ConfigReg::G.index() == 1);
    assert!(ConfigReg::Flags.index() == 2 && ConfigReg::Classes.index() == 3);
    assert!(ConfigReg::ForwardProgram.index() == 4 && ConfigReg::RewindProgram.index() == 5);
    assert!(ConfigReg::Stride.index() == 6 && ConfigReg::Stages.index() == 7);
    assert!(StatusReg::TimestepsDone.index() == 0 && StatusReg::Prediction.index() == 1);
    assert!(StatusReg::CyclesLo.index() == 2 && StatusReg::CyclesHi.index() == 3);
    assert!(StatusReg::Code.index() == 4 && StatusReg::Entries.index() == 5);
    // Status codes the sequencer sets: 1 no input, 2 nothing to rewind.
    assert!(CoreStatus::NoInput.code() == 1 && CoreStatus::NothingToRewind.code() == 2);
};

/// Memory sizes of one core instance (entries; all powers of two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreMemories {
    pub rows: usize,
    pub input_entries: usize,
    pub state_buffer_entries: usize,
    /// Channels N: the widest stage and the most classes (a power of two, P..=4P).
    pub channels: usize,
}

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

#[derive(LogicBlock)]
pub struct SpikingCore<const P: usize, const W: usize> {
    pub clock: Signal<In, Clock>,
    // Host port (docs/architecture.md).
    pub we: Signal<In, bool>,
    pub addr: Signal<In, Bits<20>>,
    pub wdata: Signal<In, Bits<16>>,
    pub raddr: Signal<In, Bits<20>>,
    pub rdata: Signal<Out, Bits<16>>,
    pub in_start: Signal<In, bool>,
    pub in_valid: Signal<In, bool>,
    pub in_byte: Signal<In, Bits<8>>,
    pub in_commit: Signal<In, bool>,
    pub in_abort: Signal<In, bool>,
    pub run: Signal<In, bool>,
    pub rewind: Signal<In, bool>,
    pub clear: Signal<In, bool>,
    pub busy: Signal<Out, bool>,
    pub done: Signal<Out, bool>,
    pub status: Signal<Out, Bits<8>>,

    // Memories.
    pub rowmem: RowMemory<W>,
    pub inmem: SyncRam<Bits<16>>,
    pub evmem: SyncRam<Bits<16>>,
    pub zmem: SyncRam<Bits<16>>,
    pub lmem: SyncRam<Bits<32>>,
    pub cmem: SyncRam<Bits<16>>,
    pub state_buffer: StateBuffer,
    // Datapath.
    pub pe: PeArray<P, W>,
    pub neuron: NeuronUnit,
    pub compactor: InputCompactor,

    // Build constants.
    c_n: Constant<Bits<RAM_ADDR_BITS>>,
    c_nlog: Constant<Bits<4>>,
    c_plog: Constant<Bits<4>>,
    c_klog: Constant<Bits<4>>,
    c_kmask: Constant<Bits<20>>,
    c_scratch_a: Constant<Bits<RAM_ADDR_BITS>>,
    c_scratch_b: Constant<Bits<RAM_ADDR_BITS>>,
    c_gt: Constant<Bits<RAM_ADDR_BITS>>,
    // Last turn-on state entry: ClearState compares with it instead of adding one first.
    c_clast: Constant<Bits<RAM_ADDR_BITS>>,
    c_inputs: Constant<Bits<RAM_ADDR_BITS>>,

    // Configuration registers (region 1).
    cfg_t: DFF<Bits<5>>,
    cfg_g: DFF<Bits<11>>,
    cfg_flags: DFF<Bits<2>>,
    cfg_classes: DFF<Bits<9>>,
    cfg_fwd: DFF<Bits<RAM_ADDR_BITS>>,
    cfg_rev: DFF<Bits<RAM_ADDR_BITS>>,
    cfg_stride: DFF<Bits<RAM_ADDR_BITS>>,
    cfg_stages: DFF<Bits<3>>,

    // Sequencer.
    phase: DFF<Phase>,
    rewinding: DFF<bool>,
    t: DFF<Bits<5>>,
    t_done: DFF<Bits<5>>,
    pc: DFF<Bits<RAM_ADDR_BITS>>,
    push_base: DFF<Bits<RAM_ADDR_BITS>>,
    rev_base: DFF<Bits<RAM_ADDR_BITS>>,
    cycles: DFF<Bits<32>>,
    stat: DFF<Bits<8>>,
    commit_seen: DFF<bool>,
    // The input port, gated by idle and registered before the compactor: its per-value
    // decisions then start at flip-flops (values come at most every second cycle).
    cin_start: DFF<bool>,
    cin_valid: DFF<bool>,
    cin_byte: DFF<Bits<8>>,
    cin_commit: DFF<bool>,
    cin_abort: DFF<bool>,
    // The compactor's event writes, registered before the input-event memory: its
    // per-value decisions (value, page marker, room left) then end at flip-flops,
    // not at the far EBR's write enable. The memory is read only after the commit,
    // which comes later than the last value.
    ev_we_r: DFF<bool>,
    ev_addr_r: DFF<Bits<RAM_ADDR_BITS>>,
    ev_data_r: DFF<Bits<16>>,
    done_r: DFF<bool>,
    idx: DFF<Bits<RAM_ADDR_BITS>>,
    tail: DFF<Bits<2>>,
    // Latched descriptor.
    d_kind: DFF<Bits<2>>,
    d_skip: DFF<bool>,
    d_src: DFF<Bits<3>>,
    d_wbase: DFF<Bits<RAM_ADDR_BITS>>,
    d_pbase: DFF<Bits<RAM_ADDR_BITS>>,
    // Last output neuron of the layer (m - 1, as the descriptor stores it).
    d_m: DFF<Bits<9>>,
    // t + 1 == T, registered: t and T settle long before Retire and the drain look.
    t_last: DFF<Bit>,
    d_r: DFF<Bits<5>>,
    d_post: DFF<Bits<2>>,
    d_k: DFF<Bits<4>>,
    d_l: DFF<Bits<2>>,
    d_roff: DFF<Bits<RAM_ADDR_BITS>>,
    d_last: DFF<bool>,
    // Channel tile: its index (the lanes' slice of a weight row), its first channel
    // (where the drain's channel count starts) and whether it starts its output list.
    d_tile: DFF<Bits<2>>,
    d_c0: DFF<Bits<9>>,
    // Spike post operations write scratch list B (else A); the output list's base.
    d_dst_b: DFF<bool>,
    d_obase: DFF<Bits<RAM_ADDR_BITS>>,
    // Event lists: current read pointer and end, counts of the lists written.
    ev_ptr: DFF<Bits<RAM_ADDR_BITS>>,
    ev_end: DFF<Bits<RAM_ADDR_BITS>>,
    cnt0: DFF<Bits<9>>,
    cnt1: DFF<Bits<9>>,
    cnt2: DFF<Bits<9>>,
    cnt3: DFF<Bits<9>>,
    cnt_sa: DFF<Bits<9>>,
    cnt_sb: DFF<Bits<9>>,
    out_count: DFF<Bits<9>>,
    // Event stream pipeline.
    a1_valid: DFF<bool>,
    /// The event entry, registered out of its memory before it addresses the row memory.
    e_entry: DFF<Bits<16>>,
    a2_valid: DFF<bool>,
    a2_x: DFF<Bits<8>>,
    // d_wbase + page * 256, kept up to date instead of page: the row address of an
    // event is then one add from flip-flops.
    wbp: DFF<Bits<RAM_ADDR_BITS>>,
    // The entry's value is nonzero (an event, not a page marker), tested as it is
    // registered; e_event / e_marker are that test and the entry's valid together.
    e_event: DFF<bool>,
    e_marker: DFF<bool>,
    // Drain.
    // d_pbase + ch, counted beside ch: the parameter row address without an adder.
    paddr: DFF<Bits<RAM_ADDR_BITS>>,
    ch: DFF<Bits<9>>,
    // Set exactly while the phase is Drain: the lanes' shift (every accumulator bit)
    // and the neuron unit's valid then come from one flip-flop, not a phase decode.
    draining: DFF<bool>,
    best: DFF<Bits<32>>,
    pred: DFF<Bits<8>>,
    // The argmax runs after the last timestep over the logit memory, one class every
    // second cycle: read, register the candidate, register the compare, take it. The
    // loop through `best` is then a flip-flop-to-flip-flop compare and one enable,
    // where a compare per drained channel was a 32-bit compare feeding 40 enables.
    am_rd: DFF<bool>,
    am_ch: DFF<Bits<8>>,
    cand: DFF<Bits<32>>,
    cand_ch: DFF<Bits<8>>,
    cand_valid: DFF<bool>,
    beats_r: DFF<bool>,
    // Host reads.
    r1_region: DFF<Bits<4>>,
    r1_low: DFF<Bits<16>>,
    r1_reg: DFF<Bits<16>>,
    // Read data, one register per source kind, then the final pick: the row memory's
    // bank and word selects and the region mux do not fit one cycle after a block RAM.
    r2_row: DFF<bool>,
    r2_rowword: DFF<Bits<16>>,
    r2_other: DFF<Bits<16>>,
    rdata_r: DFF<Bits<16>>,

    // Combinational helpers.
    entry: Signal<Local, Bits<16>>,
    src_base: Signal<Local, Bits<RAM_ADDR_BITS>>,
    src_count: Signal<Local, Bits<9>>,
    stage_base: Signal<Local, Bits<RAM_ADDR_BITS>>,
    desc: Signal<Local, Bits<W>>,
    group: Signal<Local, Bits<RAM_ADDR_BITS>>,
    // t == 0 going forward, registered: t and the direction change in Idle and Retire,
    // and every use (Group2, the drain, the neuron unit's outputs) comes cycles later.
    first_step: DFF<bool>,
    // run / rewind / clear taken while idle, acted on one cycle later: the Idle arm's
    // many register enables then start at a flip-flop, not at the host port.
    run_q: DFF<bool>,
    rewind_q: DFF<bool>,
    clear_q: DFF<bool>,
    // Set while the sequencer is out of Idle: `idle` straight from a flip-flop rather
    // than decoded from the phase, since every host-port path is gated by it.
    active: DFF<bool>,
    idle: Signal<Local, bool>,
    // Host writes registered before they reach the row memory and the configuration
    // registers (bank, word-mask and register decoding then start at flip-flops).
    hw_row: DFF<bool>,
    hw_cfg: DFF<bool>,
    hw_addr: DFF<Bits<20>>,
    hw_data: DFF<Bits<16>>,
    // The argmax's signed compare as two 16-bit halves side by side.
    beats: Signal<Local, bool>,
    // Argmax end: 2 * classes + 1, the cycle the last class's compare is taken.
    am_last: Signal<Local, Bits<RAM_ADDR_BITS>>,
    row_word: Signal<Local, Bits<RAM_ADDR_BITS>>,
    word_shift: Signal<Local, Bits<8>>,
}

impl<const P: usize, const W: usize> SpikingCore<P, W> {
    pub fn new(mem: CoreMemories) -> Self {
        assert!(P.is_power_of_two() && (8..=256).contains(&P));
        assert!(W == P.max(64));
        let n = mem.channels;
        // Up to 4 tiles of P channels, all of them in one weight row, below 256.
        assert!(n.is_power_of_two() && n >= P && n <= 4 * P && n <= W && n <= 128);
        let scratch = 4 * n;
        let gt = 6 * n;
        let evdepth = (gt + 32).next_power_of_two();
        let k = W / 16;
        Self {
            clock: Default::default(),
            we: Default::default(),
            addr: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            in_start: Default::default(),
            in_valid: Default::default(),
            in_byte: Default::default(),
            in_commit: Default::default(),
            in_abort: Default::default(),
            run: Default::default(),
            rewind: Default::default(),
            clear: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            status: Default::default(),
            rowmem: RowMemory::new(mem.rows),
            inmem: SyncRam::new(mem.input_entries),
            evmem: SyncRam::new(evdepth),
            zmem: SyncRam::new(n),
            lmem: SyncRam::new(n),
            cmem: SyncRam::new(4 * n),
            state_buffer: StateBuffer::new(mem.state_buffer_entries),
            pe: Default::default(),
            neuron: Default::default(),
            compactor: Default::default(),
            c_n: Constant::new((n as u64).into()),
            c_nlog: Constant::new((n.trailing_zeros() as u64).into()),
            c_plog: Constant::new((P.trailing_zeros() as u64).into()),
            c_klog: Constant::new((k.trailing_zeros() as u64).into()),
            c_kmask: Constant::new(((k - 1) as u64).into()),
            c_scratch_a: Constant::new((scratch as u64).into()),
            c_scratch_b: Constant::new(((scratch + n) as u64).into()),
            c_gt: Constant::new(((gt) as u64).into()),
            c_clast: Constant::new(((4 * n - 1) as u64).into()),
            c_inputs: Constant::new(((mem.input_entries) as u64).into()),
            cfg_t: Default::default(),
            cfg_g: Default::default(),
            cfg_flags: Default::default(),
            cfg_classes: Default::default(),
            cfg_fwd: Default::default(),
            cfg_rev: Default::default(),
            cfg_stride: Default::default(),
            cfg_stages: Default::default(),
            phase: Default::default(),
            rewinding: Default::default(),
            t: Default::default(),
            t_done: Default::default(),
            pc: Default::default(),
            push_base: Default::default(),
            rev_base: Default::default(),
            cycles: Default::default(),
            stat: Default::default(),
            commit_seen: Default::default(),
            cin_start: Default::default(),
            cin_valid: Default::default(),
            cin_byte: Default::default(),
            cin_commit: Default::default(),
            cin_abort: Default::default(),
            ev_we_r: Default::default(),
            ev_addr_r: Default::default(),
            ev_data_r: Default::default(),
            done_r: Default::default(),
            idx: Default::default(),
            tail: Default::default(),
            d_kind: Default::default(),
            d_skip: Default::default(),
            d_src: Default::default(),
            d_wbase: Default::default(),
            d_pbase: Default::default(),
            d_m: Default::default(),
            t_last: Default::default(),
            d_r: Default::default(),
            d_post: Default::default(),
            d_k: Default::default(),
            d_l: Default::default(),
            d_roff: Default::default(),
            d_last: Default::default(),
            d_tile: Default::default(),
            d_c0: Default::default(),
            d_dst_b: Default::default(),
            d_obase: Default::default(),
            ev_ptr: Default::default(),
            ev_end: Default::default(),
            cnt0: Default::default(),
            cnt1: Default::default(),
            cnt2: Default::default(),
            cnt3: Default::default(),
            cnt_sa: Default::default(),
            cnt_sb: Default::default(),
            out_count: Default::default(),
            a1_valid: Default::default(),
            e_entry: Default::default(),
            a2_valid: Default::default(),
            a2_x: Default::default(),
            wbp: Default::default(),
            e_event: Default::default(),
            e_marker: Default::default(),
            paddr: Default::default(),
            ch: Default::default(),
            draining: Default::default(),
            best: Default::default(),
            pred: Default::default(),
            am_rd: Default::default(),
            am_ch: Default::default(),
            cand: Default::default(),
            cand_ch: Default::default(),
            cand_valid: Default::default(),
            beats_r: Default::default(),
            r1_region: Default::default(),
            r1_low: Default::default(),
            r1_reg: Default::default(),
            r2_row: Default::default(),
            r2_rowword: Default::default(),
            r2_other: Default::default(),
            rdata_r: Default::default(),
            entry: Default::default(),
            src_base: Default::default(),
            src_count: Default::default(),
            stage_base: Default::default(),
            desc: Default::default(),
            group: Default::default(),
            first_step: Default::default(),
            run_q: Default::default(),
            rewind_q: Default::default(),
            clear_q: Default::default(),
            active: Default::default(),
            idle: Default::default(),
            hw_row: Default::default(),
            hw_cfg: Default::default(),
            hw_addr: Default::default(),
            hw_data: Default::default(),
            beats: Default::default(),
            am_last: Default::default(),
            row_word: Default::default(),
            word_shift: Default::default(),
        }
    }
}

impl<const P: usize, const W: usize> Logic for SpikingCore<P, W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            cfg_t,
            cfg_g,
            cfg_flags,
            cfg_classes,
            cfg_fwd,
            cfg_rev,
            cfg_stride,
            cfg_stages,
            phase,
            rewinding,
            t,
            t_done,
            pc,
            push_base,
            rev_base,
            cycles,
            stat,
            commit_seen,
            cin_start,
            cin_valid,
            cin_byte,
            cin_commit,
            cin_abort,
            ev_we_r,
            ev_addr_r,
            ev_data_r,
            done_r,
            idx,
            tail,
            d_kind,
            d_skip,
            d_src,
            d_wbase,
            d_pbase,
            d_m,
            t_last,
            first_step,
            run_q,
            rewind_q,
            clear_q,
            d_r,
            d_post,
            d_k,
            d_l,
            d_roff,
            d_last,
            d_tile,
            d_c0,
            d_dst_b,
            d_obase,
            ev_ptr,
            ev_end,
            cnt0,
            cnt1,
            cnt2,
            cnt3,
            cnt_sa,
            cnt_sb,
            out_count,
            a1_valid,
            e_entry,
            a2_valid,
            a2_x,
            wbp,
            e_event,
            e_marker,
            paddr,
            ch,
            draining,
            best,
            pred,
            am_rd,
            am_ch,
            cand,
            cand_ch,
            cand_valid,
            beats_r,
            r1_region,
            r1_low,
            r1_reg,
            r2_row,
            r2_rowword,
            r2_other,
            rdata_r,
            active,
            hw_row,
            hw_cfg,
            hw_addr,
            hw_data
        );
        self.rowmem.clock.next = self.clock.val();
        self.inmem.clock.next = self.clock.val();
        self.evmem.clock.next = self.clock.val();
        self.zmem.clock.next = self.clock.val();
        self.lmem.clock.next = self.clock.val();
        self.cmem.clock.next = self.clock.val();
        self.state_buffer.clock.next = self.clock.val();
        self.pe.clock.next = self.clock.val();
        self.neuron.clock.next = self.clock.val();
        self.compactor.clock.next = self.clock.val();

        // ---- Defaults -------------------------------------------------------------
        self.stage_base.next = bit_cast::<RAM_ADDR_BITS, 2>(self.d_l.q.val()) << self.c_nlog.val();
        self.busy.next = self.active.q.val();
        self.done.next = self.done_r.q.val();
        self.done_r.d.next = false;
        self.status.next = self.stat.q.val();
        self.rdata.next = self.rdata_r.q.val();

        self.rowmem.write_enable.next = self.hw_row.q.val();
        self.rowmem.write_address.next =
            bit_cast::<RAM_ADDR_BITS, 20>(self.hw_addr.q.val() >> self.c_klog.val());
        self.rowmem.write_word.next = bit_cast::<4, 20>(self.hw_addr.q.val() & self.c_kmask.val());
        self.rowmem.write_data.next = self.hw_data.q.val();
        self.rowmem.read_address.next = self.pc.q.val();
        self.inmem.read_address.next = self.ev_ptr.q.val();
        self.evmem.read_address.next = self.ev_ptr.q.val();
        // The neuron unit reads the state words of a channel just before it needs them.
        self.zmem.read_address.next = bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.late_ch.val());
        self.lmem.read_address.next = bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.late_ch.val());
        self.cmem.read_address.next =
            self.stage_base.val() + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.late_ch.val());
        self.state_buffer.pop_base.next = self.rev_base.q.val();
        self.state_buffer.pop_index.next =
            self.d_roff.q.val() + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.late_ch.val());
        self.state_buffer.push_base.next = self.push_base.q.val();

        self.pe.clear.next = false;
        self.pe.shift.next = self.draining.q.val();
        self.pe.valid.next = self.a2_valid.q.val();
        self.pe.x.next = self.a2_x.q.val();
        self.pe.row.next = self.rowmem.read_data.val();
        self.pe.tile.next = self.d_tile.q.val();

        self.first_step.d.next = (self.t.q.val() == 0) & !self.rewinding.q.val();
        self.t_last.d.next = self.t.q.val() + 1 == self.cfg_t.q.val();

        // ---- Input compactor (idle only) -------------------------------------------
        self.idle.next = !self.active.q.val();
        self.run_q.d.next = self.run.val() & self.idle.val();
        self.rewind_q.d.next = self.rewind.val() & self.idle.val();
        self.clear_q.d.next = self.clear.val() & self.idle.val();
        self.compactor.group_len.next = self.cfg_g.q.val();
        if self.cfg_flags.q.val().get_bit(0) {
            self.compactor.groups.next = 1.into();
        } else {
            self.compactor.groups.next = self.cfg_t.q.val();
        }
        self.compactor.capacity.next = self.c_inputs.val();
        self.cin_start.d.next = self.in_start.val() & self.idle.val();
        self.cin_valid.d.next = self.in_valid.val() & self.idle.val();
        self.cin_byte.d.next = self.in_byte.val();
        self.cin_commit.d.next = self.in_commit.val() & self.idle.val();
        self.cin_abort.d.next = self.in_abort.val() & self.idle.val();
        self.compactor.start.next = self.cin_start.q.val();
        self.compactor.value_valid.next = self.cin_valid.q.val();
        self.compactor.value.next = self.cin_byte.q.val();
        self.compactor.commit.next = self.cin_commit.q.val();
        self.compactor.abort.next = self.cin_abort.q.val();
        self.ev_we_r.d.next = self.compactor.ev_we.val();
        self.ev_addr_r.d.next = self.compactor.ev_addr.val();
        self.ev_data_r.d.next = self.compactor.ev_data.val();
        self.inmem.write_enable.next = self.ev_we_r.q.val();
        self.inmem.write_address.next = self.ev_addr_r.q.val();
        self.inmem.write_data.next = self.ev_data_r.q.val();
        self.evmem.write_enable.next = self.compactor.gt_we.val() & self.idle.val();
        self.evmem.write_address.next =
            self.c_gt.val() + bit_cast::<RAM_ADDR_BITS, 5>(self.compactor.gt_index.val());
        self.evmem.write_data.next = bit_cast::<16, RAM_ADDR_BITS>(self.compactor.gt_data.val());
        self.commit_seen.d.next = self.cin_commit.q.val();
        if self.commit_seen.q.val() {
            // The compactor's verdict is registered one cycle after the commit.
            self.stat.d.next = self.compactor.status.val();
        }
        if self.cin_abort.q.val() {
            self.stat.d.next = 1.into();
        }

        // ---- Neuron unit settings (stable for a whole drain) -----------------------
        self.neuron.sum_x.next = self.pe.sum_x.val();
        self.neuron.kind.next = self.d_kind.q.val();
        self.neuron.post.next = self.d_post.q.val();
        self.neuron.shift_r.next = self.d_r.q.val();
        self.neuron.spike_k.next = self.d_k.q.val();
        self.neuron.mask_y.next = self.d_skip.q.val() & self.first_step.q.val();
        self.neuron.zero_c.next = self.first_step.q.val();
        self.neuron.accumulate.next = self.cfg_flags.q.val().get_bit(1) & (self.t.q.val() != 0);
        self.neuron.valid.next = self.draining.q.val();
        self.neuron.ch.next = bit_cast::<8, 9>(self.ch.q.val());
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
            self.stage_base.val() + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.out_ch.val());
        self.cmem.write_data.next = self.neuron.c_out.val();
        self.state_buffer.push.next = false;
        self.state_buffer.push_index.next =
            self.d_roff.q.val() + bit_cast::<RAM_ADDR_BITS, 8>(self.neuron.out_ch.val());
        self.state_buffer.low_in.next = self.neuron.low_out.val();
        if self.neuron.early_valid.val() {
            if self.d_kind.q.val() == 2 {
                self.lmem.write_enable.next = true;
            } else {
                self.zmem.write_enable.next = true;
            }
        }
        if self.neuron.out_valid.val() {
            if self.d_post.q.val().get_bit(1) {
                self.cmem.write_enable.next = true;
                self.state_buffer.push.next = (self.d_post.q.val() == 2) & !self.first_step.q.val();
            }
            if (self.d_post.q.val() != 0) & self.neuron.spike_out.val().any() {
                self.evmem.write_enable.next = true;
                self.evmem.write_address.next =
                    self.d_obase.q.val() + bit_cast::<RAM_ADDR_BITS, 9>(self.out_count.q.val());
                self.evmem.write_data.next = (bit_cast::<16, 8>(self.neuron.out_ch.val()) << 8)
                    | bit_cast::<16, 8>(self.neuron.spike_out.val());
                self.out_count.d.next = self.out_count.q.val() + 1;
            }
        }

        // ---- Event stream: entry -> weight row -> lanes ------------------------------
        if self.d_src.q.val() == 5 {
            self.entry.next = self.inmem.read_data.val();
        } else {
            self.entry.next = self.evmem.read_data.val();
        }
        // The entry is registered before it addresses the row memory: memory read-out,
        // page-marker test, base + page + index and the row memory's address mux did
        // not fit one 10 ns cycle together.
        self.a1_valid.d.next = false;
        self.e_event.d.next = self.a1_valid.q.val() & self.entry.val().get_bits::<8>(0).any();
        self.e_marker.d.next = self.a1_valid.q.val() & !self.entry.val().get_bits::<8>(0).any();
        self.e_entry.d.next = self.entry.val();
        self.a2_valid.d.next = self.e_event.q.val();
        self.a2_x.d.next = self.e_entry.q.val().get_bits::<8>(0);
        if self.e_marker.q.val() {
            self.wbp.d.next = self.d_wbase.q.val()
                + (bit_cast::<RAM_ADDR_BITS, 3>(self.e_entry.q.val().get_bits::<3>(8)) << 8);
        }
        if self.e_event.q.val() {
            self.rowmem.read_address.next = self.wbp.q.val()
                + bit_cast::<RAM_ADDR_BITS, 8>(self.e_entry.q.val().get_bits::<8>(8));
        }

        // ---- Argmax over the final logits (phase Argmax) ------------------------------
        // The lowest index wins a tie: class 0 is always taken, later ones only when
        // strictly greater.
        self.am_rd.d.next = false;
        self.am_ch.d.next = bit_cast::<8, RAM_ADDR_BITS>(self.idx.q.val() >> 1);
        self.cand_valid.d.next = self.am_rd.q.val();
        if self.am_rd.q.val() {
            self.cand.d.next = self.lmem.read_data.val();
            self.cand_ch.d.next = self.am_ch.q.val();
        }
        self.beats.next = ((self.cand.q.val().get_bits::<16>(16) ^ 0x8000u64)
            > (self.best.q.val().get_bits::<16>(16) ^ 0x8000u64))
            | ((self.cand.q.val().get_bits::<16>(16) == self.best.q.val().get_bits::<16>(16))
                & (self.cand.q.val().get_bits::<16>(0) > self.best.q.val().get_bits::<16>(0)));
        self.beats_r.d.next =
            self.cand_valid.q.val() & (!self.cand_ch.q.val().any() | self.beats.val());
        self.am_last.next = (bit_cast::<RAM_ADDR_BITS, 9>(self.cfg_classes.q.val()) << 1) | 1;

        // ---- Sequencer --------------------------------------------------------------
        if self.phase.q.val() != Phase::Idle {
            self.cycles.d.next = self.cycles.q.val() + 1;
        }
        if self.cfg_flags.q.val().get_bit(0) {
            self.group.next = 0.into();
        } else {
            self.group.next = bit_cast::<RAM_ADDR_BITS, 5>(self.t.q.val());
        }
        self.desc.next = self.rowmem.read_data.val();
        self.src_base.next = self.c_scratch_a.val();
        self.src_count.next = self.cnt_sa.q.val();
        match self.phase.q.val() {
            Phase::Idle => {
                if self.run_q.q.val() {
                    self.cycles.d.next = 0.into();
                    if self.compactor.input_ok.val() {
                        self.t.d.next = 0.into();
                        self.t_done.d.next = 0.into();
                        self.push_base.d.next = 0.into();
                        self.rewinding.d.next = false;
                        self.stat.d.next = 0.into();
                        self.active.d.next = true;
                        self.phase.d.next = Phase::StepStart;
                    } else {
                        self.stat.d.next = 1.into();
                        self.done_r.d.next = true;
                    }
                } else if self.rewind_q.q.val() {
                    self.cycles.d.next = 0.into();
                    if self.t_done.q.val() == 0 {
                        self.stat.d.next = 2.into();
                        self.done_r.d.next = true;
                    } else if self.t_done.q.val() == 1 {
                        // Rewinding from t = 0 gives the all-zero initial state.
                        self.stat.d.next = 0.into();
                        self.idx.d.next = 0.into();
                        self.active.d.next = true;
                        self.phase.d.next = Phase::ClearState;
                    } else {
                        self.stat.d.next = 0.into();
                        self.active.d.next = true;
                        self.rewinding.d.next = true;
                        self.t.d.next = self.t_done.q.val() - 1;
                        self.phase.d.next = Phase::StepStart;
                    }
                } else if self.clear_q.q.val() {
                    self.cycles.d.next = 0.into();
                    self.stat.d.next = 0.into();
                    self.idx.d.next = 0.into();
                    self.active.d.next = true;
                    self.phase.d.next = Phase::ClearState;
                }
            }
            Phase::ClearState => {
                self.cmem.write_enable.next = true;
                self.cmem.write_address.next = self.idx.q.val();
                self.cmem.write_data.next = 0.into();
                self.idx.d.next = self.idx.q.val() + 1;
                if self.idx.q.val() == self.c_clast.val() {
                    self.t_done.d.next = 0.into();
                    self.phase.d.next = Phase::Finish;
                }
            }
            Phase::StepStart => {
                if self.rewinding.q.val() {
                    self.pc.d.next = self.cfg_rev.q.val();
                } else {
                    self.pc.d.next = self.cfg_fwd.q.val();
                }
                self.phase.d.next = Phase::Fetch;
            }
            Phase::Fetch => {
                // The descriptor row is read at pc (the default read address).
                self.phase.d.next = Phase::Decode;
            }
            Phase::Decode => {
                self.d_kind.d.next = self.desc.val().get_bits::<2>(0);
                self.d_skip.d.next = self.desc.val().get_bit(2);
                self.d_src.d.next = self.desc.val().get_bits::<3>(3);
                self.d_wbase.d.next = self.desc.val().get_bits::<RAM_ADDR_BITS>(6);
                self.d_pbase.d.next = self.desc.val().get_bits::<RAM_ADDR_BITS>(18);
                self.d_m.d.next = bit_cast::<9, 8>(self.desc.val().get_bits::<8>(30));
                self.d_r.d.next = self.desc.val().get_bits::<5>(38);
                self.d_post.d.next = self.desc.val().get_bits::<2>(43);
                self.d_k.d.next = self.desc.val().get_bits::<4>(45);
                self.d_l.d.next = self.desc.val().get_bits::<2>(49);
                self.d_roff.d.next =
                    bit_cast::<RAM_ADDR_BITS, 9>(self.desc.val().get_bits::<9>(51));
                self.d_tile.d.next = self.desc.val().get_bits::<2>(60);
                self.d_dst_b.d.next = self.desc.val().get_bit(62);
                self.d_last.d.next = self.desc.val().get_bit(63);
                self.pe.clear.next = true;
                self.wbp.d.next = self.desc.val().get_bits::<RAM_ADDR_BITS>(6);
                self.phase.d.next = Phase::Group0;
            }
            Phase::Group0 => {
                // What the drain needs is derived from the latched descriptor here, a
                // cycle after the row memory's read-out and bank multiplexer.
                self.d_c0.d.next = bit_cast::<9, 2>(self.d_tile.q.val()) << self.c_plog.val();
                if self.d_post.q.val() != 1 {
                    self.d_obase.d.next = self.stage_base.val();
                } else if self.d_dst_b.q.val() {
                    self.d_obase.d.next = self.c_scratch_b.val();
                } else {
                    self.d_obase.d.next = self.c_scratch_a.val();
                }
                // Later tiles of a layer append to the list its first tile started.
                if !self.d_tile.q.val().any() {
                    self.out_count.d.next = 0.into();
                }
                // Locate the source event list.
                self.evmem.read_address.next = self.c_gt.val() + self.group.val();
                match self.d_src.q.val().index() {
                    0 => {
                        self.src_base.next = 0.into();
                        self.src_count.next = self.cnt0.q.val();
                    }
                    1 => {
                        self.src_base.next = self.c_n.val();
                        self.src_count.next = self.cnt1.q.val();
                    }
                    2 => {
                        self.src_base.next = self.c_n.val() << 1;
                        self.src_count.next = self.cnt2.q.val();
                    }
                    3 => {
                        self.src_base.next = (self.c_n.val() << 1) + self.c_n.val();
                        self.src_count.next = self.cnt3.q.val();
                    }
                    6 => {
                        self.src_base.next = self.c_scratch_b.val();
                        self.src_count.next = self.cnt_sb.q.val();
                    }
                    _ => {
                        self.src_base.next = self.c_scratch_a.val();
                        self.src_count.next = self.cnt_sa.q.val();
                    }
                }
                self.ev_ptr.d.next = self.src_base.val();
                self.ev_end.d.next =
                    self.src_base.val() + bit_cast::<RAM_ADDR_BITS, 9>(self.src_count.val());
                self.phase.d.next = Phase::Group1;
            }
            Phase::Group1 => {
                self.evmem.read_address.next = self.c_gt.val() + self.group.val() + 1;
                if self.d_src.q.val() == 5 {
                    self.ev_ptr.d.next = self.evmem.read_data.val().get_bits::<RAM_ADDR_BITS>(0);
                }
                self.phase.d.next = Phase::Group2;
            }
            Phase::Group2 => {
                if self.d_src.q.val() == 5 {
                    self.ev_end.d.next = self.evmem.read_data.val().get_bits::<RAM_ADDR_BITS>(0);
                }
                if self.d_skip.q.val() & self.first_step.q.val() {
                    // An up-connection at t = 0 contributes nothing; its post op still runs.
                    self.tail.d.next = 0.into();
                    self.phase.d.next = Phase::StreamTail;
                } else {
                    self.phase.d.next = Phase::Stream;
                }
            }
            Phase::Stream => {
                if self.ev_ptr.q.val() == self.ev_end.q.val() {
                    self.tail.d.next = 0.into();
                    self.phase.d.next = Phase::StreamTail;
                } else {
                    self.a1_valid.d.next = true;
                    self.ev_ptr.d.next = self.ev_ptr.q.val() + 1;
                }
            }
            Phase::StreamTail => {
                // The last entry is still on its way to the lanes: registered out of
                // its list, read out of the row memory, registered at the PE array's
                // input, added. The first shift comes after that add.
                self.tail.d.next = self.tail.q.val() + 1;
                if self.tail.q.val() == 2 {
                    self.ch.d.next = self.d_c0.q.val();
                    self.paddr.d.next = self.d_pbase.q.val();
                    self.draining.d.next = true;
                    self.phase.d.next = Phase::Drain;
                }
            }
            Phase::Drain => {
                self.rowmem.read_address.next = self.paddr.q.val();
                self.paddr.d.next = self.paddr.q.val() + 1;
                self.ch.d.next = self.ch.q.val() + 1;
                if self.ch.q.val() == self.d_m.q.val() {
                    self.draining.d.next = false;
                    self.phase.d.next = Phase::Flush;
                }
            }
            Phase::Flush => {
                if !self.neuron.pending.val() & !self.neuron.out_valid.val() {
                    self.phase.d.next = Phase::Retire;
                }
            }
            Phase::Retire => {
                if self.d_post.q.val() == 1 {
                    if self.d_dst_b.q.val() {
                        self.cnt_sb.d.next = self.out_count.q.val();
                    } else {
                        self.cnt_sa.d.next = self.out_count.q.val();
                    }
                } else if self.d_post.q.val().get_bit(1) {
                    match self.d_l.q.val().index() {
                        0 => {
                            self.cnt0.d.next = self.out_count.q.val();
                        }
                        1 => {
                            self.cnt1.d.next = self.out_count.q.val();
                        }
                        2 => {
                            self.cnt2.d.next = self.out_count.q.val();
                        }
                        _ => {
                            self.cnt3.d.next = self.out_count.q.val();
                        }
                    }
                }
                if self.d_last.q.val() {
                    if self.rewinding.q.val() {
                        self.t_done.d.next = self.t_done.q.val() - 1;
                        self.rev_base.d.next = self.rev_base.q.val() - self.cfg_stride.q.val();
                        self.phase.d.next = Phase::Finish;
                    } else {
                        if self.t.q.val() != 0 {
                            self.rev_base.d.next = self.push_base.q.val();
                            self.push_base.d.next =
                                self.push_base.q.val() + self.cfg_stride.q.val();
                        }
                        self.t.d.next = self.t.q.val() + 1;
                        self.t_done.d.next = self.t.q.val() + 1;
                        if self.t_last.q.val() {
                            self.idx.d.next = 0.into();
                            self.phase.d.next = Phase::Argmax;
                        } else {
                            self.phase.d.next = Phase::StepStart;
                        }
                    }
                } else {
                    self.pc.d.next = self.pc.q.val() + 1;
                    self.phase.d.next = Phase::Fetch;
                }
            }
            Phase::Argmax => {
                self.lmem.read_address.next = self.idx.q.val() >> 1;
                self.am_rd.d.next = !self.idx.q.val().get_bit(0);
                self.idx.d.next = self.idx.q.val() + 1;
                if self.beats_r.q.val() {
                    self.best.d.next = self.cand.q.val();
                    self.pred.d.next = self.cand_ch.q.val();
                }
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

        // ---- Host writes and reads (idle only) ---------------------------------------
        // A write lands one cycle after the port presents it (the port is idle-only,
        // and nothing reads the written word or register that soon).
        self.hw_row.d.next =
            self.idle.val() & self.we.val() & (self.addr.val().get_bits::<4>(16) == 0);
        self.hw_cfg.d.next =
            self.idle.val() & self.we.val() & (self.addr.val().get_bits::<4>(16) == 1);
        self.hw_addr.d.next = self.addr.val();
        self.hw_data.d.next = self.wdata.val();
        if self.hw_cfg.q.val() {
            match self.hw_addr.q.val().get_bits::<4>(0).index() {
                0 => self.cfg_t.d.next = self.hw_data.q.val().get_bits::<5>(0),
                1 => self.cfg_g.d.next = self.hw_data.q.val().get_bits::<11>(0),
                2 => self.cfg_flags.d.next = self.hw_data.q.val().get_bits::<2>(0),
                3 => self.cfg_classes.d.next = self.hw_data.q.val().get_bits::<9>(0),
                4 => self.cfg_fwd.d.next = self.hw_data.q.val().get_bits::<RAM_ADDR_BITS>(0),
                5 => self.cfg_rev.d.next = self.hw_data.q.val().get_bits::<RAM_ADDR_BITS>(0),
                6 => self.cfg_stride.d.next = self.hw_data.q.val().get_bits::<RAM_ADDR_BITS>(0),
                7 => self.cfg_stages.d.next = self.hw_data.q.val().get_bits::<3>(0),
                _ => {}
            }
        }
        if self.idle.val() {
            match self.raddr.val().get_bits::<4>(16).index() {
                0 => {
                    self.rowmem.read_address.next =
                        bit_cast::<RAM_ADDR_BITS, 20>(self.raddr.val() >> self.c_klog.val())
                }
                2 => self.cmem.read_address.next = self.raddr.val().get_bits::<RAM_ADDR_BITS>(0),
                3 => self.lmem.read_address.next = self.raddr.val().get_bits::<RAM_ADDR_BITS>(1),
                _ => {}
            }
        }
        self.r1_region.d.next = self.raddr.val().get_bits::<4>(16);
        self.r1_low.d.next = self.raddr.val().get_bits::<16>(0);
        self.r1_reg.d.next = 0.into();
        if self.raddr.val().get_bits::<4>(16) == 1 {
            match self.raddr.val().get_bits::<4>(0).index() {
                0 => self.r1_reg.d.next = bit_cast::<16, 5>(self.cfg_t.q.val()),
                1 => self.r1_reg.d.next = bit_cast::<16, 11>(self.cfg_g.q.val()),
                2 => self.r1_reg.d.next = bit_cast::<16, 2>(self.cfg_flags.q.val()),
                3 => self.r1_reg.d.next = bit_cast::<16, 9>(self.cfg_classes.q.val()),
                4 => self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.cfg_fwd.q.val()),
                5 => self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.cfg_rev.q.val()),
                6 => self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.cfg_stride.q.val()),
                7 => self.r1_reg.d.next = bit_cast::<16, 3>(self.cfg_stages.q.val()),
                _ => {}
            }
        }
        if self.raddr.val().get_bits::<4>(16) == 4 {
            match self.raddr.val().get_bits::<4>(0).index() {
                0 => self.r1_reg.d.next = bit_cast::<16, 5>(self.t_done.q.val()),
                1 => self.r1_reg.d.next = bit_cast::<16, 8>(self.pred.q.val()),
                2 => self.r1_reg.d.next = self.cycles.q.val().get_bits::<16>(0),
                3 => self.r1_reg.d.next = self.cycles.q.val().get_bits::<16>(16),
                4 => self.r1_reg.d.next = bit_cast::<16, 8>(self.stat.q.val()),
                5 => {
                    self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.compactor.entries.val())
                }
                _ => {}
            }
        }
        self.row_word.next = bit_cast::<RAM_ADDR_BITS, 16>(self.r1_low.q.val())
            & bit_cast::<RAM_ADDR_BITS, 20>(self.c_kmask.val());
        self.word_shift.next = bit_cast::<8, RAM_ADDR_BITS>(self.row_word.val()) << 4;
        self.r2_row.d.next = self.r1_region.q.val() == 0;
        self.r2_rowword.d.next = self
            .rowmem
            .read_data
            .val()
            .get_bits::<16>(self.word_shift.val().index());
        match self.r1_region.q.val().index() {
            2 => self.r2_other.d.next = self.cmem.read_data.val(),
            3 => {
                if self.r1_low.q.val().get_bit(0) {
                    self.r2_other.d.next = self.lmem.read_data.val().get_bits::<16>(16);
                } else {
                    self.r2_other.d.next = self.lmem.read_data.val().get_bits::<16>(0);
                }
            }
            _ => self.r2_other.d.next = self.r1_reg.q.val(),
        }
        if self.r2_row.q.val() {
            self.rdata_r.d.next = self.r2_rowword.q.val();
        } else {
            self.rdata_r.d.next = self.r2_other.q.val();
        }
    }
}
