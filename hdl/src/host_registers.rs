//! The host register file: the host port's word address map on the core's side.
//!
//! It decodes host writes (row memory words, configuration registers), holds the
//! configuration registers, steers host reads to the row memory, the turn-on membranes,
//! the logits or a register, and brings the word back on `rdata` three cycles after its
//! address. The map is `revspike_proto::contract` (`Region`, `ConfigReg`, `StatusReg`):
//! every region and register number here is a `Constant` made from it.
//!
//! Writes and reads act only while the core is `idle`; a write lands one cycle after
//! the port presents it (registered first, so bank, word-mask and register decoding
//! start at flip-flops).

use rust_hdl::prelude::*;

use crate::contract_constants::{offset, value as code};

use revspike_proto::contract::{addr, config_flags, ConfigReg, Region, StatusReg};

use crate::host_port::{ADDR_BITS, STATUS_BITS, WORD_BITS};
use crate::sync_ram::RAM_ADDR_BITS;

const REGION_W: usize = addr::REGION.width;
const REGISTER_W: usize = addr::REGISTER.width;

#[derive(LogicBlock)]
pub struct HostRegisters<const W: usize> {
    pub clock: Signal<In, Clock>,
    /// The sequencer is idle: host writes and memory reads go through.
    pub idle: Signal<In, Bit>,
    // The host port's address and data signals.
    pub we: Signal<In, Bit>,
    pub addr: Signal<In, Bits<ADDR_BITS>>,
    pub wdata: Signal<In, Bits<WORD_BITS>>,
    pub raddr: Signal<In, Bits<ADDR_BITS>>,
    pub rdata: Signal<Out, Bits<WORD_BITS>>,

    // Configuration registers (region 1).
    pub cfg_t: Signal<Out, Bits<5>>,
    pub cfg_g: Signal<Out, Bits<11>>,
    /// Flag `config_flags::REPEAT`: every timestep sees input group 0.
    pub cfg_repeat: Signal<Out, Bit>,
    /// Flag `config_flags::SUM`: the head adds to the logits.
    pub cfg_sum: Signal<Out, Bit>,
    pub cfg_classes: Signal<Out, Bits<9>>,
    pub cfg_fwd: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub cfg_rev: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub cfg_stride: Signal<Out, Bits<RAM_ADDR_BITS>>,

    // What the status registers (region 4) show.
    pub t_done: Signal<In, Bits<5>>,
    pub prediction: Signal<In, Bits<8>>,
    pub cycles: Signal<In, Bits<32>>,
    pub status: Signal<In, Bits<STATUS_BITS>>,
    pub entries: Signal<In, Bits<RAM_ADDR_BITS>>,

    /// Row memory write port (16-bit word `row_wword` of row `row_waddr`).
    pub row_we: Signal<Out, Bit>,
    pub row_waddr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub row_wword: Signal<Out, Bits<4>>,
    pub row_wdata: Signal<Out, Bits<WORD_BITS>>,
    /// Host reads of the memories: the row address is the row memory's default, each
    /// other address applies while its flag is set.
    pub rd_row_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub rd_state: Signal<Out, Bit>,
    pub rd_state_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    pub rd_logit: Signal<Out, Bit>,
    pub rd_logit_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    /// The memories' read data, the cycle after the address.
    pub row_data: Signal<In, Bits<W>>,
    pub state_data: Signal<In, Bits<16>>,
    pub logit_data: Signal<In, Bits<32>>,

    // Row geometry: K = W / 16 words per row.
    c_klog: Constant<Bits<4>>,
    c_kmask: Constant<Bits<ADDR_BITS>>,
    // The contract: address fields, regions, registers, flags.
    a_region: Constant<Bits<8>>,
    a_register: Constant<Bits<8>>,
    a_half: Constant<Bits<8>>,
    f_repeat: Constant<Bits<8>>,
    f_sum: Constant<Bits<8>>,
    r_rows: Constant<Bits<REGION_W>>,
    r_config: Constant<Bits<REGION_W>>,
    r_state: Constant<Bits<REGION_W>>,
    r_logits: Constant<Bits<REGION_W>>,
    r_status: Constant<Bits<REGION_W>>,
    cr_t: Constant<Bits<REGISTER_W>>,
    cr_g: Constant<Bits<REGISTER_W>>,
    cr_flags: Constant<Bits<REGISTER_W>>,
    cr_classes: Constant<Bits<REGISTER_W>>,
    cr_fwd: Constant<Bits<REGISTER_W>>,
    cr_rev: Constant<Bits<REGISTER_W>>,
    cr_stride: Constant<Bits<REGISTER_W>>,
    cr_stages: Constant<Bits<REGISTER_W>>,
    sr_t_done: Constant<Bits<REGISTER_W>>,
    sr_prediction: Constant<Bits<REGISTER_W>>,
    sr_cycles_lo: Constant<Bits<REGISTER_W>>,
    sr_cycles_hi: Constant<Bits<REGISTER_W>>,
    sr_code: Constant<Bits<REGISTER_W>>,
    sr_entries: Constant<Bits<REGISTER_W>>,

    // The configuration registers.
    t: DFF<Bits<5>>,
    g: DFF<Bits<11>>,
    flags: DFF<Bits<2>>,
    classes: DFF<Bits<9>>,
    fwd: DFF<Bits<RAM_ADDR_BITS>>,
    rev: DFF<Bits<RAM_ADDR_BITS>>,
    stride: DFF<Bits<RAM_ADDR_BITS>>,
    // Read back only: the core needs no more than the programs say.
    stages: DFF<Bits<3>>,
    // Host writes, registered.
    hw_row: DFF<Bit>,
    hw_cfg: DFF<Bit>,
    hw_addr: DFF<Bits<ADDR_BITS>>,
    hw_data: DFF<Bits<WORD_BITS>>,
    // Host reads: region and word of the address, a register's value, then one
    // register per source kind and the final pick (the row memory's bank and word
    // selects and the region mux do not fit one cycle after a block RAM).
    r1_region: DFF<Bits<REGION_W>>,
    r1_low: DFF<Bits<16>>,
    r1_reg: DFF<Bits<WORD_BITS>>,
    r2_row: DFF<Bit>,
    r2_rowword: DFF<Bits<WORD_BITS>>,
    r2_other: DFF<Bits<WORD_BITS>>,
    rdata_r: DFF<Bits<WORD_BITS>>,

    w_region: Signal<Local, Bits<REGION_W>>,
    hw_reg: Signal<Local, Bits<REGISTER_W>>,
    r_region: Signal<Local, Bits<REGION_W>>,
    r_reg: Signal<Local, Bits<REGISTER_W>>,
    row_word: Signal<Local, Bits<RAM_ADDR_BITS>>,
    word_shift: Signal<Local, Bits<8>>,
}

impl<const W: usize> Default for HostRegisters<W> {
    fn default() -> Self {
        let k = W / 16;
        assert!(k.is_power_of_two() && W.is_multiple_of(16));
        Self {
            clock: Default::default(),
            idle: Default::default(),
            we: Default::default(),
            addr: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            cfg_t: Default::default(),
            cfg_g: Default::default(),
            cfg_repeat: Default::default(),
            cfg_sum: Default::default(),
            cfg_classes: Default::default(),
            cfg_fwd: Default::default(),
            cfg_rev: Default::default(),
            cfg_stride: Default::default(),
            t_done: Default::default(),
            prediction: Default::default(),
            cycles: Default::default(),
            status: Default::default(),
            entries: Default::default(),
            row_we: Default::default(),
            row_waddr: Default::default(),
            row_wword: Default::default(),
            row_wdata: Default::default(),
            rd_row_addr: Default::default(),
            rd_state: Default::default(),
            rd_state_addr: Default::default(),
            rd_logit: Default::default(),
            rd_logit_addr: Default::default(),
            row_data: Default::default(),
            state_data: Default::default(),
            logit_data: Default::default(),
            c_klog: Constant::new((k.trailing_zeros() as u64).into()),
            c_kmask: Constant::new(((k - 1) as u64).into()),
            a_region: offset(addr::REGION),
            a_register: offset(addr::REGISTER),
            a_half: offset(addr::LOGIT_HALF),
            f_repeat: offset(config_flags::REPEAT),
            f_sum: offset(config_flags::SUM),
            r_rows: code(Region::Rows.code()),
            r_config: code(Region::Config.code()),
            r_state: code(Region::State.code()),
            r_logits: code(Region::Logits.code()),
            r_status: code(Region::Status.code()),
            cr_t: code(ConfigReg::T.index()),
            cr_g: code(ConfigReg::G.index()),
            cr_flags: code(ConfigReg::Flags.index()),
            cr_classes: code(ConfigReg::Classes.index()),
            cr_fwd: code(ConfigReg::ForwardProgram.index()),
            cr_rev: code(ConfigReg::RewindProgram.index()),
            cr_stride: code(ConfigReg::Stride.index()),
            cr_stages: code(ConfigReg::Stages.index()),
            sr_t_done: code(StatusReg::TimestepsDone.index()),
            sr_prediction: code(StatusReg::Prediction.index()),
            sr_cycles_lo: code(StatusReg::CyclesLo.index()),
            sr_cycles_hi: code(StatusReg::CyclesHi.index()),
            sr_code: code(StatusReg::Code.index()),
            sr_entries: code(StatusReg::Entries.index()),
            t: Default::default(),
            g: Default::default(),
            flags: Default::default(),
            classes: Default::default(),
            fwd: Default::default(),
            rev: Default::default(),
            stride: Default::default(),
            stages: Default::default(),
            hw_row: Default::default(),
            hw_cfg: Default::default(),
            hw_addr: Default::default(),
            hw_data: Default::default(),
            r1_region: Default::default(),
            r1_low: Default::default(),
            r1_reg: Default::default(),
            r2_row: Default::default(),
            r2_rowword: Default::default(),
            r2_other: Default::default(),
            rdata_r: Default::default(),
            w_region: Default::default(),
            hw_reg: Default::default(),
            r_region: Default::default(),
            r_reg: Default::default(),
            row_word: Default::default(),
            word_shift: Default::default(),
        }
    }
}

impl<const W: usize> Logic for HostRegisters<W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, t, g, flags, classes, fwd, rev, stride, stages, hw_row, hw_cfg, hw_addr,
            hw_data, r1_region, r1_low, r1_reg, r2_row, r2_rowword, r2_other, rdata_r
        );
        self.cfg_t.next = self.t.q.val();
        self.cfg_g.next = self.g.q.val();
        self.cfg_repeat.next = self.flags.q.val().get_bit(self.f_repeat.val().index());
        self.cfg_sum.next = self.flags.q.val().get_bit(self.f_sum.val().index());
        self.cfg_classes.next = self.classes.q.val();
        self.cfg_fwd.next = self.fwd.q.val();
        self.cfg_rev.next = self.rev.q.val();
        self.cfg_stride.next = self.stride.q.val();

        // ---- Writes ---------------------------------------------------------------
        self.w_region.next = self
            .addr
            .val()
            .get_bits::<REGION_W>(self.a_region.val().index());
        self.hw_row.d.next =
            self.idle.val() & self.we.val() & (self.w_region.val() == self.r_rows.val());
        self.hw_cfg.d.next =
            self.idle.val() & self.we.val() & (self.w_region.val() == self.r_config.val());
        self.hw_addr.d.next = self.addr.val();
        self.hw_data.d.next = self.wdata.val();
        self.row_we.next = self.hw_row.q.val();
        self.row_waddr.next =
            bit_cast::<RAM_ADDR_BITS, ADDR_BITS>(self.hw_addr.q.val() >> self.c_klog.val());
        self.row_wword.next = bit_cast::<4, ADDR_BITS>(self.hw_addr.q.val() & self.c_kmask.val());
        self.row_wdata.next = self.hw_data.q.val();
        self.hw_reg.next = self
            .hw_addr
            .q
            .val()
            .get_bits::<REGISTER_W>(self.a_register.val().index());
        if self.hw_cfg.q.val() {
            if self.hw_reg.val() == self.cr_t.val() {
                self.t.d.next = self.hw_data.q.val().get_bits::<5>(0);
            }
            if self.hw_reg.val() == self.cr_g.val() {
                self.g.d.next = self.hw_data.q.val().get_bits::<11>(0);
            }
            if self.hw_reg.val() == self.cr_flags.val() {
                self.flags.d.next = self.hw_data.q.val().get_bits::<2>(0);
            }
            if self.hw_reg.val() == self.cr_classes.val() {
                self.classes.d.next = self.hw_data.q.val().get_bits::<9>(0);
            }
            if self.hw_reg.val() == self.cr_fwd.val() {
                self.fwd.d.next = self.hw_data.q.val().get_bits::<RAM_ADDR_BITS>(0);
            }
            if self.hw_reg.val() == self.cr_rev.val() {
                self.rev.d.next = self.hw_data.q.val().get_bits::<RAM_ADDR_BITS>(0);
            }
            if self.hw_reg.val() == self.cr_stride.val() {
                self.stride.d.next = self.hw_data.q.val().get_bits::<RAM_ADDR_BITS>(0);
            }
            if self.hw_reg.val() == self.cr_stages.val() {
                self.stages.d.next = self.hw_data.q.val().get_bits::<3>(0);
            }
        }

        // ---- Reads ----------------------------------------------------------------
        self.r_region.next = self
            .raddr
            .val()
            .get_bits::<REGION_W>(self.a_region.val().index());
        self.r_reg.next = self
            .raddr
            .val()
            .get_bits::<REGISTER_W>(self.a_register.val().index());
        self.rd_row_addr.next =
            bit_cast::<RAM_ADDR_BITS, ADDR_BITS>(self.raddr.val() >> self.c_klog.val());
        self.rd_state.next = self.idle.val() & (self.r_region.val() == self.r_state.val());
        self.rd_state_addr.next = self.raddr.val().get_bits::<RAM_ADDR_BITS>(0);
        // Two words per logit.
        self.rd_logit.next = self.idle.val() & (self.r_region.val() == self.r_logits.val());
        self.rd_logit_addr.next = self.raddr.val().get_bits::<RAM_ADDR_BITS>(1);
        self.r1_region.d.next = self.r_region.val();
        self.r1_low.d.next = self.raddr.val().get_bits::<16>(0);
        self.r1_reg.d.next = 0.into();
        if self.r_region.val() == self.r_config.val() {
            if self.r_reg.val() == self.cr_t.val() {
                self.r1_reg.d.next = bit_cast::<16, 5>(self.t.q.val());
            }
            if self.r_reg.val() == self.cr_g.val() {
                self.r1_reg.d.next = bit_cast::<16, 11>(self.g.q.val());
            }
            if self.r_reg.val() == self.cr_flags.val() {
                self.r1_reg.d.next = bit_cast::<16, 2>(self.flags.q.val());
            }
            if self.r_reg.val() == self.cr_classes.val() {
                self.r1_reg.d.next = bit_cast::<16, 9>(self.classes.q.val());
            }
            if self.r_reg.val() == self.cr_fwd.val() {
                self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.fwd.q.val());
            }
            if self.r_reg.val() == self.cr_rev.val() {
                self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.rev.q.val());
            }
            if self.r_reg.val() == self.cr_stride.val() {
                self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.stride.q.val());
            }
            if self.r_reg.val() == self.cr_stages.val() {
                self.r1_reg.d.next = bit_cast::<16, 3>(self.stages.q.val());
            }
        }
        if self.r_region.val() == self.r_status.val() {
            if self.r_reg.val() == self.sr_t_done.val() {
                self.r1_reg.d.next = bit_cast::<16, 5>(self.t_done.val());
            }
            if self.r_reg.val() == self.sr_prediction.val() {
                self.r1_reg.d.next = bit_cast::<16, 8>(self.prediction.val());
            }
            if self.r_reg.val() == self.sr_cycles_lo.val() {
                self.r1_reg.d.next = self.cycles.val().get_bits::<16>(0);
            }
            if self.r_reg.val() == self.sr_cycles_hi.val() {
                self.r1_reg.d.next = self.cycles.val().get_bits::<16>(16);
            }
            if self.r_reg.val() == self.sr_code.val() {
                self.r1_reg.d.next = bit_cast::<16, STATUS_BITS>(self.status.val());
            }
            if self.r_reg.val() == self.sr_entries.val() {
                self.r1_reg.d.next = bit_cast::<16, RAM_ADDR_BITS>(self.entries.val());
            }
        }
        self.row_word.next = bit_cast::<RAM_ADDR_BITS, 16>(self.r1_low.q.val())
            & bit_cast::<RAM_ADDR_BITS, ADDR_BITS>(self.c_kmask.val());
        self.word_shift.next = bit_cast::<8, RAM_ADDR_BITS>(self.row_word.val()) << 4;
        self.r2_row.d.next = self.r1_region.q.val() == self.r_rows.val();
        self.r2_rowword.d.next = self
            .row_data
            .val()
            .get_bits::<16>(self.word_shift.val().index());
        if self.r1_region.q.val() == self.r_state.val() {
            self.r2_other.d.next = self.state_data.val();
        } else if self.r1_region.q.val() == self.r_logits.val() {
            if self.r1_low.q.val().get_bit(self.a_half.val().index()) {
                self.r2_other.d.next = self.logit_data.val().get_bits::<16>(16);
            } else {
                self.r2_other.d.next = self.logit_data.val().get_bits::<16>(0);
            }
        } else {
            self.r2_other.d.next = self.r1_reg.q.val();
        }
        if self.r2_row.q.val() {
            self.rdata_r.d.next = self.r2_rowword.q.val();
        } else {
            self.rdata_r.d.next = self.r2_other.q.val();
        }
        self.rdata.next = self.rdata_r.q.val();
    }
}
