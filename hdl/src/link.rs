//! The link: UART, SLIP, CRC and the command engine in front of the core's host port.
//!
//! Two state machines share this block:
//! - the **receive engine** parses frames byte by byte out of [`SlipRx`]'s FIFO and
//!   acts on them as they arrive (WRITE words go to the host port, INPUT bytes go
//!   to the core's input compactor): there is no frame buffer, EBR is scarce. At a
//!   frame's END it checks length and CRC, waits until the previous response has
//!   left and the core is idle, executes the command and hands a response
//!   descriptor to
//! - the **response engine**, which streams `END, cmd|0x80, seq, len, words..., crc,
//!   END` through [`SlipTx`] and the UART. Every response payload is a list of
//!   16-bit words from at most two segments; a segment reads consecutive addresses
//!   from the host port, the link's own register file or the build-information ROM.
//!
//! The wire format is `revspike_proto::protocol`; docs/protocol.md describes the
//! commands and the flow-control rule the FIFO depth implies.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

use crate::crc16::Crc16;
use crate::slip_rx::SlipRx;
use crate::slip_tx::SlipTx;
use crate::uart_rx::UartRx;
use crate::uart_tx::UartTx;
use revspike_proto::protocol::{
    BitTiming, BuildInfo, ProtocolError, BUILD_INFO_LEN, CORE_DETAIL_WATCHDOG, MAX_PAYLOAD,
    MAX_READ_WORDS,
};

// `#[hdl_gen]` kernels cannot name Rust constants, so the command engine compares
// command codes, sets error codes and addresses the core with literals. Each is tied
// here to its one definition in `revspike_proto` (the protocol's codes, the
// contract's address map): a change there that this file does not follow fails to
// compile.
const _: () = {
    use revspike_proto::contract::{ConfigReg, Region};
    use revspike_proto::protocol::{CommandCode as C, ErrorCode as E};
    assert!(C::Identify as u8 == 0x01 && C::Write as u8 == 0x02 && C::Read as u8 == 0x03);
    assert!(C::Input as u8 == 0x04 && C::Run as u8 == 0x05 && C::Infer as u8 == 0x06);
    assert!(C::Rewind as u8 == 0x07 && C::Reset as u8 == 0x08 && C::Status as u8 == 0x09);
    assert!(C::LoadBegin as u8 == 0x0A && C::LoadEnd as u8 == 0x0B);
    // The highest code `known` accepts.
    assert!(C::InferPacked as u8 == 0x0C && C::ALL.len() == 0x0C);
    assert!(E::BadCrc as u8 == 1 && E::Length as u8 == 2 && E::Oversize as u8 == 3);
    assert!(E::UnknownCommand as u8 == 4 && E::BadArguments as u8 == 5);
    assert!(E::NotLoaded as u8 == 6 && E::Core as u8 == 7 && E::Overrun as u8 == 8);
    // The payload-length table `args_ok` decodes (`Command::parse`'s rule).
    use revspike_proto::protocol::PayloadRule as P;
    const fn is(c: C, rule: P) -> bool {
        match (c.payload_rule(), rule) {
            (P::Exactly(a), P::Exactly(b)) => a == b,
            (P::AddressAndWords, P::AddressAndWords) | (P::Any, P::Any) => true,
            _ => false,
        }
    }
    assert!(is(C::Identify, P::Exactly(0)) && is(C::Write, P::AddressAndWords));
    assert!(is(C::Read, P::Exactly(6)) && is(C::Input, P::Any) && is(C::Run, P::Exactly(0)));
    assert!(is(C::Infer, P::Any) && is(C::Rewind, P::Exactly(1)));
    assert!(is(C::Reset, P::Exactly(0)) && is(C::Status, P::Exactly(0)));
    assert!(is(C::LoadBegin, P::Exactly(0)) && is(C::LoadEnd, P::Exactly(4)));
    assert!(is(C::InferPacked, P::Any));
    assert!(ConfigReg::Classes.address() == 0x1_0003);
    assert!(Region::Logits.base() == 0x3_0000 && Region::Status.base() == 0x4_0000);
};

/// Width of the inter-byte timeout counter.
pub const LINK_TIMER_BITS: usize = 17;
/// Width of the watchdog counter on the core's commands.
pub const WATCHDOG_BITS: usize = 26;
// The CORE error's detail register is 8 bits wide.
const _: () = assert!(CORE_DETAIL_WATCHDOG < 256);
// The response engine samples `rdata` in the 4th cycle of Fetch / Classes: the link's
// own `raddr` register plus the host port's read latency.
const _: () = assert!(revspike_proto::core_port::READ_LATENCY == 3);

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum RxState {
    Hunt,
    Header,
    Payload,
    Crc,
    Excess,
    Drop,
    Done,
    Commit,
    RunCheck,
    RunWait,
    RunStatus,
    Rewind,
    RewindWait,
    RewindStatus,
    ResetAbort,
    ClearWait,
    AbortWait,
    Post,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum TxState {
    Idle,
    Start,
    Classes,
    SendEnd0,
    SendCmd,
    SendSeq,
    SendLen0,
    SendLen1,
    NextWord,
    Fetch,
    SendLo,
    SendHi,
    SendCrc0,
    SendCrc1,
    SendEnd1,
}

// Inside `update` (rust-hdl kernels take literals, not named constants):
// - word source `t_src`: 0 host port, 1 link registers, 2 build-information ROM;
// - second segment `t_seg2`: 0 none, 1 logits (2 x classes words from 0x30000),
//   2 link status (link words 0..4);
// - host-port addresses: 0x10003 classes, 0x30000 logits, 0x40000 status words;
// - commands: 1 IDENTIFY, 2 WRITE, 3 READ, 4 INPUT, 5 RUN, 6 INFER, 7 REWIND,
//   8 RESET, 9 STATUS, 10 LOAD_BEGIN, 11 LOAD_END, 12 INFER_PACKED
//   (protocol::CommandCode);
// - host-port regions: WRITE to 0..2, READ of 0..4 (docs/architecture.md);
// - error codes: 1 CRC, 2 length, 3 oversize, 4 unknown, 5 arguments, 6 not loaded,
//   7 core, 8 overrun (protocol::ErrorCode).

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
    // Host port of the core (docs/architecture.md), directions mirrored.
    pub we: Signal<Out, Bit>,
    pub addr: Signal<Out, Bits<20>>,
    pub wdata: Signal<Out, Bits<16>>,
    pub raddr: Signal<Out, Bits<20>>,
    pub rdata: Signal<In, Bits<16>>,
    pub in_start: Signal<Out, Bit>,
    pub in_valid: Signal<Out, Bit>,
    pub in_byte: Signal<Out, Bits<8>>,
    pub in_commit: Signal<Out, Bit>,
    pub in_abort: Signal<Out, Bit>,
    pub run: Signal<Out, Bit>,
    pub rewind: Signal<Out, Bit>,
    pub clear: Signal<Out, Bit>,
    /// Pulse: stop the core's command (it then raises `done`).
    pub abort: Signal<Out, Bit>,
    pub busy: Signal<In, Bit>,
    pub done: Signal<In, Bit>,
    pub status: Signal<In, Bits<8>>,
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
    rom: ROM<Bits<16>, 5>,

    // Receive engine.
    rstate: DFF<RxState>,
    hidx: DFF<Bits<2>>,
    fcount: DFF<Bits<3>>,
    pidx: DFF<Bits<13>>,
    // pidx + 1, counted beside pidx: the last-byte compare then starts at flip-flops.
    pidx_next: DFF<Bits<13>>,
    // The host port's read address, registered: the port answers 3 cycles after it,
    // 4 after the response engine picks the address (NextWord / Start), and the engine
    // samples in the 4th cycle of Fetch / Classes.
    raddr_r: DFF<Bits<20>>,
    cmd: DFF<Bits<8>>,
    seq: DFF<Bits<8>>,
    len: DFF<Bits<13>>,
    // The length's low byte exceeds MAX_PAYLOAD's, decided as it arrives so the
    // oversize test on the high byte is two short compares.
    lo_gt: DFF<Bit>,
    // Bits 23:20 only catch addresses beyond the 20-bit map.
    waddr: DFF<Bits<24>>,
    hi_bad: DFF<Bit>,
    cnt: DFF<Bits<16>>,
    lo: DFF<Bits<8>>,
    crc_bad: DFF<Bit>,
    overrun_f: DFF<Bit>,
    in_started: DFF<Bit>,
    pend: DFF<Bits<4>>,
    err: DFF<Bits<4>>,
    settle: DFF<Bits<2>>,
    timer: DFF<Bits<LINK_TIMER_BITS>>,
    // Link state.
    wc: DFF<Bits<20>>,
    loaded: DFF<Bit>,
    dirty: DFF<Bit>,
    input_ok: DFF<Bit>,
    last_err: DFF<Bits<4>>,
    n_crc: DFF<Bits<8>>,
    n_framing: DFF<Bits<8>>,
    n_timeout: DFF<Bits<8>>,
    n_overrun: DFF<Bits<8>>,
    err_cmd: DFF<Bits<8>>,
    err_code: DFF<Bits<4>>,
    err_detail: DFF<Bits<8>>,
    activity: DFF<Bit>,
    error_seen: DFF<Bit>,
    // Registered host-port outputs.
    we_r: DFF<Bit>,
    in_valid_r: DFF<Bit>,
    in_byte_r: DFF<Bits<8>>,
    in_start_r: DFF<Bit>,
    in_commit_r: DFF<Bit>,
    in_abort_r: DFF<Bit>,
    run_r: DFF<Bit>,
    rewind_r: DFF<Bit>,
    clear_r: DFF<Bit>,
    abort_r: DFF<Bit>,
    // Watchdog on the core's commands: clocks waited, and the bound reached.
    wd: DFF<Bits<WATCHDOG_BITS>>,
    wd_exp_r: DFF<Bit>,
    // INFER_PACKED: a 0x00 was taken and its count byte is due; zeros still to hand
    // to the core; values handed to the core in this frame, and that count at
    // MAX_PAYLOAD (registered; values come at most every second cycle).
    zexp: DFF<Bit>,
    zrun: DFF<Bits<9>>,
    zcount: DFF<Bits<13>>,
    zfull_r: DFF<Bit>,
    // The address checks of WRITE and READ, registered in two steps from the address
    // (and, for a WRITE, the word count its length implies; for a READ, the count):
    // the sum of the in-region offset and the count, then the verdicts.
    wsum_r: DFF<Bits<17>>,
    w_bad_r: DFF<Bit>,
    r_reg_bad_r: DFF<Bit>,
    rsum_r: DFF<Bits<17>>,
    r_cross_r: DFF<Bit>,
    // INPUT, or a model is loaded and clean: an INFER may open an input.
    in_ok_r: DFF<Bit>,

    // Response engine.
    tstate: DFF<TxState>,
    t_cmd: DFF<Bits<8>>,
    t_seq: DFF<Bits<8>>,
    t_src: DFF<Bits<2>>,
    t_addr: DFF<Bits<20>>,
    t_left: DFF<Bits<12>>,
    t_seg2: DFF<Bits<2>>,
    t_n2: DFF<Bits<10>>,
    t_word: DFF<Bits<16>>,
    t_wait: DFF<Bits<2>>,
    // The response length, registered: t_left and t_n2 settle at least two cycles
    // before SendLen0.
    t_len_r: DFF<Bits<16>>,
    // The transmit CRC takes each byte one cycle after the SLIP encoder does; the CRC
    // bytes are sent no earlier than two cycles after the last payload byte.
    tc_strobe: DFF<Bit>,
    tc_data: DFF<Bits<8>>,

    // Registered decisions of the receive engine. The engine acts on a FIFO entry
    // only once it has been at the head for a cycle (`hv_q`), and the engine's state
    // changes only when it acts, so every decision below is computed in the cycle
    // before it is used from the same state and head byte.
    hv_q: DFF<Bit>,
    too_big_r: DFF<Bit>,
    args_ok_r: DFF<Bit>,
    known_r: DFF<Bit>,
    full_len_r: DFF<Bits<16>>,
    end_err_r: DFF<Bits<4>>,
    last_r: DFF<Bit>,
    crc_lo_ne: DFF<Bit>,
    crc_hi_ne: DFF<Bit>,
    tmo_r: DFF<Bit>,
    // The core's busy flag, registered: the core leaves Idle only on the link's own
    // run, rewind and clear pulses, and the link waits for `done` after each, so a
    // one-cycle-old copy is never wrong where the link looks at it.
    busy_r: DFF<Bit>,
    // The command decoded one-hot and the payload index's small compares, settled
    // long before a payload byte is acted on.
    c_write: DFF<Bit>,
    c_read: DFF<Bit>,
    c_input: DFF<Bit>,
    c_rewind: DFF<Bit>,
    c_addressed: DFF<Bit>,
    c_ident: DFF<Bit>,
    c_run: DFF<Bit>,
    c_reset: DFF<Bit>,
    c_status: DFF<Bit>,
    c_begin: DFF<Bit>,
    c_end: DFF<Bit>,
    // INPUT (0x04) and INFER (0x06, 0x0C) apart, for the response; INFER_PACKED.
    c_in4: DFF<Bit>,
    c_infer: DFF<Bit>,
    c_packed: DFF<Bit>,
    // Post takes two cycles: the first lets the registered error and command flags
    // settle (an error may be set as Post is entered), the second hands over.
    post_go: DFF<Bit>,
    // Done acts from its second cycle (`go_r`): by then the frame's verdict (latched
    // as Done is entered: `err_any_r`, `err_crc_r`) and LOAD_END's word-count check
    // (`end_ok_r`) are registered too, and the command's decisions start at flip-flops.
    go_r: DFF<Bit>,
    // The core's done pulse, registered here so the core-to-link route is one net
    // between flip-flops.
    done_q: DFF<Bit>,
    // Tests of the count word, settled long before they are looked at: zero (Rewind,
    // after the count arrived or was decremented) and more words than one response
    // carries (a READ's verdict at END).
    cnt_zero: DFF<Bit>,
    cnt_big: DFF<Bit>,
    err_any_r: DFF<Bit>,
    err_crc_r: DFF<Bit>,
    end_ok_r: DFF<Bit>,
    // Payload index below / at 3 (the address bytes of WRITE, READ, LOAD_END).
    p_lt3: DFF<Bit>,
    p_eq3: DFF<Bit>,
    // The receive CRC takes each popped byte one cycle later.
    rc_strobe: DFF<Bit>,
    rc_data: DFF<Bits<8>>,

    // Combinational helpers.
    hv: Signal<Local, Bit>,
    he: Signal<Local, Bit>,
    hb: Signal<Local, Bits<8>>,
    pop: Signal<Local, Bit>,
    full_len: Signal<Local, Bits<16>>,
    too_big: Signal<Local, Bit>,
    args_ok: Signal<Local, Bit>,
    known: Signal<Local, Bit>,
    end_err: Signal<Local, Bits<4>>,
    frame_reset: Signal<Local, Bit>,
    mid_frame: Signal<Local, Bit>,
    tmo: Signal<Local, Bit>,
    abort_input: Signal<Local, Bit>,
    watchdog_fire: Signal<Local, Bit>,
    t_len: Signal<Local, Bits<16>>,
    t_byte: Signal<Local, Bits<8>>,
    t_is_end: Signal<Local, Bit>,
    t_send: Signal<Local, Bit>,
    t_crc_byte: Signal<Local, Bit>,
    link_word: Signal<Local, Bits<16>>,

    timeout_clocks: Constant<Bits<LINK_TIMER_BITS>>,
    watchdog: Constant<Bits<WATCHDOG_BITS>>,
    max_values: Constant<Bits<13>>,
    max_hi: Constant<Bits<8>>,
    max_lo: Constant<Bits<8>>,
    max_read: Constant<Bits<16>>,
    rom_words: Constant<Bits<12>>,
}

impl Link {
    /// A link for `config`.
    pub fn new(config: &LinkConfig) -> Result<Link, ProtocolError> {
        if config.build_info.len() != BUILD_INFO_LEN {
            return Err(ProtocolError::BadBuildInfo(format!(
                "{} bytes of build information, expected {BUILD_INFO_LEN}",
                config.build_info.len()
            )));
        }
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
        let mut rom = BTreeMap::new();
        for (i, pair) in config.build_info.chunks(2).enumerate() {
            let w = pair[0] as u64 | (*pair.get(1).unwrap_or(&0) as u64) << 8;
            rom.insert(Bits::<5>::from(i as u64), Bits::<16>::from(w));
        }
        Ok(Link {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
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
            abort: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            status: Default::default(),
            led_activity: Default::default(),
            led_busy: Default::default(),
            led_error: Default::default(),
            urx: UartRx::new(config.timing),
            utx: UartTx::new(config.timing),
            srx: Default::default(),
            stx: Default::default(),
            rcrc: Default::default(),
            tcrc: Default::default(),
            rom: ROM::new(rom),
            rstate: Default::default(),
            hidx: Default::default(),
            fcount: Default::default(),
            pidx: Default::default(),
            pidx_next: Default::default(),
            raddr_r: Default::default(),
            cmd: Default::default(),
            seq: Default::default(),
            len: Default::default(),
            lo_gt: Default::default(),
            waddr: Default::default(),
            hi_bad: Default::default(),
            cnt: Default::default(),
            lo: Default::default(),
            crc_bad: Default::default(),
            overrun_f: Default::default(),
            in_started: Default::default(),
            pend: Default::default(),
            err: Default::default(),
            settle: Default::default(),
            timer: Default::default(),
            wc: Default::default(),
            loaded: Default::default(),
            dirty: Default::default(),
            input_ok: Default::default(),
            last_err: Default::default(),
            n_crc: Default::default(),
            n_framing: Default::default(),
            n_timeout: Default::default(),
            n_overrun: Default::default(),
            err_cmd: Default::default(),
            err_code: Default::default(),
            err_detail: Default::default(),
            activity: Default::default(),
            error_seen: Default::default(),
            we_r: Default::default(),
            in_valid_r: Default::default(),
            in_byte_r: Default::default(),
            in_start_r: Default::default(),
            in_commit_r: Default::default(),
            in_abort_r: Default::default(),
            run_r: Default::default(),
            rewind_r: Default::default(),
            clear_r: Default::default(),
            abort_r: Default::default(),
            wd: Default::default(),
            wd_exp_r: Default::default(),
            zexp: Default::default(),
            zrun: Default::default(),
            zcount: Default::default(),
            zfull_r: Default::default(),
            wsum_r: Default::default(),
            w_bad_r: Default::default(),
            r_reg_bad_r: Default::default(),
            rsum_r: Default::default(),
            r_cross_r: Default::default(),
            in_ok_r: Default::default(),
            tstate: Default::default(),
            t_cmd: Default::default(),
            t_seq: Default::default(),
            t_src: Default::default(),
            t_addr: Default::default(),
            t_left: Default::default(),
            t_seg2: Default::default(),
            t_n2: Default::default(),
            t_word: Default::default(),
            t_wait: Default::default(),
            t_len_r: Default::default(),
            tc_strobe: Default::default(),
            tc_data: Default::default(),
            hv_q: Default::default(),
            too_big_r: Default::default(),
            args_ok_r: Default::default(),
            known_r: Default::default(),
            full_len_r: Default::default(),
            end_err_r: Default::default(),
            last_r: Default::default(),
            crc_lo_ne: Default::default(),
            crc_hi_ne: Default::default(),
            tmo_r: Default::default(),
            busy_r: Default::default(),
            c_write: Default::default(),
            c_read: Default::default(),
            c_input: Default::default(),
            c_rewind: Default::default(),
            c_addressed: Default::default(),
            c_ident: Default::default(),
            c_run: Default::default(),
            c_reset: Default::default(),
            c_status: Default::default(),
            c_begin: Default::default(),
            c_end: Default::default(),
            c_in4: Default::default(),
            c_infer: Default::default(),
            c_packed: Default::default(),
            post_go: Default::default(),
            go_r: Default::default(),
            done_q: Default::default(),
            cnt_zero: Default::default(),
            cnt_big: Default::default(),
            err_any_r: Default::default(),
            err_crc_r: Default::default(),
            end_ok_r: Default::default(),
            p_lt3: Default::default(),
            p_eq3: Default::default(),
            rc_strobe: Default::default(),
            rc_data: Default::default(),
            hv: Default::default(),
            he: Default::default(),
            hb: Default::default(),
            pop: Default::default(),
            full_len: Default::default(),
            too_big: Default::default(),
            args_ok: Default::default(),
            known: Default::default(),
            end_err: Default::default(),
            frame_reset: Default::default(),
            mid_frame: Default::default(),
            tmo: Default::default(),
            abort_input: Default::default(),
            watchdog_fire: Default::default(),
            t_len: Default::default(),
            t_byte: Default::default(),
            t_is_end: Default::default(),
            t_send: Default::default(),
            t_crc_byte: Default::default(),
            link_word: Default::default(),
            timeout_clocks: Constant::new((config.timeout_clocks as u64).to_bits()),
            watchdog: Constant::new((config.watchdog_cycles as u64).to_bits()),
            max_values: Constant::new((MAX_PAYLOAD as u64).to_bits()),
            max_hi: Constant::new((MAX_PAYLOAD as u64 >> 8).to_bits()),
            max_lo: Constant::new((MAX_PAYLOAD as u64 & 0xFF).to_bits()),
            max_read: Constant::new((MAX_READ_WORDS as u64).to_bits()),
            rom_words: Constant::new((BUILD_INFO_LEN as u64 / 2).to_bits()),
        })
    }
}

impl Logic for Link {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, urx, utx, srx, stx, rcrc, tcrc);
        dff_setup!(
            self,
            clock,
            rstate,
            hidx,
            fcount,
            pidx,
            pidx_next,
            raddr_r,
            cmd,
            seq,
            len,
            lo_gt,
            waddr,
            hi_bad,
            cnt,
            lo,
            crc_bad,
            overrun_f,
            in_started,
            pend,
            err,
            settle,
            timer,
            wc,
            loaded,
            dirty,
            input_ok,
            last_err,
            n_crc,
            n_framing,
            n_timeout,
            n_overrun,
            err_cmd,
            err_code,
            err_detail,
            activity,
            error_seen,
            we_r,
            in_valid_r,
            in_byte_r,
            in_start_r,
            in_commit_r,
            in_abort_r,
            run_r,
            rewind_r,
            clear_r,
            abort_r,
            wd,
            wd_exp_r,
            zexp,
            zrun,
            zcount,
            zfull_r,
            wsum_r,
            w_bad_r,
            r_reg_bad_r,
            rsum_r,
            r_cross_r,
            in_ok_r,
            tstate,
            t_cmd,
            t_seq,
            t_src,
            t_addr,
            t_left,
            t_seg2,
            t_n2,
            t_word,
            t_wait,
            t_len_r,
            tc_strobe,
            tc_data,
            hv_q,
            too_big_r,
            args_ok_r,
            known_r,
            full_len_r,
            end_err_r,
            last_r,
            crc_lo_ne,
            crc_hi_ne,
            tmo_r,
            rc_strobe,
            rc_data,
            busy_r,
            c_write,
            c_read,
            c_input,
            c_rewind,
            c_addressed,
            c_ident,
            c_run,
            c_reset,
            c_status,
            c_begin,
            c_end,
            c_in4,
            c_infer,
            c_packed,
            post_go,
            go_r,
            done_q,
            cnt_zero,
            cnt_big,
            err_any_r,
            err_crc_r,
            end_ok_r,
            p_lt3,
            p_eq3
        );

        // ---- wiring -------------------------------------------------------------
        self.urx.rx.next = self.uart_rx.val();
        self.srx.in_byte.next = self.urx.data.val();
        self.srx.in_valid.next = self.urx.valid.val();
        self.stx.uart_ready.next = self.utx.ready.val();
        self.utx.data.next = self.stx.uart_data.val();
        self.utx.start.next = self.stx.uart_start.val();
        self.uart_tx.next = self.utx.tx.val();
        self.hv.next = self.srx.out_valid.val() && self.hv_q.q.val();
        self.he.next = self.srx.out_end.val();
        self.hb.next = self.srx.out_byte.val();

        self.we.next = self.we_r.q.val();
        self.addr.next = self.waddr.q.val().get_bits::<20>(0);
        // A WRITE word is {in_byte_r, lo}: input bytes and words never overlap, and
        // `lo` only changes after the word has been presented.
        self.wdata.next =
            (bit_cast::<16, 8>(self.in_byte_r.q.val()) << 8) | bit_cast::<16, 8>(self.lo.q.val());
        self.in_valid.next = self.in_valid_r.q.val();
        self.in_byte.next = self.in_byte_r.q.val();
        self.in_start.next = self.in_start_r.q.val();
        self.in_commit.next = self.in_commit_r.q.val();
        self.in_abort.next = self.in_abort_r.q.val();
        self.run.next = self.run_r.q.val();
        self.rewind.next = self.rewind_r.q.val();
        self.clear.next = self.clear_r.q.val();
        self.abort.next = self.abort_r.q.val();
        self.led_activity.next = self.activity.q.val();
        self.led_error.next = self.error_seen.q.val();
        self.led_busy.next = self.busy.val()
            || (self.rstate.q.val() != RxState::Hunt
                && self.rstate.q.val() != RxState::Header
                && self.rstate.q.val() != RxState::Payload
                && self.rstate.q.val() != RxState::Crc
                && self.rstate.q.val() != RxState::Excess
                && self.rstate.q.val() != RxState::Drop);

        // Pulses last one cycle.
        self.we_r.d.next = false;
        self.in_valid_r.d.next = false;
        self.in_start_r.d.next = false;
        self.in_commit_r.d.next = false;
        self.in_abort_r.d.next = false;
        self.run_r.d.next = false;
        self.rewind_r.d.next = false;
        self.clear_r.d.next = false;
        self.abort_r.d.next = false;
        self.srx.lost_hdr_clear.next = false;
        self.rcrc.init.next = false;
        self.rcrc.strobe.next = self.rc_strobe.q.val();
        self.rcrc.data.next = self.rc_data.q.val();
        self.rc_strobe.d.next = false;
        self.rc_data.d.next = self.hb.val();
        self.pop.next = false;
        self.frame_reset.next = false;
        self.abort_input.next = false;
        self.watchdog_fire.next = false;

        // A written word advances the address and is counted on the cycle it is
        // presented, so neither waits on the receive engine's pop decision.
        if self.we_r.q.val() {
            self.waddr.d.next = self.waddr.q.val() + 1;
            self.wc.d.next = self.wc.q.val() + 1;
            // A word of the model (regions 0 and 1) after LOAD_END: no longer the model
            // LOAD_END checked.
            if !self.waddr.q.val().get_bits::<3>(17).any() {
                self.loaded.d.next = false;
            }
        }

        // ---- INFER_PACKED: zeros of a run, one every second cycle ----------------
        if self.zrun.q.val().any() && !self.in_valid_r.q.val() && !self.busy_r.q.val() {
            if self.zfull_r.q.val() {
                self.pend.d.next = 5.into();
                self.zrun.d.next = 0.into();
            } else {
                self.in_valid_r.d.next = true;
                self.in_byte_r.d.next = 0.into();
                self.zcount.d.next = self.zcount.q.val() + 1;
                self.zrun.d.next = self.zrun.q.val() - 1;
            }
        }
        self.zfull_r.d.next = self.zcount.q.val() == self.max_values.val();

        // ---- watchdog ------------------------------------------------------------
        if self.rstate.q.val() == RxState::RunWait
            || self.rstate.q.val() == RxState::RewindWait
            || self.rstate.q.val() == RxState::ClearWait
            || self.rstate.q.val() == RxState::ResetAbort
            || self.rstate.q.val() == RxState::AbortWait
        {
            self.wd.d.next = self.wd.q.val() + 1;
        } else {
            self.wd.d.next = 0.into();
        }
        self.wd_exp_r.d.next = self.wd.q.val() == self.watchdog.val();

        // ---- counters ----------------------------------------------------------
        if self.urx.framing_error.val() {
            self.n_framing.d.next = self.n_framing.q.val() + 1;
        }
        if self.srx.overrun.val() {
            self.n_overrun.d.next = self.n_overrun.q.val() + 1;
        }
        if self.urx.valid.val() {
            self.timer.d.next = 0.into();
        } else if self.timer.q.val() != self.timeout_clocks.val() {
            self.timer.d.next = self.timer.q.val() + 1;
        }

        // ---- header decoding helpers -------------------------------------------
        self.full_len.next =
            (bit_cast::<16, 8>(self.hb.val()) << 8) | bit_cast::<16, 13>(self.len.q.val());
        // full_len > MAX_PAYLOAD, with the high byte at the FIFO head.
        self.too_big.next = self.hb.val() > self.max_hi.val()
            || (self.hb.val() == self.max_hi.val() && self.lo_gt.q.val());
        self.known.next = self.cmd.q.val().any() && self.cmd.q.val() <= 0x0C;
        self.args_ok.next = false;
        match self.cmd.q.val().get_bits::<4>(0).index() {
            1 => self.args_ok.next = !self.full_len.val().any(),
            2 => self.args_ok.next = self.full_len.val() >= 4 && !self.full_len.val().get_bit(0),
            3 => self.args_ok.next = self.full_len.val() == 6,
            4 => self.args_ok.next = true,
            5 => self.args_ok.next = !self.full_len.val().any(),
            6 => self.args_ok.next = true,
            7 => self.args_ok.next = self.full_len.val() == 1,
            8 => self.args_ok.next = !self.full_len.val().any(),
            9 => self.args_ok.next = !self.full_len.val().any(),
            10 => self.args_ok.next = !self.full_len.val().any(),
            11 => self.args_ok.next = self.full_len.val() == 4,
            12 => self.args_ok.next = true,
            _ => self.args_ok.next = false,
        }
        self.too_big_r.d.next = self.too_big.val();
        self.busy_r.d.next = self.busy.val();
        self.c_write.d.next = self.cmd.q.val() == 0x02;
        self.c_read.d.next = self.cmd.q.val() == 0x03;
        self.c_input.d.next =
            self.cmd.q.val() == 0x04 || self.cmd.q.val() == 0x06 || self.cmd.q.val() == 0x0C;
        self.c_rewind.d.next = self.cmd.q.val() == 0x07;
        self.c_addressed.d.next =
            self.cmd.q.val() == 0x02 || self.cmd.q.val() == 0x03 || self.cmd.q.val() == 0x0B;
        self.c_ident.d.next = self.cmd.q.val() == 0x01;
        self.c_run.d.next = self.cmd.q.val() == 0x05;
        self.c_reset.d.next = self.cmd.q.val() == 0x08;
        self.c_status.d.next = self.cmd.q.val() == 0x09;
        self.c_begin.d.next = self.cmd.q.val() == 0x0A;
        self.c_end.d.next = self.cmd.q.val() == 0x0B;
        self.c_in4.d.next = self.cmd.q.val() == 0x04;
        self.c_infer.d.next = self.cmd.q.val() == 0x06 || self.cmd.q.val() == 0x0C;
        self.c_packed.d.next = self.cmd.q.val() == 0x0C;
        self.in_ok_r.d.next =
            self.cmd.q.val() == 0x04 || (self.loaded.q.val() && !self.dirty.q.val());
        // RESET goes ahead with the core busy: it aborts the core first.
        self.go_r.d.next = self.rstate.q.val() == RxState::Done
            && self.tstate.q.val() == TxState::Idle
            && (!self.busy_r.q.val() || self.c_reset.q.val())
            && !self.zrun.q.val().any();
        // WRITE: offset plus words (the length's half, less the address's two) must
        // stay within the region, which must be 0..2; READ: regions 0..4, and offset
        // plus count within the region.
        self.wsum_r.d.next = bit_cast::<17, 16>(self.waddr.q.val().get_bits::<16>(0))
            + bit_cast::<17, 12>(self.len.q.val().get_bits::<12>(1));
        self.w_bad_r.d.next =
            self.waddr.q.val().get_bits::<4>(16) > 2 || self.wsum_r.q.val() > 0x10002;
        self.r_reg_bad_r.d.next = self.waddr.q.val().get_bits::<4>(16) > 4;
        self.rsum_r.d.next = bit_cast::<17, 16>(self.waddr.q.val().get_bits::<16>(0))
            + bit_cast::<17, 16>(self.cnt.q.val());
        self.r_cross_r.d.next = self.rsum_r.q.val() > 0x10000;
        self.err_any_r.d.next = self.err.q.val().any();
        self.done_q.d.next = self.done.val();
        self.cnt_zero.d.next = !self.cnt.q.val().any();
        self.cnt_big.d.next = self.cnt.q.val() > self.max_read.val();
        self.err_crc_r.d.next = self.err.q.val() == 1;
        self.end_ok_r.d.next = !self.dirty.q.val()
            && !self.hi_bad.q.val()
            && self.waddr.q.val().get_bits::<20>(0) == self.wc.q.val();
        self.p_lt3.d.next = self.pidx.q.val() < 3;
        self.p_eq3.d.next = self.pidx.q.val() == 3;
        self.args_ok_r.d.next = self.args_ok.val();
        self.known_r.d.next = self.known.val();
        self.full_len_r.d.next = self.full_len.val();
        self.last_r.d.next = self.pidx_next.q.val() == self.len.q.val();
        self.crc_lo_ne.d.next = self.hb.val() != self.rcrc.crc.val().get_bits::<8>(0);
        self.crc_hi_ne.d.next = self.hb.val() != self.rcrc.crc.val().get_bits::<8>(8);

        // Error of a frame ending now, in order of precedence.
        self.end_err.next = 0.into();
        if self.overrun_f.q.val() || self.srx.out_lost.val() {
            self.end_err.next = 8.into();
        } else if self.rstate.q.val() == RxState::Drop {
            self.end_err.next = 3.into();
        } else if self.rstate.q.val() == RxState::Payload
            || self.rstate.q.val() == RxState::Excess
            || (self.rstate.q.val() == RxState::Crc && self.hidx.q.val() != 2)
        {
            self.end_err.next = 2.into();
        } else if self.crc_bad.q.val() {
            self.end_err.next = 1.into();
        } else if self.pend.q.val().any() {
            self.end_err.next = self.pend.q.val();
        } else if (self.c_read.q.val()
            && (self.hi_bad.q.val() || self.cnt_big.q.val() || self.r_cross_r.q.val()))
            || (self.c_write.q.val() && self.hi_bad.q.val())
        {
            self.end_err.next = 5.into();
        }

        // A frame under way, or one an overflow cut before its header was stored.
        self.mid_frame.next = (self.fcount.q.val().any() || self.srx.lost_hdr.val())
            && (self.rstate.q.val() == RxState::Header
                || self.rstate.q.val() == RxState::Payload
                || self.rstate.q.val() == RxState::Crc
                || self.rstate.q.val() == RxState::Excess
                || self.rstate.q.val() == RxState::Drop);
        self.tmo.next = self.mid_frame.val()
            && !self.srx.nonempty.val()
            && self.timer.q.val() == self.timeout_clocks.val();
        // Registered, and never twice in a row: the state it moves to is not mid-frame.
        self.tmo_r.d.next = self.tmo.val() && !self.tmo_r.q.val();
        self.end_err_r.d.next = self.end_err.val();

        // ---- response engine ---------------------------------------------------
        self.t_len.next =
            (bit_cast::<16, 12>(self.t_left.q.val()) + bit_cast::<16, 10>(self.t_n2.q.val())) << 1;
        self.t_len_r.d.next = self.t_len.val();
        self.link_word.next = 0.into();
        match self.t_addr.q.val().get_bits::<3>(0).index() {
            0 => self.link_word.next = self.wc.q.val().get_bits::<16>(0),
            1 => self.link_word.next = bit_cast::<16, 4>(self.wc.q.val().get_bits::<4>(16)),
            2 => {
                self.link_word.next = bit_cast::<16, 4>(self.last_err.q.val()) << 8;
                if self.loaded.q.val() {
                    self.link_word.next = self.link_word.val() | 1;
                }
                if self.dirty.q.val() {
                    self.link_word.next = self.link_word.val() | 2;
                }
                if self.input_ok.q.val() {
                    self.link_word.next = self.link_word.val() | 4;
                }
            }
            3 => {
                self.link_word.next = (bit_cast::<16, 8>(self.n_framing.q.val()) << 8)
                    | bit_cast::<16, 8>(self.n_crc.q.val())
            }
            4 => {
                self.link_word.next = (bit_cast::<16, 8>(self.n_overrun.q.val()) << 8)
                    | bit_cast::<16, 8>(self.n_timeout.q.val())
            }
            5 => {
                self.link_word.next = (bit_cast::<16, 4>(self.err_code.q.val()) << 8)
                    | bit_cast::<16, 8>(self.err_cmd.q.val())
            }
            6 => self.link_word.next = bit_cast::<16, 8>(self.err_detail.q.val()),
            _ => self.link_word.next = 0.into(),
        }
        self.rom.address.next = self.t_addr.q.val().get_bits::<5>(0);
        self.raddr.next = self.raddr_r.q.val();
        self.raddr_r.d.next = self.t_addr.q.val();
        self.t_byte.next = 0.into();
        self.t_is_end.next = false;
        self.t_send.next = false;
        self.t_crc_byte.next = false;
        self.tcrc.init.next = false;
        match self.tstate.q.val() {
            TxState::Idle => {}
            TxState::Start => {
                self.tcrc.init.next = true;
                self.t_n2.d.next = 0.into();
                self.t_wait.d.next = 0.into();
                if self.t_seg2.q.val() == 1 {
                    self.raddr_r.d.next = 0x10003.into();
                    self.tstate.d.next = TxState::Classes;
                } else {
                    if self.t_seg2.q.val() == 2 {
                        self.t_n2.d.next = 5.into();
                    }
                    self.tstate.d.next = TxState::SendEnd0;
                }
            }
            TxState::Classes => {
                // Read the class count (config register 3) to size the logits segment.
                self.raddr_r.d.next = 0x10003.into();
                self.t_wait.d.next = self.t_wait.q.val() + 1;
                if self.t_wait.q.val() == 3 {
                    self.t_n2.d.next = bit_cast::<10, 8>(self.rdata.val().get_bits::<8>(0)) << 1;
                    self.tstate.d.next = TxState::SendEnd0;
                }
            }
            TxState::SendEnd0 => {
                self.t_is_end.next = true;
                self.t_send.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::SendCmd;
                }
            }
            TxState::SendCmd => {
                self.t_byte.next = self.t_cmd.q.val();
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::SendSeq;
                }
            }
            TxState::SendSeq => {
                self.t_byte.next = self.t_seq.q.val();
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::SendLen0;
                }
            }
            TxState::SendLen0 => {
                self.t_byte.next = self.t_len_r.q.val().get_bits::<8>(0);
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::SendLen1;
                }
            }
            TxState::SendLen1 => {
                self.t_byte.next = self.t_len_r.q.val().get_bits::<8>(8);
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::NextWord;
                }
            }
            TxState::NextWord => {
                self.t_wait.d.next = 0.into();
                if self.t_left.q.val().any() {
                    self.tstate.d.next = TxState::Fetch;
                } else if self.t_seg2.q.val() == 1 {
                    self.t_seg2.d.next = 0.into();
                    self.t_src.d.next = 0.into();
                    self.t_addr.d.next = 0x30000.into();
                    self.t_left.d.next = bit_cast::<12, 10>(self.t_n2.q.val());
                    self.t_n2.d.next = 0.into();
                } else if self.t_seg2.q.val() == 2 {
                    self.t_seg2.d.next = 0.into();
                    self.t_src.d.next = 1.into();
                    self.t_addr.d.next = 0.into();
                    self.t_left.d.next = 5.into();
                    self.t_n2.d.next = 0.into();
                } else {
                    self.tstate.d.next = TxState::SendCrc0;
                }
            }
            TxState::Fetch => {
                // The host port answers 3 cycles after raddr, 4 after t_addr, which
                // has been stable since NextWord: the 4th cycle here is in time.
                self.t_wait.d.next = self.t_wait.q.val() + 1;
                if self.t_wait.q.val() == 3 {
                    if self.t_src.q.val() == 0 {
                        self.t_word.d.next = self.rdata.val();
                    } else if self.t_src.q.val() == 1 {
                        self.t_word.d.next = self.link_word.val();
                    } else {
                        self.t_word.d.next = self.rom.data.val();
                    }
                    self.tstate.d.next = TxState::SendLo;
                }
            }
            TxState::SendLo => {
                self.t_byte.next = self.t_word.q.val().get_bits::<8>(0);
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::SendHi;
                }
            }
            TxState::SendHi => {
                self.t_byte.next = self.t_word.q.val().get_bits::<8>(8);
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.stx.ready.val() {
                    self.t_addr.d.next = self.t_addr.q.val() + 1;
                    self.t_left.d.next = self.t_left.q.val() - 1;
                    self.tstate.d.next = TxState::NextWord;
                }
            }
            TxState::SendCrc0 => {
                self.t_byte.next = self.tcrc.crc.val().get_bits::<8>(0);
                self.t_send.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::SendCrc1;
                }
            }
            TxState::SendCrc1 => {
                self.t_byte.next = self.tcrc.crc.val().get_bits::<8>(8);
                self.t_send.next = true;
                if self.stx.ready.val() {
                    self.tstate.d.next = TxState::SendEnd1;
                }
            }
            TxState::SendEnd1 => {
                self.t_is_end.next = true;
                self.t_send.next = true;
                if self.stx.ready.val() {
                    self.activity.d.next = !self.activity.q.val();
                    self.tstate.d.next = TxState::Idle;
                }
            }
            _ => {
                self.tstate.d.next = TxState::Idle;
            }
        }
        self.stx.data.next = self.t_byte.val();
        self.stx.is_end.next = self.t_is_end.val();
        self.stx.valid.next = self.t_send.val();
        self.tc_data.d.next = self.t_byte.val();
        self.tc_strobe.d.next = self.t_crc_byte.val() && self.stx.ready.val();
        self.tcrc.data.next = self.tc_data.q.val();
        self.tcrc.strobe.next = self.tc_strobe.q.val();

        // ---- receive engine ----------------------------------------------------
        match self.rstate.q.val() {
            RxState::Hunt => {
                if self.hv.val() {
                    self.pop.next = true;
                    if self.he.val() {
                        self.frame_reset.next = true;
                        self.rstate.d.next = RxState::Header;
                    }
                }
            }
            RxState::Header => {
                if self.hv.val() && self.he.val() {
                    self.pop.next = true;
                    self.rstate.d.next = RxState::Done;
                } else if self.hv.val() {
                    if self.hidx.q.val() == 0 {
                        self.cmd.d.next = self.hb.val();
                        self.pop.next = true;
                    } else if self.hidx.q.val() == 1 {
                        self.seq.d.next = self.hb.val();
                        self.pop.next = true;
                    } else if self.hidx.q.val() == 2 {
                        self.len.d.next = bit_cast::<13, 8>(self.hb.val());
                        self.lo_gt.d.next = self.hb.val() > self.max_lo.val();
                        self.pop.next = true;
                    } else if self.too_big_r.q.val() {
                        self.pend.d.next = 3.into();
                        self.pop.next = true;
                        self.rstate.d.next = RxState::Drop;
                    } else if self.c_input.q.val() && self.args_ok_r.q.val() && self.in_ok_r.q.val()
                    {
                        // Open a new input sample once the core can take it.
                        if !self.busy_r.q.val() {
                            self.in_start_r.d.next = true;
                            self.in_started.d.next = true;
                            self.pop.next = true;
                        }
                    } else {
                        self.pop.next = true;
                        if !self.known_r.q.val() {
                            self.pend.d.next = 4.into();
                        } else if !self.args_ok_r.q.val() {
                            self.pend.d.next = 5.into();
                        } else if self.c_input.q.val() {
                            // INFER with no clean model: refused before the core's
                            // input is touched.
                            self.pend.d.next = 6.into();
                        }
                    }
                    if self.pop.val() {
                        self.rc_strobe.d.next = true;
                        self.hidx.d.next = self.hidx.q.val() + 1;
                        if self.hidx.q.val() == 3 {
                            self.len.d.next = bit_cast::<13, 16>(self.full_len_r.q.val());
                            self.pidx.d.next = 0.into();
                            self.pidx_next.d.next = 1.into();
                            if self.too_big_r.q.val() {
                                self.rstate.d.next = RxState::Drop;
                            } else if self.full_len_r.q.val().any() {
                                self.rstate.d.next = RxState::Payload;
                            } else {
                                self.rstate.d.next = RxState::Crc;
                            }
                        }
                    }
                }
            }
            RxState::Payload => {
                if self.hv.val() && self.he.val() {
                    self.pop.next = true;
                    self.rstate.d.next = RxState::Done;
                } else if self.hv.val() {
                    self.pop.next = true;
                    if self.c_addressed.q.val() {
                        // WRITE / READ / LOAD_END: a 32-bit address (or count) first.
                        // Little-endian bytes shift in from the top.
                        if self.p_lt3.q.val() {
                            self.waddr.d.next = (bit_cast::<24, 8>(self.hb.val()) << 16)
                                | (self.waddr.q.val() >> 8);
                        } else if self.p_eq3.q.val() {
                            self.hi_bad.d.next = self.waddr.q.val().get_bits::<4>(20).any()
                                || self.hb.val().any()
                                || (self.c_write.q.val() && self.w_bad_r.q.val())
                                || (self.c_read.q.val() && self.r_reg_bad_r.q.val());
                        } else if self.c_read.q.val() {
                            self.cnt.d.next =
                                (bit_cast::<16, 8>(self.hb.val()) << 8) | (self.cnt.q.val() >> 8);
                        } else if self.c_write.q.val() {
                            if !self.pidx.q.val().get_bit(0) {
                                self.lo.d.next = self.hb.val();
                            } else if self.busy_r.q.val() {
                                self.pop.next = false;
                            } else if !self.hi_bad.q.val() {
                                self.we_r.d.next = true;
                                self.in_byte_r.d.next = self.hb.val();
                            }
                        }
                    } else if self.c_rewind.q.val() {
                        self.cnt.d.next = bit_cast::<16, 8>(self.hb.val());
                    } else if self.in_started.q.val() {
                        // A value at most every second cycle, after a run's zeros.
                        if self.busy_r.q.val() || self.zrun.q.val().any() || self.in_valid_r.q.val()
                        {
                            self.pop.next = false;
                        } else if self.c_packed.q.val() && self.zexp.q.val() {
                            self.zexp.d.next = false;
                            self.zrun.d.next = bit_cast::<9, 8>(self.hb.val()) + 1;
                        } else if self.c_packed.q.val() && !self.hb.val().any() {
                            self.zexp.d.next = true;
                            if self.last_r.q.val() {
                                // The payload ends inside a run token.
                                self.pend.d.next = 5.into();
                            }
                        } else if self.zfull_r.q.val() {
                            self.pend.d.next = 5.into();
                        } else {
                            self.in_valid_r.d.next = true;
                            self.in_byte_r.d.next = self.hb.val();
                            self.zcount.d.next = self.zcount.q.val() + 1;
                        }
                    }
                    if self.pop.val() {
                        self.rc_strobe.d.next = true;
                        self.pidx.d.next = self.pidx_next.q.val();
                        self.pidx_next.d.next = self.pidx_next.q.val() + 1;
                        if self.last_r.q.val() {
                            self.hidx.d.next = 0.into();
                            self.rstate.d.next = RxState::Crc;
                        }
                    }
                }
            }
            RxState::Crc => {
                if self.hv.val() {
                    self.pop.next = true;
                    if self.he.val() {
                        self.rstate.d.next = RxState::Done;
                    } else if self.hidx.q.val() == 0 {
                        if self.crc_lo_ne.q.val() {
                            self.crc_bad.d.next = true;
                        }
                        self.hidx.d.next = 1.into();
                    } else if self.hidx.q.val() == 1 {
                        if self.crc_hi_ne.q.val() {
                            self.crc_bad.d.next = true;
                        }
                        self.hidx.d.next = 2.into();
                    } else {
                        self.rstate.d.next = RxState::Excess;
                    }
                }
            }
            RxState::Excess => {
                if self.hv.val() {
                    self.pop.next = true;
                    if self.he.val() {
                        self.rstate.d.next = RxState::Done;
                    }
                }
            }
            RxState::Drop => {
                if self.hv.val() {
                    self.pop.next = true;
                    if self.he.val() {
                        self.rstate.d.next = RxState::Done;
                    }
                }
            }
            RxState::Done => {
                // The frame's error is latched below, when its END is popped.
                if self.fcount.q.val() != 6
                    && !(self.overrun_f.q.val()
                        && (self.fcount.q.val().get_bit(2) || self.srx.lost_hdr.val()))
                {
                    // Fewer than 6 bytes: line noise or an empty frame; no answer. (A
                    // frame an overflow cut short is answered: with its own header
                    // once that is in, else with the header the receiver kept.)
                    self.abort_input.next = self.in_started.q.val();
                    self.frame_reset.next = true;
                    self.srx.lost_hdr_clear.next = self.overrun_f.q.val();
                    self.rstate.d.next = RxState::Header;
                } else if self.go_r.q.val() {
                    if !self.fcount.q.val().get_bit(2) {
                        self.cmd.d.next = self.srx.lost_cmd.val();
                        self.seq.d.next = self.srx.lost_seq.val();
                        self.srx.lost_hdr_clear.next = true;
                    }
                    if self.err_any_r.q.val() {
                        if self.err_crc_r.q.val() {
                            self.n_crc.d.next = self.n_crc.q.val() + 1;
                        }
                        if self.c_write.q.val() {
                            self.dirty.d.next = true;
                        }
                        self.abort_input.next = self.in_started.q.val();
                        self.err_code.d.next = self.err.q.val();
                        self.err_detail.d.next = 0.into();
                        self.rstate.d.next = RxState::Post;
                    } else if self.c_input.q.val() {
                        self.in_commit_r.d.next = true;
                        self.in_started.d.next = false;
                        self.settle.d.next = 0.into();
                        self.rstate.d.next = RxState::Commit;
                    } else if self.c_run.q.val() {
                        self.rstate.d.next = RxState::RunCheck;
                    } else if self.c_rewind.q.val() {
                        self.rstate.d.next = RxState::Rewind;
                    } else if self.c_reset.q.val() {
                        // A core still busy (after a failed abort, or the reset button) is
                        // stopped first.
                        self.abort_r.d.next = self.busy_r.q.val();
                        self.rstate.d.next = RxState::ResetAbort;
                    } else {
                        if self.c_begin.q.val() {
                            self.loaded.d.next = false;
                            self.dirty.d.next = false;
                            self.wc.d.next = 0.into();
                        }
                        if self.c_end.q.val() {
                            self.loaded.d.next = self.end_ok_r.q.val();
                        }
                        self.rstate.d.next = RxState::Post;
                    }
                }
            }
            RxState::Commit => {
                // The core's status settles within a few cycles of in_commit.
                self.settle.d.next = self.settle.q.val() + 1;
                if self.settle.q.val() == 3 && !self.busy_r.q.val() {
                    if self.status.val().any() {
                        self.input_ok.d.next = false;
                        self.err.d.next = 7.into();
                        self.err_code.d.next = 7.into();
                        self.err_detail.d.next = self.status.val();
                        self.rstate.d.next = RxState::Post;
                    } else {
                        self.input_ok.d.next = true;
                        if self.c_infer.q.val() {
                            self.rstate.d.next = RxState::RunCheck;
                        } else {
                            self.rstate.d.next = RxState::Post;
                        }
                    }
                }
            }
            RxState::RunCheck => {
                if !self.loaded.q.val() || self.dirty.q.val() {
                    self.err.d.next = 6.into();
                    self.err_code.d.next = 6.into();
                    self.err_detail.d.next = 0.into();
                    self.rstate.d.next = RxState::Post;
                } else if !self.busy_r.q.val() {
                    self.run_r.d.next = true;
                    self.rstate.d.next = RxState::RunWait;
                }
            }
            RxState::RunWait => {
                if self.done_q.q.val() {
                    self.rstate.d.next = RxState::RunStatus;
                } else if self.wd_exp_r.q.val() {
                    self.watchdog_fire.next = true;
                }
            }
            RxState::RunStatus => {
                if self.status.val().any() {
                    self.err.d.next = 7.into();
                    self.err_code.d.next = 7.into();
                    self.err_detail.d.next = self.status.val();
                }
                self.rstate.d.next = RxState::Post;
            }
            RxState::Rewind => {
                if self.cnt_zero.q.val() {
                    self.rstate.d.next = RxState::Post;
                } else if !self.busy_r.q.val() {
                    self.rewind_r.d.next = true;
                    self.cnt.d.next = self.cnt.q.val() - 1;
                    self.rstate.d.next = RxState::RewindWait;
                }
            }
            RxState::RewindWait => {
                if self.done_q.q.val() {
                    self.rstate.d.next = RxState::RewindStatus;
                } else if self.wd_exp_r.q.val() {
                    self.watchdog_fire.next = true;
                }
            }
            RxState::RewindStatus => {
                if self.status.val().any() {
                    self.err.d.next = 7.into();
                    self.err_code.d.next = 7.into();
                    self.err_detail.d.next = self.status.val();
                    self.rstate.d.next = RxState::Post;
                } else {
                    self.rstate.d.next = RxState::Rewind;
                }
            }
            RxState::ResetAbort => {
                // Two cycles after an abort the core's busy has dropped (or the watchdog
                // answers for it).
                if !self.busy_r.q.val() && !self.abort_r.q.val() {
                    self.clear_r.d.next = true;
                    self.rstate.d.next = RxState::ClearWait;
                } else if self.wd_exp_r.q.val() {
                    self.watchdog_fire.next = true;
                }
            }
            RxState::AbortWait => {
                // The aborted command's done, or about 1000 clocks.
                if self.done_q.q.val() || self.wd.q.val().get_bit(10) {
                    self.rstate.d.next = RxState::Post;
                }
            }
            RxState::ClearWait => {
                if self.wd_exp_r.q.val() && !self.done_q.q.val() {
                    self.watchdog_fire.next = true;
                }
                if self.done_q.q.val() {
                    self.n_crc.d.next = 0.into();
                    self.n_framing.d.next = 0.into();
                    self.n_timeout.d.next = 0.into();
                    self.n_overrun.d.next = 0.into();
                    self.last_err.d.next = 0.into();
                    self.error_seen.d.next = false;
                    self.rstate.d.next = RxState::Post;
                }
            }
            RxState::Post => {
                // Hand the response to the response engine (idle since Done), in the
                // second cycle, from registered flags only. The command flags are
                // one-hot, so each response field is an OR of the flags that set it.
                self.post_go.d.next = !self.post_go.q.val();
                if self.post_go.q.val() {
                    self.t_seq.d.next = self.seq.q.val();
                    self.t_cmd.d.next = self.cmd.q.val() | 0x80;
                    self.t_seg2.d.next = 0.into();
                    self.t_src.d.next = 0.into();
                    self.t_left.d.next = 0.into();
                    self.t_addr.d.next = 0.into();
                    if self.err_any_r.q.val() {
                        self.t_cmd.d.next = 0x7F.into();
                        self.err_cmd.d.next = self.cmd.q.val();
                        self.last_err.d.next = self.err.q.val();
                        self.error_seen.d.next = true;
                        self.t_src.d.next = 1.into();
                        self.t_addr.d.next = 5.into();
                        self.t_left.d.next = 2.into();
                    } else {
                        if self.c_ident.q.val() {
                            self.t_src.d.next = 2.into();
                            self.t_left.d.next = self.rom_words.val();
                        }
                        if self.c_read.q.val() {
                            self.t_addr.d.next = self.waddr.q.val().get_bits::<20>(0);
                            self.t_left.d.next = bit_cast::<12, 16>(self.cnt.q.val());
                        }
                        if self.c_in4.q.val() {
                            self.t_addr.d.next = 0x40004.into();
                            self.t_left.d.next = 2.into();
                        }
                        if self.c_run.q.val() || self.c_infer.q.val() {
                            self.t_addr.d.next = 0x40000.into();
                            self.t_left.d.next = 5.into();
                            self.t_seg2.d.next = 1.into();
                        }
                        if self.c_rewind.q.val() {
                            self.t_addr.d.next = 0x40000.into();
                            self.t_left.d.next = 1.into();
                        }
                        if self.c_status.q.val() {
                            self.t_addr.d.next = 0x40000.into();
                            self.t_left.d.next = 5.into();
                            self.t_seg2.d.next = 2.into();
                        }
                        if self.c_end.q.val() {
                            self.t_src.d.next = 1.into();
                            self.t_left.d.next = 3.into();
                        }
                    }
                    self.tstate.d.next = TxState::Start;
                    self.frame_reset.next = true;
                    self.rstate.d.next = RxState::Header;
                }
            }
            _ => {
                self.rstate.d.next = RxState::Hunt;
            }
        }

        // Bytes of the current frame, saturating at 6 (enough to tell noise from frames).
        if self.pop.val() && !self.he.val() && self.fcount.q.val() != 6 {
            self.fcount.d.next = self.fcount.q.val() + 1;
        }
        // Latch the frame's verdict when its END is taken.
        if self.pop.val() && self.he.val() && self.rstate.q.val() != RxState::Hunt {
            self.err.d.next = self.end_err_r.q.val();
        }
        // A half frame with nothing more arriving. Once its header is in, the host
        // learns of it from an error answer (LENGTH, or OVERRUN when the FIFO
        // overflowed and swallowed its END); shorter fragments are dropped silently.
        if self.tmo_r.q.val() {
            self.n_timeout.d.next = self.n_timeout.q.val() + 1;
            if self.fcount.q.val() >= 4 {
                self.fcount.d.next = 6.into();
                self.rstate.d.next = RxState::Done;
                if self.overrun_f.q.val() || self.srx.lost_pending.val() {
                    self.err.d.next = 8.into();
                } else if self.rstate.q.val() == RxState::Drop {
                    self.err.d.next = 3.into();
                } else {
                    self.err.d.next = 2.into();
                }
            } else if self.overrun_f.q.val() || self.srx.lost_pending.val() {
                // Cut by an overflow before its header was in: Done answers it with the
                // header the receiver kept, if it has one.
                self.overrun_f.d.next = true;
                self.err.d.next = 8.into();
                self.rstate.d.next = RxState::Done;
            } else {
                self.rstate.d.next = RxState::Hunt;
            }
        }
        // Bytes were lost right before the entry taken now.
        if self.pop.val() && self.srx.out_lost.val() {
            self.overrun_f.d.next = true;
        }
        if self.abort_input.val() {
            self.in_abort_r.d.next = true;
            self.in_started.d.next = false;
            self.input_ok.d.next = false;
        }
        // The core's command did not finish in time: stop it, answer CORE (watchdog)
        // once it has, and drop the model, which may be what made it run away.
        if self.watchdog_fire.val() {
            self.abort_r.d.next = true;
            self.err.d.next = 7.into();
            self.err_code.d.next = 7.into();
            self.err_detail.d.next = 0x80.into();
            self.loaded.d.next = false;
            self.wd.d.next = 0.into();
            self.rstate.d.next = RxState::AbortWait;
        }
        if self.frame_reset.val() {
            self.hidx.d.next = 0.into();
            self.fcount.d.next = 0.into();
            self.pidx.d.next = 0.into();
            self.pidx_next.d.next = 1.into();
            self.crc_bad.d.next = false;
            self.overrun_f.d.next = false;
            self.in_started.d.next = false;
            self.pend.d.next = 0.into();
            self.hi_bad.d.next = false;
            self.zexp.d.next = false;
            self.zrun.d.next = 0.into();
            self.zcount.d.next = 0.into();
            self.rcrc.init.next = true;
        }
        self.srx.pop.next = self.pop.val();
        // An entry is acted on from its second cycle at the head, and only in a
        // parsing state that did not just begin: a new frame or state resets what the
        // registered decisions were computed from.
        self.hv_q.d.next = self.srx.out_valid.val()
            && !self.pop.val()
            && !self.frame_reset.val()
            && !self.tmo_r.q.val()
            && (self.rstate.q.val() == RxState::Hunt
                || self.rstate.q.val() == RxState::Header
                || self.rstate.q.val() == RxState::Payload
                || self.rstate.q.val() == RxState::Crc
                || self.rstate.q.val() == RxState::Excess
                || self.rstate.q.val() == RxState::Drop);
    }
}
