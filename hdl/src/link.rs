//! The link: UART, SLIP, CRC and the command engine in front of the core's host port.
//!
//! Two state machines, in three blocks with helpers of their own:
//! - the receive engine parses frames byte by byte out of [`SlipRx`]'s FIFO in the
//!   [`FrameReceiver`] (the [`HeaderDecoder`] keeps and decodes the header, the
//!   [`PayloadDecoder`] acts on the payload as it arrives: WRITE words go to the host
//!   port, INPUT bytes go to the core's input compactor; there is no frame buffer, EBR
//!   is scarce; the [`FrameTimer`] abandons half frames). At a frame's END it checks
//!   length and CRC and hands its state ([`RxState`], one register for both blocks) to
//!   the [`CommandEngine`], which waits until the previous response has left and the
//!   core is idle, executes the command (the [`LinkRegisters`] hold the link's flags
//!   and counters) and hands a response descriptor to
//! - the response engine, the [`ResponseEngine`], which streams `END, cmd|0x80, seq,
//!   len, words..., crc, END` through [`SlipTx`] and the UART. Every response payload
//!   is a list of 16-bit words from at most two segments; a segment reads consecutive
//!   addresses from the host port, the link's register file or the build-information
//!   ROM.
//!
//! This block only wires them: every register, and every comment on why it is one,
//! is in the block that owns it. The wire format is `revspike_proto::protocol`;
//! docs/protocol.md describes the commands and the flow-control rule the FIFO depth
//! implies.

use rust_hdl::prelude::*;

use crate::command_engine::CommandEngine;
use crate::crc16::Crc16;
use crate::frame_receiver::{FrameReceiver, RxState};
use crate::frame_timer::FrameTimer;
use crate::header_decoder::HeaderDecoder;
use crate::host_port::HostPortDriver;
use crate::link_registers::LinkRegisters;
use crate::payload_decoder::PayloadDecoder;
use crate::response_engine::ResponseEngine;
use crate::slip_rx::SlipRx;
use crate::slip_tx::SlipTx;
use crate::uart_rx::UartRx;
use crate::uart_tx::UartTx;
use revspike_proto::protocol::{BitTiming, BuildInfo, ProtocolError};

/// Width of the inter-byte timeout counter.
pub const LINK_TIMER_BITS: usize = 17;
/// Width of the watchdog counter on the core's commands.
pub const WATCHDOG_BITS: usize = 26;

/// Parameters of a link instance.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// IDENTIFY payload ([`BuildInfo::to_bytes`]).
    pub build_info: Vec<u8>,
    /// UART bit period.
    pub timing: BitTiming,
    /// Inter-byte timeout of a half frame, in clocks.
    pub timeout_clocks: u32,
    /// Clocks the link waits for the core's `done` after a run, rewind or clear before
    /// it aborts the command ([`watchdog_cycles`]).
    pub watchdog_cycles: u32,
}

/// An upper bound on the clocks of the longest run a model that fits the build can
/// take: every timestep of the most timesteps runs the longest program (every stage
/// with every block, each layer in channel tiles of P lanes, plus the readout), and
/// every descriptor streams the most events (the input memory or the widest layer),
/// drains the widest layer twice and pays 32 clocks of fetch, decode and flush; plus
/// clearing the turn-on state and the arg-max.
pub fn worst_run_cycles(info: &BuildInfo) -> u64 {
    let lanes = u64::from(info.lanes.max(1));
    let width = u64::from(info.max_width.max(info.max_classes));
    let tiles = width.div_ceil(lanes);
    let descriptors = u64::from(info.max_stages) * (2 + u64::from(info.max_blocks)) * tiles + tiles;
    let events = u64::from(info.input_entries).max(width);
    let per_descriptor = events + 2 * width + 32;
    u64::from(info.max_timesteps) * descriptors * per_descriptor
        + u64::from(info.max_stages) * width
        + 2 * width
        + 64
}

/// The link's watchdog bound for a build: at least four times [`worst_run_cycles`],
/// rounded up to a power of two (Cu: 2^22 clocks, 42 ms at 100 MHz, well inside the
/// host's 2 s response timeout).
pub fn watchdog_cycles(info: &BuildInfo) -> u64 {
    (4 * worst_run_cycles(info)).next_power_of_two()
}

impl LinkConfig {
    /// Configuration from a build description: the bit timing of its clock and baud, a
    /// 1 ms half-frame timeout and the build's watchdog bound.
    pub fn from_build(info: &BuildInfo) -> Result<LinkConfig, ProtocolError> {
        let timing = info.bit_timing()?;
        let timeout = u64::from(info.clock_hz / 1000)
            .clamp(timing.clocks_for_bits(400), (1 << LINK_TIMER_BITS) - 1);
        let watchdog = watchdog_cycles(info);
        if watchdog >= 1 << WATCHDOG_BITS {
            return Err(ProtocolError::BadBuildInfo(format!(
                "a watchdog bound of {watchdog} clocks does not fit {WATCHDOG_BITS} bits"
            )));
        }
        Ok(LinkConfig {
            build_info: info.to_bytes()?,
            timing,
            timeout_clocks: timeout as u32,
            watchdog_cycles: watchdog as u32,
        })
    }
}

#[derive(LogicBlock)]
pub struct Link {
    pub clock: Signal<In, Clock>,
    /// UART from the host (FPGA input).
    pub uart_rx: Signal<In, Bit>,
    /// UART to the host (FPGA output).
    pub uart_tx: Signal<Out, Bit>,
    /// The core's host port (docs/architecture.md), driven from this side.
    pub host: HostPortDriver,
    /// Pulse: a clear of the core's turn-on state from outside the link (the board's
    /// reset button), passed on to the host port's `clear`.
    pub board_clear: Signal<In, Bit>,
    /// Pulse: stop the core's command (it then raises `done`). The spiking core's
    /// commands always end, so only the link tests' mock core takes it; the watchdog
    /// that raises it still bounds every wait.
    pub abort: Signal<Out, Bit>,
    /// Toggles with every response sent.
    pub led_activity: Signal<Out, Bit>,
    /// The core or the command engine is busy.
    pub led_busy: Signal<Out, Bit>,
    /// An error frame was sent since the last RESET.
    pub led_error: Signal<Out, Bit>,

    urx: UartRx,
    utx: UartTx,
    srx: SlipRx,
    stx: SlipTx,
    rcrc: Crc16,
    tcrc: Crc16,
    frame: FrameReceiver,
    timer: FrameTimer,
    header: HeaderDecoder,
    payload: PayloadDecoder,
    engine: CommandEngine,
    registers: LinkRegisters,
    response: ResponseEngine,
}

impl Link {
    /// A link for `config` (its build information is checked by the response engine).
    pub fn new(config: &LinkConfig) -> Result<Link, ProtocolError> {
        if !(1..(1 << LINK_TIMER_BITS)).contains(&config.timeout_clocks) {
            return Err(ProtocolError::BadBuildInfo(format!(
                "timeout of {} clocks does not fit {LINK_TIMER_BITS} bits",
                config.timeout_clocks
            )));
        }
        let t = config.timing;
        if BitTiming::from_rates(t.clocks, t.bits) != Ok(t) {
            return Err(ProtocolError::BadBuildInfo(format!(
                "bit timing {}/{} clocks is not one the UART runs at",
                t.clocks, t.bits
            )));
        }
        if !(1..(1 << WATCHDOG_BITS)).contains(&config.watchdog_cycles) {
            return Err(ProtocolError::BadBuildInfo(format!(
                "watchdog of {} clocks does not fit {WATCHDOG_BITS} bits",
                config.watchdog_cycles
            )));
        }
        Ok(Link {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            host: Default::default(),
            board_clear: Default::default(),
            abort: Default::default(),
            led_activity: Default::default(),
            led_busy: Default::default(),
            led_error: Default::default(),
            urx: UartRx::new(config.timing),
            utx: UartTx::new(config.timing),
            srx: Default::default(),
            stx: Default::default(),
            rcrc: Default::default(),
            tcrc: Default::default(),
            frame: Default::default(),
            timer: FrameTimer::new(config.timeout_clocks),
            header: Default::default(),
            payload: Default::default(),
            engine: CommandEngine::new(config.watchdog_cycles),
            registers: Default::default(),
            response: ResponseEngine::new(&config.build_info)?,
        })
    }
}

impl Logic for Link {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, urx, utx, srx, stx, rcrc, tcrc, frame);
        clock!(self, clock, timer, header, payload, engine);
        clock!(self, clock, registers, response);

        // UART and SLIP.
        self.urx.rx.next = self.uart_rx.val();
        self.srx.in_byte.next = self.urx.data.val();
        self.srx.in_valid.next = self.urx.valid.val();
        self.stx.uart_ready.next = self.utx.ready.val();
        self.utx.data.next = self.stx.uart_data.val();
        self.utx.start.next = self.stx.uart_start.val();
        self.uart_tx.next = self.utx.tx.val();

        // The host port and the LEDs.
        self.host.we.next = self.payload.we.val();
        self.host.addr.next = self.payload.addr.val();
        self.host.wdata.next = self.payload.wdata.val();
        self.host.raddr.next = self.response.raddr.val();
        self.response.rdata.next = self.host.rdata.val();
        self.host.in_start.next = self.frame.in_start.val();
        self.host.in_valid.next = self.payload.in_valid.val();
        self.host.in_byte.next = self.payload.in_byte.val();
        self.host.in_commit.next = self.engine.in_commit.val();
        self.host.in_abort.next = self.engine.in_abort.val();
        self.host.run.next = self.engine.run.val();
        self.host.rewind.next = self.engine.rewind.val();
        self.host.clear.next = self.engine.clear.val() | self.board_clear.val();
        self.abort.next = self.engine.abort.val();
        self.engine.busy.next = self.host.busy.val();
        self.engine.done.next = self.host.done.val();
        self.engine.status.next = self.host.status.val();
        self.led_activity.next = self.response.led_activity.val();
        self.led_error.next = self.registers.led_error.val();
        self.led_busy.next = self.host.busy.val()
            || (self.frame.state.val() != RxState::Hunt
                && self.frame.state.val() != RxState::Header
                && self.frame.state.val() != RxState::Payload
                && self.frame.state.val() != RxState::Crc
                && self.frame.state.val() != RxState::Excess
                && self.frame.state.val() != RxState::Drop);

        // Frame receiver and its timer.
        self.frame.head_valid.next = self.srx.out_valid.val();
        self.frame.head_end.next = self.srx.out_end.val();
        self.frame.head_byte.next = self.srx.out_byte.val();
        self.frame.head_lost.next = self.srx.out_lost.val();
        self.frame.lost_pending.next = self.srx.lost_pending.val();
        self.srx.pop.next = self.frame.pop.val();
        self.frame.crc.next = self.rcrc.crc.val();
        self.rcrc.init.next = self.frame.crc_init.val();
        self.rcrc.strobe.next = self.frame.crc_strobe.val();
        self.rcrc.data.next = self.frame.crc_data.val();
        self.frame.exec_next.next = self.engine.exec_next.val();
        self.frame.exec_frame_reset.next = self.engine.frame_reset.val();
        self.frame.stall.next = self.payload.stall.val();
        self.frame.length.next = self.header.length.val();
        self.frame.oversize.next = self.header.oversize.val();
        self.frame.args_valid.next = self.header.args_valid.val();
        self.frame.length_field.next = self.header.length_field.val();
        self.frame.is_input.next = self.header.is_input.val();
        self.frame.in_ok.next = self.header.in_ok.val();
        self.frame.pending_error.next = self.header.pending_error.val();
        self.frame.bad_range.next = self.payload.bad_range.val();
        self.frame.busy_q.next = self.engine.busy_q.val();
        self.frame.close_input.next = self.engine.close_input.val();
        self.frame.timeout.next = self.timer.timeout.val();
        self.frame.watchdog.next = self.engine.watchdog_fire_q.val();
        self.timer.rx_valid.next = self.urx.valid.val();
        self.timer.state.next = self.frame.state.val();
        self.timer.bytes.next = self.frame.bytes.val();
        self.timer.lost_hdr.next = self.srx.lost_hdr.val();
        self.timer.fifo_nonempty.next = self.srx.nonempty.val();

        // Header decoder.
        self.header.header_byte.next = self.frame.header_byte.val();
        self.header.header_index.next = self.frame.header_index.val();
        self.header.head_byte.next = self.srx.out_byte.val();
        self.header.take_lost.next = self.engine.take_lost.val();
        self.header.lost_cmd.next = self.srx.lost_cmd.val();
        self.header.lost_seq.next = self.srx.lost_seq.val();
        self.header.bad_input.next = self.payload.bad_input.val();
        self.header.frame_reset.next = self.frame.frame_reset.val();
        self.header.loaded.next = self.registers.model_loaded.val();
        self.header.dirty.next = self.registers.model_dirty.val();

        // Payload decoder.
        self.payload.take.next = self.frame.payload_byte.val();
        self.payload.head_byte.next = self.srx.out_byte.val();
        self.payload.index.next = self.frame.index.val();
        self.payload.last.next = self.frame.last.val();
        self.payload.started.next = self.frame.started.val();
        self.payload.frame_reset.next = self.frame.frame_reset.val();
        self.payload.busy_q.next = self.engine.busy_q.val();
        self.payload.length.next = self.header.length.val();
        self.payload.is_addressed.next = self.header.is_addressed.val();
        self.payload.is_write.next = self.header.is_write.val();
        self.payload.is_read.next = self.header.is_read.val();
        self.payload.is_rewind.next = self.header.is_rewind.val();
        self.payload.is_packed.next = self.header.is_packed.val();
        self.payload.count_down.next = self.engine.count_down.val();

        // Command engine.
        self.engine.state.next = self.frame.state.val();
        self.engine.bytes.next = self.frame.bytes.val();
        self.engine.overrun.next = self.frame.overrun.val();
        self.engine.started.next = self.frame.started.val();
        self.engine.error.next = self.frame.error.val();
        self.frame.err_set.next = self.engine.err_set.val();
        self.frame.err_next.next = self.engine.err_next.val();
        self.engine.lost_hdr.next = self.srx.lost_hdr.val();
        self.srx.lost_hdr_clear.next = self.engine.lost_hdr_clear.val();
        self.engine.is_input.next = self.header.is_input.val();
        self.engine.is_run.next = self.header.is_run.val();
        self.engine.is_rewind.next = self.header.is_rewind.val();
        self.engine.is_reset.next = self.header.is_reset.val();
        self.engine.is_infer.next = self.header.is_infer.val();
        self.engine.is_load_begin.next = self.header.is_load_begin.val();
        self.engine.is_load_end.next = self.header.is_load_end.val();
        self.engine.expanding.next = self.payload.expanding.val();
        self.engine.count_zero.next = self.payload.count_zero.val();
        self.engine.loaded.next = self.registers.model_loaded.val();
        self.engine.dirty.next = self.registers.model_dirty.val();
        self.engine.tx_idle.next = self.response.idle.val();

        // Link registers.
        self.registers.we.next = self.payload.we.val();
        self.registers.addr.next = self.payload.addr.val();
        self.registers.addr_bad.next = self.payload.addr_bad.val();
        self.registers.framing_error.next = self.urx.framing_error.val();
        self.registers.fifo_overrun.next = self.srx.overrun.val();
        self.registers.timeout.next = self.timer.timeout.val();
        self.registers.command.next = self.header.command.val();
        self.registers.is_write.next = self.header.is_write.val();
        self.registers.error.next = self.frame.error.val();
        self.registers.error_code.next = self.engine.error_code.val();
        self.registers.error_detail.next = self.engine.error_detail.val();
        self.registers.frame_failed.next = self.engine.frame_failed.val();
        self.registers.load_begin.next = self.engine.load_begin.val();
        self.registers.load_end.next = self.engine.load_end.val();
        self.registers.input_valid.next = self.engine.input_valid.val();
        self.registers.input_invalid.next = self.engine.input_invalid.val();
        self.registers.clear_counts.next = self.engine.clear_counts.val();
        self.registers.error_sent.next = self.engine.error_sent.val();
        self.registers.watchdog_fire.next = self.engine.watchdog_fire.val();
        self.registers.word_addr.next = self.response.link_addr.val();

        // Response engine.
        self.response.respond.next = self.engine.respond.val();
        self.response.command.next = self.header.command.val();
        self.response.frame_seq.next = self.header.frame_seq.val();
        self.response.err_any.next = self.engine.err_any.val();
        self.response.addr.next = self.payload.addr.val();
        self.response.count.next = self.payload.count.val();
        self.response.is_identify.next = self.header.is_identify.val();
        self.response.is_read.next = self.header.is_read.val();
        self.response.is_input_only.next = self.header.is_input_only.val();
        self.response.is_run.next = self.header.is_run.val();
        self.response.is_infer.next = self.header.is_infer.val();
        self.response.is_rewind.next = self.header.is_rewind.val();
        self.response.is_status.next = self.header.is_status.val();
        self.response.is_load_end.next = self.header.is_load_end.val();
        self.response.link_word.next = self.registers.word.val();
        self.stx.data.next = self.response.tx_data.val();
        self.stx.is_end.next = self.response.tx_end.val();
        self.stx.valid.next = self.response.tx_valid.val();
        self.response.ready.next = self.stx.ready.val();
        self.response.crc.next = self.tcrc.crc.val();
        self.tcrc.init.next = self.response.crc_init.val();
        self.tcrc.strobe.next = self.response.crc_strobe.val();
        self.tcrc.data.next = self.response.crc_data.val();
    }
}
