//! The response engine: streams `END, cmd|0x80, seq, len, words..., crc, END` through
//! the link's SLIP encoder and UART (the link wires it to
//! [`SlipTx`](crate::slip_tx::SlipTx) and its transmit CRC).
//!
//! Every response payload is a list of 16-bit words from at most two segments; a
//! segment reads consecutive addresses from the host port, the link's register file
//! ([`LinkRegisters`](crate::link_registers::LinkRegisters)) or the build-information
//! ROM. The [`CommandEngine`](crate::command_engine::CommandEngine) hands a response
//! over with `respond`; what it carries follows from the command's flags alone.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

use crate::contract_constants::value;
use revspike_proto::protocol::response_words::{self as rw, Segment, Source};
use revspike_proto::protocol::{ProtocolError, BUILD_INFO_LEN, ERROR_CMD, RESPONSE_BIT};

// Every segment comes from where the engine reads it: the core's status words and
// logits from the host port, the rest from the link's register file.
const _: () = {
    assert!(matches!(rw::CORE_STATUS.source, Source::HostPort));
    assert!(matches!(rw::INPUT.source, Source::HostPort));
    assert!(matches!(rw::REWIND.source, Source::HostPort));
    assert!(matches!(rw::LINK_STATUS.source, Source::Link));
    assert!(matches!(rw::LOAD_END.source, Source::Link));
    assert!(matches!(rw::ERROR.source, Source::Link));
};
// The engine samples `rdata` in the 4th cycle of Fetch / Classes: the engine's own
// `raddr` register plus the host port's read latency.
const _: () = assert!(revspike_proto::core_port::READ_LATENCY == 3);

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
// - second segment `t_seg2`: 0 none, 1 the logits (2 x classes words), 2 the link
//   status words.

#[derive(LogicBlock)]
pub struct ResponseEngine {
    pub clock: Signal<In, Clock>,
    /// Hand over a response (CommandEngine): to the frame `command`, `frame_seq`,
    /// an error frame if `err_any`; a READ's `addr` and `count` (PayloadDecoder).
    pub respond: Signal<In, Bit>,
    pub command: Signal<In, Bits<8>>,
    pub frame_seq: Signal<In, Bits<8>>,
    pub err_any: Signal<In, Bit>,
    pub addr: Signal<In, Bits<20>>,
    pub count: Signal<In, Bits<16>>,
    // The command, one-hot (HeaderDecoder).
    pub is_identify: Signal<In, Bit>,
    pub is_read: Signal<In, Bit>,
    pub is_input_only: Signal<In, Bit>,
    pub is_run: Signal<In, Bit>,
    pub is_infer: Signal<In, Bit>,
    pub is_rewind: Signal<In, Bit>,
    pub is_status: Signal<In, Bit>,
    pub is_load_end: Signal<In, Bit>,
    /// No response is under way.
    pub idle: Signal<Out, Bit>,
    /// The host port's read address and data (docs/architecture.md).
    pub raddr: Signal<Out, Bits<20>>,
    pub rdata: Signal<In, Bits<16>>,
    /// Link word `link_addr` (LinkRegisters).
    pub link_addr: Signal<Out, Bits<3>>,
    pub link_word: Signal<In, Bits<16>>,
    /// The byte (or END) to send, taken by the SLIP encoder while `ready`.
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_end: Signal<Out, Bit>,
    pub tx_valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    /// The transmit CRC and its feed.
    pub crc: Signal<In, Bits<16>>,
    pub crc_init: Signal<Out, Bit>,
    pub crc_strobe: Signal<Out, Bit>,
    pub crc_data: Signal<Out, Bits<8>>,
    /// Toggles with every response sent.
    pub led_activity: Signal<Out, Bit>,

    rom: ROM<Bits<16>, 5>,
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
    // t_left != 0, registered: NextWord takes its choice in its second cycle, so the
    // 12-bit zero test is not in front of every enable the choice drives. (A word
    // takes 16 bit times to send; the cycle costs nothing.)
    t_left_nz: DFF<Bit>,
    // The response length, registered: t_left and t_n2 settle at least two cycles
    // before SendLen0.
    t_len_r: DFF<Bits<16>>,
    // The transmit CRC takes each byte one cycle after the SLIP encoder does; the CRC
    // bytes are sent no earlier than two cycles after the last payload byte.
    tc_strobe: DFF<Bit>,
    tc_data: DFF<Bits<8>>,
    // The host port's read address, registered: the port answers 3 cycles after it,
    // 4 after the response engine picks the address (NextWord / Start), and the engine
    // samples in the 4th cycle of Fetch / Classes.
    raddr_r: DFF<Bits<20>>,
    activity: DFF<Bit>,

    t_len: Signal<Local, Bits<16>>,
    t_byte: Signal<Local, Bits<8>>,
    t_is_end: Signal<Local, Bit>,
    t_send: Signal<Local, Bit>,
    t_crc_byte: Signal<Local, Bit>,

    rom_words: Constant<Bits<12>>,
    // Where each response's words are (revspike_proto::protocol::response_words) and
    // the response codes.
    a_classes: Constant<Bits<20>>,
    a_logits: Constant<Bits<20>>,
    a_core_status: Constant<Bits<20>>,
    n_core_status: Constant<Bits<12>>,
    a_input: Constant<Bits<20>>,
    n_input: Constant<Bits<12>>,
    a_rewind: Constant<Bits<20>>,
    n_rewind: Constant<Bits<12>>,
    a_link_status: Constant<Bits<20>>,
    n_link_status: Constant<Bits<12>>,
    a_load_end: Constant<Bits<20>>,
    n_load_end: Constant<Bits<12>>,
    a_error: Constant<Bits<20>>,
    n_error: Constant<Bits<12>>,
    response_bit: Constant<Bits<8>>,
    error_cmd: Constant<Bits<8>>,
}

impl ResponseEngine {
    /// An engine whose build-information ROM holds `build_info`
    /// ([`BUILD_INFO_LEN`] bytes, `BuildInfo::to_bytes`).
    pub fn new(build_info: &[u8]) -> Result<ResponseEngine, ProtocolError> {
        if build_info.len() != BUILD_INFO_LEN {
            return Err(ProtocolError::BadBuildInfo(format!(
                "{} bytes of build information, expected {BUILD_INFO_LEN}",
                build_info.len()
            )));
        }
        let first = |s: Segment| value(u64::from(s.first));
        let words = |s: Segment| value(s.words as u64);
        let mut rom = BTreeMap::new();
        for (i, pair) in build_info.chunks(2).enumerate() {
            let w = pair[0] as u64 | (*pair.get(1).unwrap_or(&0) as u64) << 8;
            rom.insert(Bits::<5>::from(i as u64), Bits::<16>::from(w));
        }
        Ok(ResponseEngine {
            clock: Default::default(),
            respond: Default::default(),
            command: Default::default(),
            frame_seq: Default::default(),
            err_any: Default::default(),
            addr: Default::default(),
            count: Default::default(),
            is_identify: Default::default(),
            is_read: Default::default(),
            is_input_only: Default::default(),
            is_run: Default::default(),
            is_infer: Default::default(),
            is_rewind: Default::default(),
            is_status: Default::default(),
            is_load_end: Default::default(),
            idle: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            link_addr: Default::default(),
            link_word: Default::default(),
            tx_data: Default::default(),
            tx_end: Default::default(),
            tx_valid: Default::default(),
            ready: Default::default(),
            crc: Default::default(),
            crc_init: Default::default(),
            crc_strobe: Default::default(),
            crc_data: Default::default(),
            led_activity: Default::default(),
            rom: ROM::new(rom),
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
            t_left_nz: Default::default(),
            t_len_r: Default::default(),
            tc_strobe: Default::default(),
            tc_data: Default::default(),
            raddr_r: Default::default(),
            activity: Default::default(),
            t_len: Default::default(),
            t_byte: Default::default(),
            t_is_end: Default::default(),
            t_send: Default::default(),
            t_crc_byte: Default::default(),
            rom_words: Constant::new((BUILD_INFO_LEN as u64 / 2).to_bits()),
            a_classes: value(rw::CLASSES_REGISTER.into()),
            a_logits: value(rw::LOGITS_FIRST.into()),
            a_core_status: first(rw::CORE_STATUS),
            n_core_status: words(rw::CORE_STATUS),
            a_input: first(rw::INPUT),
            n_input: words(rw::INPUT),
            a_rewind: first(rw::REWIND),
            n_rewind: words(rw::REWIND),
            a_link_status: first(rw::LINK_STATUS),
            n_link_status: words(rw::LINK_STATUS),
            a_load_end: first(rw::LOAD_END),
            n_load_end: words(rw::LOAD_END),
            a_error: first(rw::ERROR),
            n_error: words(rw::ERROR),
            response_bit: value(RESPONSE_BIT.into()),
            error_cmd: value(ERROR_CMD.into()),
        })
    }
}

impl Logic for ResponseEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, tstate, t_cmd, t_seq, t_src, t_addr, t_left);
        dff_setup!(self, clock, t_seg2, t_n2, t_word, t_wait, t_left_nz, t_len_r);
        self.t_left_nz.d.next = self.t_left.q.val().any();
        dff_setup!(self, clock, tc_strobe, tc_data, raddr_r, activity);
        self.idle.next = self.tstate.q.val() == TxState::Idle;
        self.led_activity.next = self.activity.q.val();
        self.link_addr.next = self.t_addr.q.val().get_bits::<3>(0);
        self.t_len.next =
            (bit_cast::<16, 12>(self.t_left.q.val()) + bit_cast::<16, 10>(self.t_n2.q.val())) << 1;
        self.t_len_r.d.next = self.t_len.val();
        self.rom.address.next = self.t_addr.q.val().get_bits::<5>(0);
        self.raddr.next = self.raddr_r.q.val();
        self.raddr_r.d.next = self.t_addr.q.val();
        self.t_byte.next = 0.into();
        self.t_is_end.next = false;
        self.t_send.next = false;
        self.t_crc_byte.next = false;
        self.crc_init.next = false;
        match self.tstate.q.val() {
            TxState::Idle => {}
            TxState::Start => {
                self.crc_init.next = true;
                self.t_n2.d.next = 0.into();
                self.t_wait.d.next = 0.into();
                if self.t_seg2.q.val() == 1 {
                    self.raddr_r.d.next = self.a_classes.val();
                    self.tstate.d.next = TxState::Classes;
                } else {
                    if self.t_seg2.q.val() == 2 {
                        self.t_n2.d.next = bit_cast::<10, 12>(self.n_link_status.val());
                    }
                    self.tstate.d.next = TxState::SendEnd0;
                }
            }
            TxState::Classes => {
                // Read the class count to size the logits segment.
                self.raddr_r.d.next = self.a_classes.val();
                self.t_wait.d.next = self.t_wait.q.val() + 1;
                if self.t_wait.q.val() == 3 {
                    self.t_n2.d.next = bit_cast::<10, 8>(self.rdata.val().get_bits::<8>(0)) << 1;
                    self.tstate.d.next = TxState::SendEnd0;
                }
            }
            TxState::SendEnd0 => {
                self.t_is_end.next = true;
                self.t_send.next = true;
                if self.ready.val() {
                    self.tstate.d.next = TxState::SendCmd;
                }
            }
            TxState::SendCmd => {
                self.t_byte.next = self.t_cmd.q.val();
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.ready.val() {
                    self.tstate.d.next = TxState::SendSeq;
                }
            }
            TxState::SendSeq => {
                self.t_byte.next = self.t_seq.q.val();
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.ready.val() {
                    self.tstate.d.next = TxState::SendLen0;
                }
            }
            TxState::SendLen0 => {
                self.t_byte.next = self.t_len_r.q.val().get_bits::<8>(0);
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.ready.val() {
                    self.tstate.d.next = TxState::SendLen1;
                }
            }
            TxState::SendLen1 => {
                self.t_byte.next = self.t_len_r.q.val().get_bits::<8>(8);
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.ready.val() {
                    self.tstate.d.next = TxState::NextWord;
                }
            }
            TxState::NextWord => {
                // t_wait is 0 on entry (Start sets it, Classes and Fetch wrap it).
                self.t_wait.d.next = 1.into();
                if self.t_wait.q.val() == 1 {
                    self.t_wait.d.next = 0.into();
                    if self.t_left_nz.q.val() {
                        self.tstate.d.next = TxState::Fetch;
                    } else if self.t_seg2.q.val() == 1 {
                        self.t_seg2.d.next = 0.into();
                        self.t_src.d.next = 0.into();
                        self.t_addr.d.next = self.a_logits.val();
                        self.t_left.d.next = bit_cast::<12, 10>(self.t_n2.q.val());
                        self.t_n2.d.next = 0.into();
                    } else if self.t_seg2.q.val() == 2 {
                        self.t_seg2.d.next = 0.into();
                        self.t_src.d.next = 1.into();
                        self.t_addr.d.next = self.a_link_status.val();
                        self.t_left.d.next = self.n_link_status.val();
                        self.t_n2.d.next = 0.into();
                    } else {
                        self.tstate.d.next = TxState::SendCrc0;
                    }
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
                if self.ready.val() {
                    self.tstate.d.next = TxState::SendHi;
                }
            }
            TxState::SendHi => {
                self.t_byte.next = self.t_word.q.val().get_bits::<8>(8);
                self.t_send.next = true;
                self.t_crc_byte.next = true;
                if self.ready.val() {
                    self.t_addr.d.next = self.t_addr.q.val() + 1;
                    self.t_left.d.next = self.t_left.q.val() - 1;
                    self.tstate.d.next = TxState::NextWord;
                }
            }
            TxState::SendCrc0 => {
                self.t_byte.next = self.crc.val().get_bits::<8>(0);
                self.t_send.next = true;
                if self.ready.val() {
                    self.tstate.d.next = TxState::SendCrc1;
                }
            }
            TxState::SendCrc1 => {
                self.t_byte.next = self.crc.val().get_bits::<8>(8);
                self.t_send.next = true;
                if self.ready.val() {
                    self.tstate.d.next = TxState::SendEnd1;
                }
            }
            TxState::SendEnd1 => {
                self.t_is_end.next = true;
                self.t_send.next = true;
                if self.ready.val() {
                    self.activity.d.next = !self.activity.q.val();
                    self.tstate.d.next = TxState::Idle;
                }
            }
            _ => {
                self.tstate.d.next = TxState::Idle;
            }
        }
        self.tx_data.next = self.t_byte.val();
        self.tx_end.next = self.t_is_end.val();
        self.tx_valid.next = self.t_send.val();
        self.tc_data.d.next = self.t_byte.val();
        self.tc_strobe.d.next = self.t_crc_byte.val() && self.ready.val();
        self.crc_data.next = self.tc_data.q.val();
        self.crc_strobe.next = self.tc_strobe.q.val();
        // A response handed over (the command engine's Post). The command flags are
        // one-hot, so each response field is an OR of the flags that set it.
        if self.respond.val() {
            self.t_seq.d.next = self.frame_seq.val();
            self.t_cmd.d.next = self.command.val() | self.response_bit.val();
            self.t_seg2.d.next = 0.into();
            self.t_src.d.next = 0.into();
            self.t_left.d.next = 0.into();
            self.t_addr.d.next = 0.into();
            if self.err_any.val() {
                self.t_cmd.d.next = self.error_cmd.val();
                self.t_src.d.next = 1.into();
                self.t_addr.d.next = self.a_error.val();
                self.t_left.d.next = self.n_error.val();
            } else {
                if self.is_identify.val() {
                    self.t_src.d.next = 2.into();
                    self.t_left.d.next = self.rom_words.val();
                }
                if self.is_read.val() {
                    self.t_addr.d.next = self.addr.val();
                    self.t_left.d.next = bit_cast::<12, 16>(self.count.val());
                }
                if self.is_input_only.val() {
                    self.t_addr.d.next = self.a_input.val();
                    self.t_left.d.next = self.n_input.val();
                }
                if self.is_run.val() || self.is_infer.val() {
                    self.t_addr.d.next = self.a_core_status.val();
                    self.t_left.d.next = self.n_core_status.val();
                    self.t_seg2.d.next = 1.into();
                }
                if self.is_rewind.val() {
                    self.t_addr.d.next = self.a_rewind.val();
                    self.t_left.d.next = self.n_rewind.val();
                }
                if self.is_status.val() {
                    self.t_addr.d.next = self.a_core_status.val();
                    self.t_left.d.next = self.n_core_status.val();
                    self.t_seg2.d.next = 2.into();
                }
                if self.is_load_end.val() {
                    self.t_src.d.next = 1.into();
                    self.t_addr.d.next = self.a_load_end.val();
                    self.t_left.d.next = self.n_load_end.val();
                }
            }
            self.tstate.d.next = TxState::Start;
        }
    }
}
