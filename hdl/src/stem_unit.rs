//! The conv stem unit: runs a version 2 model's stem at the start of `run`, before the
//! sequencer's first timestep, on the core's own lanes, neuron unit and memories.
//!
//! It steps through the stem's row-step table (`revspike_proto::contract::stem_step`,
//! rows of the row memory) and, per step, the layer's three field rows
//! (`stem_layer`). Per output position the [`WindowWalker`] hands the window's valid rows
//! to the [`WindowGather`], whose events (window index, value) go to the PE lanes exactly
//! like a dense layer's: the weight row is `weight_base + index >> pack` and the lanes
//! take slice `index mod 2^pack` of it (several conv inputs share a memory row when the
//! layer has fewer outputs than the row has bits). The lanes then drain through the
//! neuron unit, whose turn-off spike is the conv layer's output byte: into a line buffer
//! through the [`RowWriter`] (every layer but the last), or, for the last layer, into
//! the input compactor, which makes it stage 0's event list exactly as it makes a
//! version 1 input's, so the forward pass and every rewind run unchanged.
//!
//! While the core is idle the unit also takes the input port's bytes: a version 2 input
//! is stored dense (two bytes a word, with its nonzero bitmap in the z memory) through
//! the same row writer, since the gather reads windows of it.
//!
//! Its registers (`ConfigReg::STEM`) are written through the host port's configuration
//! region, which the host register file leaves to it. `StemOutLen = 0` (every version 1
//! image) switches the unit off: `run` then goes straight to the sequencer.

use rust_hdl::prelude::*;

use crate::contract_constants::{offset, value};
use crate::host_port::{ADDR_BITS, WORD_BITS};
use crate::row_writer::RowWriter;
use crate::sync_ram::RAM_ADDR_BITS;
use crate::window_gather::{WindowGather, BYTE_BITS, INDEX_BITS};
use crate::window_walker::{WindowWalker, LEFT_BITS};

use revspike_proto::contract::{addr, stem_layer as sl, stem_step as ss, ConfigReg, Region};
use revspike_proto::stem_plan::StemMemory;

// Field widths for the kernel (a turbofish cannot take a braced expression there).
const KCI_W: usize = sl::KCI_M1.width;
const SCI_W: usize = sl::SCI.width;
const POS_W: usize = sl::POSITIONS.width;
const LAST_CH_W: usize = sl::LAST_CHANNEL.width;
const DST_BITMAP_W: usize = ss::DST_BITMAP.width;
const SHIFT_R_W: usize = sl::SHIFT_R.width;
const SPIKE_K_W: usize = sl::SPIKE_K.width;
const ROWS_W: usize = ss::ROWS.width;
const KY0_W: usize = ss::KY0_KCI.width;
const REGION_W: usize = addr::REGION.width;
const REGISTER_W: usize = addr::REGISTER.width;

/// Bits of the stem's output length per group (stage 0's input, at most 1,024).
pub const OUT_LEN_BITS: usize = 11;
/// Cycles from the walker's `position_done` to the drain's first shift: the last event
/// leaves the gather (its weight row read a cycle ahead) and passes the PE array's input
/// register and its add, which lands just before the shift. Exactly enough:
/// `tests/verilator_core.rs` fails with one cycle less.
pub const TAIL: u64 = 2;
/// Cycles after the neuron unit empties before a row's last writes have landed.
pub const SETTLE: u64 = 3;

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum StemPhase {
    Idle,
    Step,
    Latch,
    Row0,
    Row1,
    Row2,
    Go,
    Position,
    Tail,
    Drain,
    RowEnd,
    Commit,
    Handoff,
}

#[derive(LogicBlock)]
pub struct StemUnit {
    pub clock: Signal<In, Clock>,
    // The host port: register writes (taken while `idle`) and commands.
    pub idle: Signal<In, Bit>,
    pub we: Signal<In, Bit>,
    pub addr: Signal<In, Bits<ADDR_BITS>>,
    pub wdata: Signal<In, Bits<WORD_BITS>>,
    /// The host's run command (while idle): runs the stem, then `run_out`.
    pub run: Signal<In, Bit>,
    /// The input compactor holds a committed input.
    pub input_ok: Signal<In, Bit>,
    pub seq_busy: Signal<In, Bit>,
    /// A stem is loaded (`StemOutLen != 0`).
    pub enabled: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    /// Pulse: the sequencer's run (after the stem, or at once without one).
    pub run_out: Signal<Out, Bit>,
    /// The stem's output bytes per group, and the input memory's first word of the
    /// input maps (stage 0's event list lies below it).
    pub out_len: Signal<Out, Bits<OUT_LEN_BITS>>,
    pub in_base: Signal<Out, Bits<RAM_ADDR_BITS>>,
    /// The input compactor's capacity: stage 0's event list below `in_base` while the
    /// stem runs; unbounded while a version 2 input comes in (it only counts then).
    pub capacity: Signal<Out, Bits<RAM_ADDR_BITS>>,
    // The input port (registered by the core), taken while idle and enabled.
    pub in_start: Signal<In, Bit>,
    pub in_valid: Signal<In, Bit>,
    pub in_byte: Signal<In, Bits<8>>,
    /// The input's commit (after its last byte).
    pub in_commit: Signal<In, Bit>,
    /// Row memory read address while busy; the read-out's low 64 bits a cycle later.
    pub row_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub row_data: Signal<In, Bits<64>>,
    /// Source store reads: one address to the input memory, the event-list memory and
    /// the state buffer; their read-outs a cycle later.
    pub src_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub in_word: Signal<In, Bits<16>>,
    pub ev_word: Signal<In, Bits<16>>,
    pub sb_word: Signal<In, Bits<16>>,
    /// Bitmap reads (the z memory).
    pub bm_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub bm_data: Signal<In, Bits<16>>,
    /// Row data writes (the input memory's, the event-list memory's or the state
    /// buffer's) and bitmap writes (the z memory's).
    pub wr_in: Signal<Out, Bit>,
    pub wr_ev: Signal<Out, Bit>,
    pub wr_sb: Signal<Out, Bit>,
    pub wr_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub wr_data: Signal<Out, Bits<16>>,
    pub bm_we: Signal<Out, Bit>,
    pub bm_waddr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub bm_wdata: Signal<Out, Bits<16>>,
    // The PE array.
    pub pe_clear: Signal<Out, Bit>,
    pub pe_valid: Signal<Out, Bit>,
    pub pe_x: Signal<Out, Bits<8>>,
    pub pe_tile: Signal<Out, Bits<2>>,
    pub pe_shift: Signal<Out, Bit>,
    // The neuron unit: channel `n_ch` of the lanes' head, the layer's shifts; its spikes.
    pub n_valid: Signal<Out, Bit>,
    pub n_ch: Signal<Out, Bits<8>>,
    pub n_shift_r: Signal<Out, Bits<SHIFT_R_W>>,
    pub n_spike_k: Signal<Out, Bits<SPIKE_K_W>>,
    pub n_out_valid: Signal<In, Bit>,
    pub n_spike: Signal<In, Bits<8>>,
    pub n_pending: Signal<In, Bit>,
    // The input compactor, for stage 0's event list: registered, so each comes a cycle
    // after the unit's decision (the start in the unit's first busy cycle).
    pub c_start: Signal<Out, Bit>,
    pub c_valid: Signal<Out, Bit>,
    pub c_value: Signal<Out, Bits<8>>,
    /// `c_value != 0`, registered with it (the compactor's `value_nz`).
    pub c_value_nz: Signal<Out, Bit>,
    pub c_commit: Signal<Out, Bit>,

    pub walker: WindowWalker,
    pub gather: WindowGather,
    pub writer: RowWriter,

    // Contract constants.
    o_rows: Constant<Bits<8>>,
    o_ky0: Constant<Bits<8>>,
    o_row0_byte: Constant<Bits<8>>,
    o_dst_word: Constant<Bits<8>>,
    o_dst_bitmap: Constant<Bits<8>>,
    o_layer_row: Constant<Bits<8>>,
    o_last: Constant<Bits<8>>,
    o_kci_m1: Constant<Bits<8>>,
    o_sci: Constant<Bits<8>>,
    o_row_last: Constant<Bits<8>>,
    o_positions: Constant<Bits<8>>,
    o_left0: Constant<Bits<8>>,
    o_src_mem: Constant<Bits<8>>,
    o_last_ch: Constant<Bits<8>>,
    o_slot_bytes: Constant<Bits<8>>,
    o_region_bytes: Constant<Bits<8>>,
    o_src_data: Constant<Bits<8>>,
    o_src_bitmap: Constant<Bits<8>>,
    o_dst_mem: Constant<Bits<8>>,
    o_pack: Constant<Bits<8>>,
    o_shift_r: Constant<Bits<8>>,
    o_spike_k: Constant<Bits<8>>,
    o_weight_base: Constant<Bits<8>>,
    o_param_base: Constant<Bits<8>>,
    o_region: Constant<Bits<8>>,
    r_config: Constant<Bits<REGION_W>>,
    cr_steps: Constant<Bits<REGISTER_W>>,
    cr_out_len: Constant<Bits<REGISTER_W>>,
    cr_in_base: Constant<Bits<REGISTER_W>>,
    m_input: Constant<Bits<2>>,
    m_events: Constant<Bits<2>>,
    m_state: Constant<Bits<2>>,
    // The first bitmap word of the input map(s): z's N words come first.
    c_bitmap0: Constant<Bits<RAM_ADDR_BITS>>,
    c_tail_last: Constant<Bits<4>>,
    c_unbounded: Constant<Bits<RAM_ADDR_BITS>>,
    c_settle: Constant<Bits<4>>,

    // Registers written by the host.
    hw: Signal<Local, Bit>,
    hw_reg: Signal<Local, Bits<REGISTER_W>>,
    steps: DFF<Bits<RAM_ADDR_BITS>>,
    out_len_r: DFF<Bits<OUT_LEN_BITS>>,
    in_base_r: DFF<Bits<RAM_ADDR_BITS>>,
    // StemOutLen is not 0, decided as it is written: the input port, the core's
    // memory sharing and the run all branch on it, one flip-flop instead of an OR of
    // its bits in front of each.
    enabled_r: DFF<Bit>,
    // `phase != Idle` and `phase == Drain`, kept by the transitions in and out: the
    // core's sharing of the lanes, memories and neuron unit and the lanes' drain hang
    // on them, one flip-flop each instead of a compare of the phase.
    busy_r: DFF<Bit>,
    in_drain: DFF<Bit>,
    // The compactor's capacity, a cycle behind `busy_r`: the compactor compares its
    // write pointer with it before every entry, and from a flip-flop that compare does
    // not wait for the choice. The lag is harmless: the stem's first value reaches the
    // compactor many cycles after the unit turns busy, and the host's first after it
    // turns idle.
    capacity_r: DFF<Bits<RAM_ADDR_BITS>>,

    phase: DFF<StemPhase>,
    count: DFF<Bits<4>>,
    step_ptr: DFF<Bits<RAM_ADDR_BITS>>,
    // The row pointer: the layer's three field rows, then the drain's parameter rows.
    rptr: DFF<Bits<RAM_ADDR_BITS>>,
    // The step's fields.
    rows: DFF<Bits<ROWS_W>>,
    ky0_kci: DFF<Bits<KY0_W>>,
    row0_byte: DFF<Bits<BYTE_BITS>>,
    last_step: DFF<Bit>,
    // The layer's fields.
    kci_m1: DFF<Bits<KCI_W>>,
    sci: DFF<Bits<SCI_W>>,
    row_last: DFF<Bits<BYTE_BITS>>,
    src_mem: DFF<Bits<2>>,
    last_ch: DFF<Bits<LAST_CH_W>>,
    slot_bytes: DFF<Bits<BYTE_BITS>>,
    region_bytes: DFF<Bits<BYTE_BITS>>,
    src_data: DFF<Bits<RAM_ADDR_BITS>>,
    src_bitmap: DFF<Bits<RAM_ADDR_BITS>>,
    dst_mem: DFF<Bits<2>>,
    pack: DFF<Bits<2>>,
    shift_r: DFF<Bits<SHIFT_R_W>>,
    spike_k: DFF<Bits<SPIKE_K_W>>,
    weight_base: DFF<Bits<RAM_ADDR_BITS>>,
    param_base: DFF<Bits<RAM_ADDR_BITS>>,
    // The last layer writes stage 0's event list, at half rate (the compactor takes a
    // value at most every second cycle).
    to_events: DFF<Bit>,
    last_position: DFF<Bit>,
    // Drain: the channel (its parameter row is `rptr`), the half-rate toggle.
    ch: DFF<Bits<8>>,
    // `ch == last_ch`, set as `ch` moves: the drain's end decision (which clears the
    // lanes and advances the walker, whose load enables fan out wide) then starts at a
    // flip-flop instead of an 8-bit compare.
    at_last_ch: DFF<Bit>,
    hold: DFF<Bit>,
    // The lane slice of the gather's next event, taken with its weight row's read.
    ev_tile: DFF<Bits<2>>,
    // The compactor's inputs, registered: they fan out to its counters and its
    // registered tests, and a choice between the unit and the host port in front of
    // them, after the unit's phase decisions, made the build's worst paths.
    c_start_r: DFF<Bit>,
    c_valid_r: DFF<Bit>,
    c_value_r: DFF<Bits<8>>,
    c_value_nz_r: DFF<Bit>,
    c_commit_r: DFF<Bit>,
    // The memory the writer's data words go to (a `StemMemory` code).
    wr_mem: Signal<Local, Bits<2>>,
    drain_now: Signal<Local, Bit>,
}

impl Default for StemUnit {
    fn default() -> Self {
        Self::new(0)
    }
}

impl StemUnit {
    /// `channels`: the build's N, where the z memory's bitmaps start.
    pub fn new(channels: usize) -> Self {
        let reg = |r: ConfigReg| value::<REGISTER_W>(r.index());
        Self {
            clock: Default::default(),
            idle: Default::default(),
            we: Default::default(),
            addr: Default::default(),
            wdata: Default::default(),
            run: Default::default(),
            input_ok: Default::default(),
            seq_busy: Default::default(),
            enabled: Default::default(),
            busy: Default::default(),
            run_out: Default::default(),
            out_len: Default::default(),
            in_base: Default::default(),
            in_start: Default::default(),
            in_valid: Default::default(),
            in_byte: Default::default(),
            in_commit: Default::default(),
            row_addr: Default::default(),
            row_data: Default::default(),
            src_addr: Default::default(),
            in_word: Default::default(),
            ev_word: Default::default(),
            sb_word: Default::default(),
            bm_addr: Default::default(),
            bm_data: Default::default(),
            wr_in: Default::default(),
            wr_ev: Default::default(),
            wr_sb: Default::default(),
            capacity: Default::default(),
            wr_mem: Default::default(),
            c_unbounded: value(0xFFF),
            wr_addr: Default::default(),
            wr_data: Default::default(),
            bm_we: Default::default(),
            bm_waddr: Default::default(),
            bm_wdata: Default::default(),
            pe_clear: Default::default(),
            pe_valid: Default::default(),
            pe_x: Default::default(),
            pe_tile: Default::default(),
            pe_shift: Default::default(),
            n_valid: Default::default(),
            n_ch: Default::default(),
            n_shift_r: Default::default(),
            n_spike_k: Default::default(),
            n_out_valid: Default::default(),
            n_spike: Default::default(),
            n_pending: Default::default(),
            c_start: Default::default(),
            c_valid: Default::default(),
            c_value: Default::default(),
            c_value_nz: Default::default(),
            c_commit: Default::default(),
            walker: Default::default(),
            gather: Default::default(),
            writer: Default::default(),
            o_rows: offset(ss::ROWS),
            o_ky0: offset(ss::KY0_KCI),
            o_row0_byte: offset(ss::ROW0_BYTE),
            o_dst_word: offset(ss::DST_WORD),
            o_dst_bitmap: offset(ss::DST_BITMAP),
            o_layer_row: offset(ss::LAYER_ROW),
            o_last: offset(ss::LAST),
            o_kci_m1: offset(sl::KCI_M1),
            o_sci: offset(sl::SCI),
            o_row_last: offset(sl::ROW_LAST),
            o_positions: offset(sl::POSITIONS),
            o_left0: offset(sl::LEFT0),
            o_src_mem: offset(sl::SRC_MEMORY),
            o_last_ch: offset(sl::LAST_CHANNEL),
            o_slot_bytes: offset(sl::SLOT_BYTES),
            o_region_bytes: offset(sl::REGION_BYTES),
            o_src_data: offset(sl::SRC_DATA_BASE),
            o_src_bitmap: offset(sl::SRC_BITMAP_BASE),
            o_dst_mem: offset(sl::DST_MEMORY),
            o_pack: offset(sl::WEIGHT_PACK),
            o_shift_r: offset(sl::SHIFT_R),
            o_spike_k: offset(sl::SPIKE_K),
            o_weight_base: offset(sl::WEIGHT_BASE),
            o_param_base: offset(sl::PARAM_BASE),
            o_region: offset(addr::REGION),
            r_config: value(Region::Config.code()),
            cr_steps: reg(ConfigReg::StemSteps),
            cr_out_len: reg(ConfigReg::StemOutLen),
            cr_in_base: reg(ConfigReg::StemInBase),
            m_input: value(StemMemory::Input.code()),
            m_events: value(StemMemory::EventLists.code()),
            m_state: value(StemMemory::StateBuffer.code()),
            c_bitmap0: value(channels as u64),
            c_tail_last: value(TAIL - 1),
            c_settle: value(SETTLE),
            hw: Default::default(),
            hw_reg: Default::default(),
            steps: Default::default(),
            out_len_r: Default::default(),
            in_base_r: Default::default(),
            enabled_r: Default::default(),
            busy_r: Default::default(),
            capacity_r: Default::default(),
            in_drain: Default::default(),
            phase: Default::default(),
            count: Default::default(),
            step_ptr: Default::default(),
            rptr: Default::default(),
            rows: Default::default(),
            ky0_kci: Default::default(),
            row0_byte: Default::default(),
            last_step: Default::default(),
            kci_m1: Default::default(),
            sci: Default::default(),
            row_last: Default::default(),
            src_mem: Default::default(),
            last_ch: Default::default(),
            slot_bytes: Default::default(),
            region_bytes: Default::default(),
            src_data: Default::default(),
            src_bitmap: Default::default(),
            dst_mem: Default::default(),
            pack: Default::default(),
            shift_r: Default::default(),
            spike_k: Default::default(),
            weight_base: Default::default(),
            param_base: Default::default(),
            to_events: Default::default(),
            last_position: Default::default(),
            ch: Default::default(),
            at_last_ch: Default::default(),
            hold: Default::default(),
            ev_tile: Default::default(),
            c_start_r: Default::default(),
            c_valid_r: Default::default(),
            c_value_r: Default::default(),
            c_value_nz_r: Default::default(),
            c_commit_r: Default::default(),
            drain_now: Default::default(),
        }
    }
}

impl Logic for StemUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            steps,
            out_len_r,
            in_base_r,
            enabled_r,
            busy_r,
            capacity_r,
            in_drain,
            phase,
            count,
            step_ptr,
            rptr,
            rows,
            ky0_kci,
            row0_byte,
            last_step,
            kci_m1,
            sci,
            row_last,
            src_mem,
            last_ch,
            slot_bytes,
            region_bytes,
            src_data,
            src_bitmap,
            dst_mem,
            pack,
            shift_r,
            spike_k,
            weight_base,
            param_base,
            to_events,
            last_position,
            ch,
            at_last_ch,
            hold,
            ev_tile,
            c_start_r,
            c_valid_r,
            c_value_r,
            c_value_nz_r,
            c_commit_r
        );
        clock!(self, clock, walker, gather, writer);

        // ---- Registers, written through the configuration region while idle --------
        self.hw.next = self.idle.val()
            & self.we.val()
            & (self
                .addr
                .val()
                .get_bits::<REGION_W>(self.o_region.val().index())
                == self.r_config.val());
        self.hw_reg.next = self.addr.val().get_bits::<REGISTER_W>(0);
        if self.hw.val() {
            if self.hw_reg.val() == self.cr_steps.val() {
                self.steps.d.next = self.wdata.val().get_bits::<RAM_ADDR_BITS>(0);
            }
            if self.hw_reg.val() == self.cr_out_len.val() {
                self.out_len_r.d.next = self.wdata.val().get_bits::<OUT_LEN_BITS>(0);
                self.enabled_r.d.next = self.wdata.val().get_bits::<OUT_LEN_BITS>(0).any();
            }
            if self.hw_reg.val() == self.cr_in_base.val() {
                self.in_base_r.d.next = self.wdata.val().get_bits::<RAM_ADDR_BITS>(0);
            }
        }
        self.enabled.next = self.enabled_r.q.val();
        self.out_len.next = self.out_len_r.q.val();
        self.in_base.next = self.in_base_r.q.val();
        self.busy.next = self.busy_r.q.val();

        // ---- The walker, the gather and the writer -----------------------------------
        self.walker.kci_m1.next = bit_cast::<INDEX_BITS, KCI_W>(self.kci_m1.q.val());
        self.walker.sci.next = bit_cast::<INDEX_BITS, SCI_W>(self.sci.q.val());
        self.walker.row_last.next = self.row_last.q.val();
        // Row 0's positions and -p * Ci go straight to the walker, primed as it is read.
        self.walker.prime.next = false;
        self.walker.positions.next = self
            .row_data
            .val()
            .get_bits::<POS_W>(self.o_positions.val().index());
        self.walker.left0.next = self
            .row_data
            .val()
            .get_bits::<LEFT_BITS>(self.o_left0.val().index());
        self.walker.slot_bytes.next = self.slot_bytes.q.val();
        self.walker.region_bytes.next = self.region_bytes.q.val();
        self.walker.rows.next = self.rows.q.val();
        self.walker.ky0_kci.next = self.ky0_kci.q.val();
        self.walker.row0_byte.next = self.row0_byte.q.val();
        self.walker.start.next = false;
        self.walker.advance.next = false;
        self.walker.g_busy.next = self.gather.busy.val();
        self.gather.start.next = self.walker.g_start.val();
        self.gather.first.next = self.walker.g_first.val();
        self.gather.last.next = self.walker.g_last.val();
        self.gather.index_base.next = self.walker.g_index_base.val();
        self.gather.pack.next = self.pack.q.val();
        self.gather.row_base.next = self.weight_base.q.val();
        self.gather.data_base.next = self.src_data.q.val();
        self.gather.bitmap_base.next = self.src_bitmap.q.val();
        self.gather.bitmap_data.next = self.bm_data.val();
        // The source memory is fixed for a step: its read-out is picked by the layer.
        if self.src_mem.q.val() == self.m_events.val() {
            self.gather.data_word.next = self.ev_word.val();
        } else if self.src_mem.q.val() == self.m_state.val() {
            self.gather.data_word.next = self.sb_word.val();
        } else {
            self.gather.data_word.next = self.in_word.val();
        }
        self.src_addr.next = self.gather.data_addr.val();
        self.bm_addr.next = self.gather.bitmap_addr.val();

        // The writer: the input port's bytes while idle, a layer's output row while busy.
        // A row's destination is taken straight from its step row as it is read (the
        // writer holds it from there), so the unit keeps no copy; the row is over when
        // the neuron unit is empty after its last position (`RowEnd`).
        self.writer.start.next = false;
        self.writer.finish.next = false;
        self.writer.data_base.next = self
            .row_data
            .val()
            .get_bits::<RAM_ADDR_BITS>(self.o_dst_word.val().index());
        self.writer.bitmap_base.next = bit_cast::<RAM_ADDR_BITS, DST_BITMAP_W>(
            self.row_data
                .val()
                .get_bits::<DST_BITMAP_W>(self.o_dst_bitmap.val().index()),
        );
        self.writer.valid.next = self.n_out_valid.val() & !self.to_events.q.val();
        self.writer.byte.next = self.n_spike.val();
        self.wr_mem.next = self.dst_mem.q.val();
        if !self.busy_r.q.val() {
            self.writer.start.next = self.in_start.val() & self.enabled.val();
            self.writer.finish.next = self.in_commit.val() & self.enabled.val();
            self.writer.data_base.next = self.in_base_r.q.val();
            self.writer.bitmap_base.next = self.c_bitmap0.val();
            self.writer.valid.next = self.in_valid.val() & self.enabled.val();
            self.writer.byte.next = self.in_byte.val();
            self.wr_mem.next = self.m_input.val();
        }
        self.wr_in.next = self.writer.data_we.val() & (self.wr_mem.val() == self.m_input.val());
        self.wr_ev.next = self.writer.data_we.val() & (self.wr_mem.val() == self.m_events.val());
        self.wr_sb.next = self.writer.data_we.val() & (self.wr_mem.val() == self.m_state.val());
        if !self.busy_r.q.val() {
            self.capacity_r.d.next = self.c_unbounded.val();
        } else {
            self.capacity_r.d.next = self.in_base_r.q.val();
        }
        self.capacity.next = self.capacity_r.q.val();
        self.wr_addr.next = self.writer.data_addr.val();
        self.wr_data.next = self.writer.data_word.val();
        self.bm_we.next = self.writer.bitmap_we.val();
        self.bm_waddr.next = self.writer.bitmap_addr.val();
        self.bm_wdata.next = self.writer.bitmap_word.val();

        // ---- Events to the lanes -----------------------------------------------------
        // An event's weight row is read in the cycle before the gather puts it out
        // (`ahead_*`), so the lanes take the gather's event and the row together.
        self.row_addr.next = self.step_ptr.q.val();
        if self.gather.ahead_valid.val() {
            self.row_addr.next = bit_cast::<RAM_ADDR_BITS, INDEX_BITS>(self.gather.ahead_row.val());
        }
        self.ev_tile.d.next = self.gather.ahead_slice.val();
        self.pe_valid.next = self.gather.out_valid.val();
        self.pe_x.next = self.gather.out_value.val();
        self.pe_tile.next = self.ev_tile.q.val();
        self.pe_clear.next = false;
        self.pe_shift.next = false;

        // ---- Drain: one channel per cycle (every second one into the compactor) -------
        self.drain_now.next = self.in_drain.q.val() & !self.hold.q.val();
        self.pe_shift.next = self.drain_now.val();
        self.n_valid.next = self.drain_now.val();
        self.n_ch.next = self.ch.q.val();
        self.n_shift_r.next = self.shift_r.q.val();
        self.n_spike_k.next = self.spike_k.q.val();
        self.c_start.next = self.c_start_r.q.val();
        self.c_valid.next = self.c_valid_r.q.val();
        self.c_value.next = self.c_value_r.q.val();
        self.c_value_nz.next = self.c_value_nz_r.q.val();
        self.c_commit.next = self.c_commit_r.q.val();
        self.c_start_r.d.next = false;
        self.c_commit_r.d.next = false;
        self.c_valid_r.d.next = self.n_out_valid.val() & self.to_events.q.val();
        self.c_value_r.d.next = self.n_spike.val();
        self.c_value_nz_r.d.next = self.n_spike.val().any();
        self.run_out.next = false;

        match self.phase.q.val() {
            StemPhase::Idle => {
                if self.run.val() {
                    if self.enabled.val() & self.input_ok.val() {
                        self.step_ptr.d.next = self.steps.q.val();
                        self.c_start_r.d.next = true;
                        self.busy_r.d.next = true;
                        self.phase.d.next = StemPhase::Step;
                    } else {
                        // No stem, or no input: the sequencer runs (or says why not).
                        self.run_out.next = true;
                    }
                }
            }
            StemPhase::Step => {
                // The step row is read at step_ptr (the default row address).
                self.phase.d.next = StemPhase::Latch;
            }
            StemPhase::Latch => {
                self.rows.d.next = self
                    .row_data
                    .val()
                    .get_bits::<ROWS_W>(self.o_rows.val().index());
                self.ky0_kci.d.next = self
                    .row_data
                    .val()
                    .get_bits::<KY0_W>(self.o_ky0.val().index());
                self.row0_byte.d.next = self
                    .row_data
                    .val()
                    .get_bits::<BYTE_BITS>(self.o_row0_byte.val().index());
                // The output row's destination: the writer takes it now (a last layer's
                // writer is started too, but gets no bytes and no finish).
                self.writer.start.next = true;
                self.last_step.d.next = self.row_data.val().get_bit(self.o_last.val().index());
                self.rptr.d.next = self
                    .row_data
                    .val()
                    .get_bits::<RAM_ADDR_BITS>(self.o_layer_row.val().index());
                self.phase.d.next = StemPhase::Row0;
            }
            StemPhase::Row0 => {
                // The layer's three rows, one a cycle: the row pointer steps along.
                self.row_addr.next = self.rptr.q.val();
                self.rptr.d.next = self.rptr.q.val() + 1;
                self.phase.d.next = StemPhase::Row1;
            }
            StemPhase::Row1 => {
                self.row_addr.next = self.rptr.q.val();
                self.rptr.d.next = self.rptr.q.val() + 1;
                self.kci_m1.d.next = self
                    .row_data
                    .val()
                    .get_bits::<KCI_W>(self.o_kci_m1.val().index());
                self.sci.d.next = self
                    .row_data
                    .val()
                    .get_bits::<SCI_W>(self.o_sci.val().index());
                self.row_last.d.next = self
                    .row_data
                    .val()
                    .get_bits::<BYTE_BITS>(self.o_row_last.val().index());
                self.walker.prime.next = true;
                self.phase.d.next = StemPhase::Row2;
            }
            StemPhase::Row2 => {
                self.row_addr.next = self.rptr.q.val();
                self.slot_bytes.d.next = self
                    .row_data
                    .val()
                    .get_bits::<BYTE_BITS>(self.o_slot_bytes.val().index());
                self.region_bytes.d.next = self
                    .row_data
                    .val()
                    .get_bits::<BYTE_BITS>(self.o_region_bytes.val().index());
                self.src_data.d.next = self
                    .row_data
                    .val()
                    .get_bits::<RAM_ADDR_BITS>(self.o_src_data.val().index());
                self.src_bitmap.d.next = self
                    .row_data
                    .val()
                    .get_bits::<RAM_ADDR_BITS>(self.o_src_bitmap.val().index());
                self.dst_mem.d.next = self
                    .row_data
                    .val()
                    .get_bits::<2>(self.o_dst_mem.val().index());
                self.to_events.d.next = self
                    .row_data
                    .val()
                    .get_bits::<2>(self.o_dst_mem.val().index())
                    == self.m_input.val();
                self.pack.d.next = self.row_data.val().get_bits::<2>(self.o_pack.val().index());
                self.shift_r.d.next = self
                    .row_data
                    .val()
                    .get_bits::<SHIFT_R_W>(self.o_shift_r.val().index());
                self.spike_k.d.next = self
                    .row_data
                    .val()
                    .get_bits::<SPIKE_K_W>(self.o_spike_k.val().index());
                self.phase.d.next = StemPhase::Go;
            }
            StemPhase::Go => {
                self.src_mem.d.next = self
                    .row_data
                    .val()
                    .get_bits::<2>(self.o_src_mem.val().index());
                self.last_ch.d.next = self
                    .row_data
                    .val()
                    .get_bits::<LAST_CH_W>(self.o_last_ch.val().index());
                self.weight_base.d.next = self
                    .row_data
                    .val()
                    .get_bits::<RAM_ADDR_BITS>(self.o_weight_base.val().index());
                self.param_base.d.next = self
                    .row_data
                    .val()
                    .get_bits::<RAM_ADDR_BITS>(self.o_param_base.val().index());
                self.pe_clear.next = true;
                self.phase.d.next = StemPhase::Position;
                self.count.d.next = 0.into();
            }
            StemPhase::Position => {
                // The step's fields are all in: the walker starts position 0 on the
                // first cycle here, three after `prime` (it needs two to ready the
                // window row's bytes).
                if self.count.q.val() == 0 {
                    self.count.d.next = 1.into();
                    self.walker.start.next = true;
                }
                if self.walker.position_done.val() {
                    self.last_position.d.next = self.walker.last_position.val();
                    self.count.d.next = 0.into();
                    self.phase.d.next = StemPhase::Tail;
                }
            }
            StemPhase::Tail => {
                self.count.d.next = self.count.q.val() + 1;
                if self.count.q.val() == self.c_tail_last.val() {
                    self.ch.d.next = 0.into();
                    self.at_last_ch.d.next = !self.last_ch.q.val().any();
                    self.rptr.d.next = self.param_base.q.val();
                    self.hold.d.next = false;
                    self.in_drain.d.next = true;
                    self.phase.d.next = StemPhase::Drain;
                }
            }
            StemPhase::Drain => {
                self.row_addr.next = self.rptr.q.val();
                if self.drain_now.val() {
                    self.ch.d.next = self.ch.q.val() + 1;
                    self.at_last_ch.d.next = self.ch.q.val() + 1 == self.last_ch.q.val();
                    self.rptr.d.next = self.rptr.q.val() + 1;
                    self.hold.d.next = self.to_events.q.val();
                    if self.at_last_ch.q.val() {
                        self.count.d.next = 0.into();
                        self.in_drain.d.next = false;
                        if self.last_position.q.val() {
                            self.phase.d.next = StemPhase::RowEnd;
                        } else {
                            // The lanes are empty: clear them for the next position.
                            self.pe_clear.next = true;
                            self.walker.advance.next = true;
                            self.count.d.next = 1.into();
                            self.phase.d.next = StemPhase::Position;
                        }
                    }
                } else {
                    self.hold.d.next = false;
                }
            }
            StemPhase::RowEnd => {
                // The row's last spikes leave the neuron unit and land in their store
                // before the next step reads it.
                if self.n_pending.val() {
                    self.count.d.next = 0.into();
                } else {
                    // The row's last byte is in the writer: out with its partial words.
                    if !self.count.q.val().any() {
                        self.writer.finish.next = !self.to_events.q.val();
                    }
                    self.count.d.next = self.count.q.val() + 1;
                    if self.count.q.val() == self.c_settle.val() {
                        if self.last_step.q.val() {
                            self.count.d.next = 0.into();
                            self.c_commit_r.d.next = true;
                            self.phase.d.next = StemPhase::Commit;
                        } else {
                            self.step_ptr.d.next = self.step_ptr.q.val() + 1;
                            self.phase.d.next = StemPhase::Step;
                        }
                    }
                }
            }
            StemPhase::Commit => {
                // The compactor takes the commit a cycle after RowEnd (registered) and
                // registers its verdict the cycle after that.
                self.count.d.next = self.count.q.val() + 1;
                if self.count.q.val() == 2 {
                    self.run_out.next = true;
                    self.phase.d.next = StemPhase::Handoff;
                }
            }
            StemPhase::Handoff => {
                // Busy until the sequencer is, so the core never looks idle in between.
                if self.seq_busy.val() {
                    self.busy_r.d.next = false;
                    self.phase.d.next = StemPhase::Idle;
                }
            }
        }
    }
}
