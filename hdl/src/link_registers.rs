//! The link's register file: the word counter, the model and input flags, the error
//! counters and the last error, changed by the host port's writes, the UART and
//! SLIP receivers and the [`CommandEngine`](crate::command_engine::CommandEngine)'s
//! one-cycle events, and read by the
//! [`ResponseEngine`](crate::response_engine::ResponseEngine) as link words 0..6
//! (docs/protocol.md: words 0..4 in STATUS and LOAD_END responses, 5..6 the payload
//! of an error frame).

use rust_hdl::prelude::*;

use crate::contract_constants::{error_code, value, ERROR_BITS};
use revspike_proto::contract::{addr, Region};
use revspike_proto::protocol::{flags, ErrorCode, LinkWord};

// The model is regions 0 and 1 (the rows and the configuration registers): a host
// address is in it when the region field's bits above its lowest are all zero.
const _: () = assert!(Region::Rows.code() == 0 && Region::Config.code() == 1);
const MODEL_TEST_BITS: usize = addr::REGION.width - 1;

#[derive(LogicBlock)]
pub struct LinkRegisters {
    pub clock: Signal<In, Clock>,
    /// A word is written to the host port, at `addr` (PayloadDecoder; `addr_bad`: the
    /// frame's address was refused).
    pub we: Signal<In, Bit>,
    pub addr: Signal<In, Bits<20>>,
    pub addr_bad: Signal<In, Bit>,
    /// A UART framing error; a byte lost to the full receive FIFO; a half frame timed
    /// out.
    pub framing_error: Signal<In, Bit>,
    pub fifo_overrun: Signal<In, Bit>,
    pub timeout: Signal<In, Bit>,
    /// The frame's command (HeaderDecoder), and a WRITE.
    pub command: Signal<In, Bits<8>>,
    pub is_write: Signal<In, Bit>,
    /// The frame's error code, and the last error's code and detail (CommandEngine).
    pub error: Signal<In, Bits<ERROR_BITS>>,
    pub error_code: Signal<In, Bits<ERROR_BITS>>,
    pub error_detail: Signal<In, Bits<8>>,
    // The command engine's events (CommandEngine).
    pub frame_failed: Signal<In, Bit>,
    pub load_begin: Signal<In, Bit>,
    pub load_end: Signal<In, Bit>,
    pub input_valid: Signal<In, Bit>,
    pub input_invalid: Signal<In, Bit>,
    pub clear_counts: Signal<In, Bit>,
    pub error_sent: Signal<In, Bit>,
    pub watchdog_fire: Signal<In, Bit>,
    /// A model is loaded; a write spoiled it.
    pub model_loaded: Signal<Out, Bit>,
    pub model_dirty: Signal<Out, Bit>,
    /// Link word `word_addr` (0..6; 0 beyond).
    pub word_addr: Signal<In, Bits<3>>,
    pub word: Signal<Out, Bits<16>>,
    /// An error frame was sent since the last RESET.
    pub led_error: Signal<Out, Bit>,

    wc: DFF<Bits<20>>,
    loaded: DFF<Bit>,
    dirty: DFF<Bit>,
    input_ok: DFF<Bit>,
    last_err: DFF<Bits<ERROR_BITS>>,
    n_crc: DFF<Bits<8>>,
    n_framing: DFF<Bits<8>>,
    n_timeout: DFF<Bits<8>>,
    n_overrun: DFF<Bits<8>>,
    err_cmd: DFF<Bits<8>>,
    error_seen: DFF<Bit>,
    // The frame's verdict and LOAD_END's word-count check, registered while the
    // command engine's Done waits its first cycle.
    err_crc_r: DFF<Bit>,
    end_ok_r: DFF<Bit>,

    // Contract values (revspike_proto): the CRC error code, the model's region bits,
    // the link words and the flags.
    e_crc: Constant<Bits<ERROR_BITS>>,
    o_region_hi: Constant<Bits<8>>,
    w_words_lo: Constant<Bits<3>>,
    w_words_hi: Constant<Bits<3>>,
    w_flags: Constant<Bits<3>>,
    w_crc_framing: Constant<Bits<3>>,
    w_timeout_overrun: Constant<Bits<3>>,
    w_error_command: Constant<Bits<3>>,
    w_error_detail: Constant<Bits<3>>,
    f_loaded: Constant<Bits<16>>,
    f_dirty: Constant<Bits<16>>,
    f_input_valid: Constant<Bits<16>>,
}

impl Default for LinkRegisters {
    fn default() -> Self {
        let word = |w: LinkWord| value(w.index() as u64);
        Self {
            clock: Default::default(),
            we: Default::default(),
            addr: Default::default(),
            addr_bad: Default::default(),
            framing_error: Default::default(),
            fifo_overrun: Default::default(),
            timeout: Default::default(),
            command: Default::default(),
            is_write: Default::default(),
            error: Default::default(),
            error_code: Default::default(),
            error_detail: Default::default(),
            frame_failed: Default::default(),
            load_begin: Default::default(),
            load_end: Default::default(),
            input_valid: Default::default(),
            input_invalid: Default::default(),
            clear_counts: Default::default(),
            error_sent: Default::default(),
            watchdog_fire: Default::default(),
            model_loaded: Default::default(),
            model_dirty: Default::default(),
            word_addr: Default::default(),
            word: Default::default(),
            led_error: Default::default(),
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
            error_seen: Default::default(),
            err_crc_r: Default::default(),
            end_ok_r: Default::default(),
            e_crc: error_code(ErrorCode::BadCrc),
            o_region_hi: value((addr::REGION.offset + 1) as u64),
            w_words_lo: word(LinkWord::WordsLo),
            w_words_hi: word(LinkWord::WordsHi),
            w_flags: word(LinkWord::Flags),
            w_crc_framing: word(LinkWord::CrcFraming),
            w_timeout_overrun: word(LinkWord::TimeoutOverrun),
            w_error_command: word(LinkWord::ErrorCommand),
            w_error_detail: word(LinkWord::ErrorDetail),
            f_loaded: value(u64::from(flags::LOADED)),
            f_dirty: value(u64::from(flags::DIRTY)),
            f_input_valid: value(u64::from(flags::INPUT_VALID)),
        }
    }
}

impl Logic for LinkRegisters {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wc, loaded, dirty, input_ok, last_err);
        dff_setup!(self, clock, n_crc, n_framing, n_timeout, n_overrun);
        dff_setup!(self, clock, err_cmd, error_seen, err_crc_r, end_ok_r);
        self.model_loaded.next = self.loaded.q.val();
        self.model_dirty.next = self.dirty.q.val();
        self.led_error.next = self.error_seen.q.val();

        // A written word is counted on the cycle it is presented.
        if self.we.val() {
            self.wc.d.next = self.wc.q.val() + 1;
            // A word of the model (regions 0 and 1) after LOAD_END: no longer the model
            // LOAD_END checked.
            if !self
                .addr
                .val()
                .get_bits::<MODEL_TEST_BITS>(self.o_region_hi.val().index())
                .any()
            {
                self.loaded.d.next = false;
            }
        }
        if self.framing_error.val() {
            self.n_framing.d.next = self.n_framing.q.val() + 1;
        }
        if self.fifo_overrun.val() {
            self.n_overrun.d.next = self.n_overrun.q.val() + 1;
        }
        self.err_crc_r.d.next = self.error.val() == self.e_crc.val();
        self.end_ok_r.d.next =
            !self.dirty.q.val() && !self.addr_bad.val() && self.addr.val() == self.wc.q.val();

        if self.frame_failed.val() {
            if self.err_crc_r.q.val() {
                self.n_crc.d.next = self.n_crc.q.val() + 1;
            }
            if self.is_write.val() {
                self.dirty.d.next = true;
            }
        }
        if self.load_begin.val() {
            self.loaded.d.next = false;
            self.dirty.d.next = false;
            self.wc.d.next = 0.into();
        }
        if self.load_end.val() {
            self.loaded.d.next = self.end_ok_r.q.val();
        }
        if self.input_valid.val() {
            self.input_ok.d.next = true;
        }
        if self.input_invalid.val() {
            self.input_ok.d.next = false;
        }
        if self.clear_counts.val() {
            self.n_crc.d.next = 0.into();
            self.n_framing.d.next = 0.into();
            self.n_timeout.d.next = 0.into();
            self.n_overrun.d.next = 0.into();
            self.last_err.d.next = 0.into();
            self.error_seen.d.next = false;
        }
        if self.error_sent.val() {
            self.err_cmd.d.next = self.command.val();
            self.last_err.d.next = self.error.val();
            self.error_seen.d.next = true;
        }
        if self.timeout.val() {
            self.n_timeout.d.next = self.n_timeout.q.val() + 1;
        }
        if self.watchdog_fire.val() {
            self.loaded.d.next = false;
        }

        self.word.next = 0.into();
        // Link words (revspike_proto::protocol::LinkWord); 0 beyond them.
        if self.word_addr.val() == self.w_words_lo.val() {
            self.word.next = self.wc.q.val().get_bits::<16>(0);
        } else if self.word_addr.val() == self.w_words_hi.val() {
            self.word.next = bit_cast::<16, 4>(self.wc.q.val().get_bits::<4>(16));
        } else if self.word_addr.val() == self.w_flags.val() {
            self.word.next = bit_cast::<16, ERROR_BITS>(self.last_err.q.val()) << 8;
            if self.loaded.q.val() {
                self.word.next = self.word.val() | self.f_loaded.val();
            }
            if self.dirty.q.val() {
                self.word.next = self.word.val() | self.f_dirty.val();
            }
            if self.input_ok.q.val() {
                self.word.next = self.word.val() | self.f_input_valid.val();
            }
        } else if self.word_addr.val() == self.w_crc_framing.val() {
            self.word.next = (bit_cast::<16, 8>(self.n_framing.q.val()) << 8)
                | bit_cast::<16, 8>(self.n_crc.q.val());
        } else if self.word_addr.val() == self.w_timeout_overrun.val() {
            self.word.next = (bit_cast::<16, 8>(self.n_overrun.q.val()) << 8)
                | bit_cast::<16, 8>(self.n_timeout.q.val());
        } else if self.word_addr.val() == self.w_error_command.val() {
            self.word.next = (bit_cast::<16, ERROR_BITS>(self.error_code.val()) << 8)
                | bit_cast::<16, 8>(self.err_cmd.q.val());
        } else if self.word_addr.val() == self.w_error_detail.val() {
            self.word.next = bit_cast::<16, 8>(self.error_detail.val());
        }
    }
}
