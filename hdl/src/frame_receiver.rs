//! The frame receiver: the parsing half of the link's receive engine.
//!
//! It takes frames byte by byte from the head of [`SlipRx`](crate::slip_rx::SlipRx)'s
//! FIFO (Hunt, Header, Payload, Crc, Excess, Drop), feeds the receive CRC, hands the
//! header bytes to the [`HeaderDecoder`](crate::header_decoder::HeaderDecoder) and the
//! payload bytes to the [`PayloadDecoder`](crate::payload_decoder::PayloadDecoder),
//! abandons half frames when the [`FrameTimer`](crate::frame_timer::FrameTimer)
//! says so, latches the frame's error as its END is taken and hands the state to the
//! [`CommandEngine`](crate::command_engine::CommandEngine), which runs the rest of the
//! states. The state register is one for both halves: the receive engine is one
//! state machine, cut in two blocks only where its states are.

use rust_hdl::prelude::*;

use crate::contract_constants::{error_code, value, ERROR_BITS};
use revspike_proto::protocol::{header, ErrorCode, CRC_BYTES, FRAME_OVERHEAD};

// The header's and the CRC's byte indices fit `hidx`, the frame's byte count `fcount`.
const _: () = assert!(header::BYTES <= 4 && CRC_BYTES < 4 && FRAME_OVERHEAD < 8);

/// The receive engine's states: the frame receiver's (Hunt to Drop), then the command
/// engine's (Done to Post).
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum RxState {
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

#[derive(LogicBlock)]
pub struct FrameReceiver {
    pub clock: Signal<In, Clock>,
    // The receive FIFO's head entry and its overflow record (SlipRx).
    pub head_valid: Signal<In, Bit>,
    pub head_end: Signal<In, Bit>,
    pub head_byte: Signal<In, Bits<8>>,
    pub head_lost: Signal<In, Bit>,
    pub lost_pending: Signal<In, Bit>,
    /// Remove the head entry.
    pub pop: Signal<Out, Bit>,
    /// The receive CRC and its feed.
    pub crc: Signal<In, Bits<16>>,
    pub crc_init: Signal<Out, Bit>,
    pub crc_strobe: Signal<Out, Bit>,
    pub crc_data: Signal<Out, Bits<8>>,
    /// The receive engine's state; while the command engine runs it, its next state.
    pub state: Signal<Out, RxState>,
    pub exec_next: Signal<In, RxState>,
    /// A new frame begins: the frame's state resets (also on the command engine's
    /// `exec_frame_reset`).
    pub frame_reset: Signal<Out, Bit>,
    pub exec_frame_reset: Signal<In, Bit>,
    /// The receiver acts on a header byte (the `header_index`th) or a payload byte at
    /// the head now; it leaves the head with `pop` (a payload byte unless `stall`).
    pub header_byte: Signal<Out, Bit>,
    pub header_index: Signal<Out, Bits<2>>,
    pub payload_byte: Signal<Out, Bit>,
    pub stall: Signal<In, Bit>,
    /// Payload index, and the byte at the head is the payload's last.
    pub index: Signal<Out, Bits<13>>,
    pub last: Signal<Out, Bit>,
    // The header decoder's registered decisions.
    pub length: Signal<In, Bits<13>>,
    pub oversize: Signal<In, Bit>,
    pub args_valid: Signal<In, Bit>,
    pub length_field: Signal<In, Bits<16>>,
    pub is_input: Signal<In, Bit>,
    pub in_ok: Signal<In, Bit>,
    /// The error the header or the payload's zero runs decided (HeaderDecoder), and
    /// the payload's address or count is refused (PayloadDecoder).
    pub pending_error: Signal<In, Bits<ERROR_BITS>>,
    pub bad_range: Signal<In, Bit>,
    /// The core's busy flag, registered (CommandEngine).
    pub busy_q: Signal<In, Bit>,
    /// Pulse to the core: a new input sample begins; an input is open in this frame.
    pub in_start: Signal<Out, Bit>,
    pub started: Signal<Out, Bit>,
    /// The command engine closes the input (committed or aborted).
    pub close_input: Signal<In, Bit>,
    /// Bytes of the frame (saturating at the framing overhead) and bytes lost inside
    /// it, for Done.
    pub bytes: Signal<Out, Bits<3>>,
    pub overrun: Signal<Out, Bit>,
    /// A half frame timed out (FrameTimer, one-cycle pulse).
    pub timeout: Signal<In, Bit>,
    /// The frame's error code (0: none); the command engine's own, when `err_set`.
    pub error: Signal<Out, Bits<ERROR_BITS>>,
    pub err_set: Signal<In, Bit>,
    pub err_next: Signal<In, Bits<ERROR_BITS>>,
    /// The watchdog stopped the core's command: the state goes to AbortWait.
    pub watchdog: Signal<In, Bit>,

    rstate: DFF<RxState>,
    hidx: DFF<Bits<2>>,
    fcount: DFF<Bits<3>>,
    pidx: DFF<Bits<13>>,
    // pidx + 1, counted beside pidx: the last-byte compare then starts at flip-flops.
    pidx_next: DFF<Bits<13>>,
    err: DFF<Bits<ERROR_BITS>>,
    crc_bad: DFF<Bit>,
    overrun_f: DFF<Bit>,
    in_started: DFF<Bit>,
    // Registered host-port output.
    in_start_r: DFF<Bit>,
    // Registered decisions. The receiver acts on a FIFO entry only once it has been at
    // the head for a cycle (`hv_q`), and its state changes only when it acts, so every
    // decision below is computed in the cycle before it is used from the same state
    // and head byte.
    hv_q: DFF<Bit>,
    end_err_r: DFF<Bits<ERROR_BITS>>,
    last_r: DFF<Bit>,
    crc_lo_ne: DFF<Bit>,
    crc_hi_ne: DFF<Bit>,
    // The receive CRC takes each popped byte one cycle later.
    rc_strobe: DFF<Bit>,
    rc_data: DFF<Bits<8>>,

    hv: Signal<Local, Bit>,
    he: Signal<Local, Bit>,
    hb: Signal<Local, Bits<8>>,
    end_err: Signal<Local, Bits<ERROR_BITS>>,

    // The error codes a frame can end with (revspike_proto::protocol::ErrorCode).
    e_crc: Constant<Bits<ERROR_BITS>>,
    e_length: Constant<Bits<ERROR_BITS>>,
    e_oversize: Constant<Bits<ERROR_BITS>>,
    e_arguments: Constant<Bits<ERROR_BITS>>,
    e_core: Constant<Bits<ERROR_BITS>>,
    e_overrun: Constant<Bits<ERROR_BITS>>,
    // The frame's layout (revspike_proto::protocol): the header's first and last byte,
    // the CRC's bytes and its end, the header's length and the framing overhead.
    h_first: Constant<Bits<2>>,
    h_last: Constant<Bits<2>>,
    crc_lo: Constant<Bits<2>>,
    crc_hi: Constant<Bits<2>>,
    crc_end: Constant<Bits<2>>,
    header_bytes: Constant<Bits<3>>,
    overhead: Constant<Bits<3>>,
}

impl Default for FrameReceiver {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            head_valid: Default::default(),
            head_end: Default::default(),
            head_byte: Default::default(),
            head_lost: Default::default(),
            lost_pending: Default::default(),
            pop: Default::default(),
            crc: Default::default(),
            crc_init: Default::default(),
            crc_strobe: Default::default(),
            crc_data: Default::default(),
            state: Default::default(),
            exec_next: Default::default(),
            frame_reset: Default::default(),
            exec_frame_reset: Default::default(),
            header_byte: Default::default(),
            header_index: Default::default(),
            payload_byte: Default::default(),
            stall: Default::default(),
            index: Default::default(),
            last: Default::default(),
            length: Default::default(),
            oversize: Default::default(),
            args_valid: Default::default(),
            length_field: Default::default(),
            is_input: Default::default(),
            in_ok: Default::default(),
            pending_error: Default::default(),
            bad_range: Default::default(),
            busy_q: Default::default(),
            in_start: Default::default(),
            started: Default::default(),
            close_input: Default::default(),
            bytes: Default::default(),
            overrun: Default::default(),
            timeout: Default::default(),
            error: Default::default(),
            err_set: Default::default(),
            err_next: Default::default(),
            watchdog: Default::default(),
            rstate: Default::default(),
            hidx: Default::default(),
            fcount: Default::default(),
            pidx: Default::default(),
            pidx_next: Default::default(),
            err: Default::default(),
            crc_bad: Default::default(),
            overrun_f: Default::default(),
            in_started: Default::default(),
            in_start_r: Default::default(),
            hv_q: Default::default(),
            end_err_r: Default::default(),
            last_r: Default::default(),
            crc_lo_ne: Default::default(),
            crc_hi_ne: Default::default(),
            rc_strobe: Default::default(),
            rc_data: Default::default(),
            hv: Default::default(),
            he: Default::default(),
            hb: Default::default(),
            end_err: Default::default(),
            e_crc: error_code(ErrorCode::BadCrc),
            e_length: error_code(ErrorCode::Length),
            e_oversize: error_code(ErrorCode::Oversize),
            e_arguments: error_code(ErrorCode::BadArguments),
            e_core: error_code(ErrorCode::Core),
            e_overrun: error_code(ErrorCode::Overrun),
            h_first: value(header::CMD as u64),
            h_last: value(header::LEN_HI as u64),
            crc_lo: value(0),
            crc_hi: value(1),
            crc_end: value(CRC_BYTES as u64),
            header_bytes: value(header::BYTES as u64),
            overhead: value(FRAME_OVERHEAD as u64),
        }
    }
}

impl Logic for FrameReceiver {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, rstate, hidx, fcount, pidx, pidx_next);
        dff_setup!(self, clock, crc_bad, overrun_f, in_started, in_start_r);
        dff_setup!(self, clock, err, hv_q, end_err_r, last_r);
        dff_setup!(self, clock, crc_lo_ne, crc_hi_ne, rc_strobe, rc_data);
        // hv_q implies the entry is still at the head: only `pop` removes it, and hv_q
        // is set only when the entry was there and not popped.
        self.hv.next = self.hv_q.q.val();
        self.he.next = self.head_end.val();
        self.hb.next = self.head_byte.val();
        self.state.next = self.rstate.q.val();
        self.header_index.next = self.hidx.q.val();
        self.index.next = self.pidx.q.val();
        self.last.next = self.last_r.q.val();
        self.in_start.next = self.in_start_r.q.val();
        self.started.next = self.in_started.q.val();
        self.bytes.next = self.fcount.q.val();
        self.overrun.next = self.overrun_f.q.val();
        self.error.next = self.err.q.val();
        self.crc_strobe.next = self.rc_strobe.q.val();
        self.crc_data.next = self.rc_data.q.val();
        self.header_byte.next =
            self.rstate.q.val() == RxState::Header && self.hv.val() && !self.he.val();
        self.payload_byte.next =
            self.rstate.q.val() == RxState::Payload && self.hv.val() && !self.he.val();

        // Pulses last one cycle.
        self.in_start_r.d.next = false;
        self.crc_init.next = false;
        self.rc_strobe.d.next = false;
        self.rc_data.d.next = self.hb.val();
        self.pop.next = false;
        // The command engine begins frames too (Done drops noise, Post hands over).
        self.frame_reset.next = self.exec_frame_reset.val();

        self.last_r.d.next = self.pidx_next.q.val() == self.length.val();
        self.crc_lo_ne.d.next = self.hb.val() != self.crc.val().get_bits::<8>(0);
        self.crc_hi_ne.d.next = self.hb.val() != self.crc.val().get_bits::<8>(8);

        // Error of a frame ending now, in order of precedence.
        self.end_err.next = 0.into();
        if self.overrun_f.q.val() || self.head_lost.val() {
            self.end_err.next = self.e_overrun.val();
        } else if self.rstate.q.val() == RxState::Drop {
            self.end_err.next = self.e_oversize.val();
        } else if self.rstate.q.val() == RxState::Payload
            || self.rstate.q.val() == RxState::Excess
            || (self.rstate.q.val() == RxState::Crc && self.hidx.q.val() != self.crc_end.val())
        {
            self.end_err.next = self.e_length.val();
        } else if self.crc_bad.q.val() {
            self.end_err.next = self.e_crc.val();
        } else if self.pending_error.val().any() {
            self.end_err.next = self.pending_error.val();
        } else if self.bad_range.val() {
            self.end_err.next = self.e_arguments.val();
        }
        self.end_err_r.d.next = self.end_err.val();

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
                    // Bytes 0..2 (command, sequence, length) go to the header decoder.
                    if self.hidx.q.val() != self.h_last.val() {
                        self.pop.next = true;
                    } else if self.oversize.val() {
                        self.pop.next = true;
                        self.rstate.d.next = RxState::Drop;
                    } else if self.is_input.val() && self.args_valid.val() && self.in_ok.val() {
                        // Open a new input sample once the core can take it.
                        if !self.busy_q.val() {
                            self.in_start_r.d.next = true;
                            self.in_started.d.next = true;
                            self.pop.next = true;
                        }
                    } else {
                        // Refused (the header decoder holds the error) or no input.
                        self.pop.next = true;
                    }
                    if self.pop.val() {
                        self.rc_strobe.d.next = true;
                        self.hidx.d.next = self.hidx.q.val() + 1;
                        if self.hidx.q.val() == self.h_last.val() {
                            self.pidx.d.next = 0.into();
                            self.pidx_next.d.next = 1.into();
                            if self.oversize.val() {
                                self.rstate.d.next = RxState::Drop;
                            } else if self.length_field.val().any() {
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
                    // The payload decoder acts on the byte, or holds it (`stall`).
                    self.pop.next = !self.stall.val();
                    if self.pop.val() {
                        self.rc_strobe.d.next = true;
                        self.pidx.d.next = self.pidx_next.q.val();
                        self.pidx_next.d.next = self.pidx_next.q.val() + 1;
                        if self.last_r.q.val() {
                            self.hidx.d.next = self.crc_lo.val();
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
                    } else if self.hidx.q.val() == self.crc_lo.val() {
                        if self.crc_lo_ne.q.val() {
                            self.crc_bad.d.next = true;
                        }
                        self.hidx.d.next = self.crc_hi.val();
                    } else if self.hidx.q.val() == self.crc_hi.val() {
                        if self.crc_hi_ne.q.val() {
                            self.crc_bad.d.next = true;
                        }
                        self.hidx.d.next = self.crc_end.val();
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
            _ => {
                self.rstate.d.next = self.exec_next.val();
            }
        }

        // Bytes of the current frame, saturating at the framing overhead (enough to tell
        // noise from frames).
        if self.pop.val() && !self.he.val() && self.fcount.q.val() != self.overhead.val() {
            self.fcount.d.next = self.fcount.q.val() + 1;
        }
        // The command engine's own errors, set in its states.
        if self.err_set.val() {
            self.err.d.next = self.err_next.val();
        }
        // Latch the frame's verdict when its END is taken.
        if self.pop.val() && self.he.val() && self.rstate.q.val() != RxState::Hunt {
            self.err.d.next = self.end_err_r.q.val();
        }
        // A half frame with nothing more arriving. Once its header is in, the host
        // learns of it from an error answer (LENGTH, or OVERRUN when the FIFO
        // overflowed and swallowed its END); shorter fragments are dropped silently.
        if self.timeout.val() {
            if self.fcount.q.val() >= self.header_bytes.val() {
                self.fcount.d.next = self.overhead.val();
                self.rstate.d.next = RxState::Done;
                if self.overrun_f.q.val() || self.lost_pending.val() {
                    self.err.d.next = self.e_overrun.val();
                } else if self.rstate.q.val() == RxState::Drop {
                    self.err.d.next = self.e_oversize.val();
                } else {
                    self.err.d.next = self.e_length.val();
                }
            } else if self.overrun_f.q.val() || self.lost_pending.val() {
                // Cut by an overflow before its header was in: Done answers it with the
                // header the receiver kept, if it has one.
                self.overrun_f.d.next = true;
                self.err.d.next = self.e_overrun.val();
                self.rstate.d.next = RxState::Done;
            } else {
                self.rstate.d.next = RxState::Hunt;
            }
        }
        // Bytes were lost right before the entry taken now.
        if self.pop.val() && self.head_lost.val() {
            self.overrun_f.d.next = true;
        }
        if self.close_input.val() {
            self.in_started.d.next = false;
        }
        // The core's command did not finish in time: answer CORE (watchdog).
        if self.watchdog.val() {
            self.err.d.next = self.e_core.val();
            self.rstate.d.next = RxState::AbortWait;
        }
        if self.frame_reset.val() {
            self.hidx.d.next = self.h_first.val();
            self.fcount.d.next = 0.into();
            self.pidx.d.next = 0.into();
            self.pidx_next.d.next = 1.into();
            self.crc_bad.d.next = false;
            self.overrun_f.d.next = false;
            self.in_started.d.next = false;
            self.crc_init.next = true;
        }
        // An entry is acted on from its second cycle at the head, and only in a
        // parsing state that did not just begin: a new frame or state resets what the
        // registered decisions were computed from.
        self.hv_q.d.next = self.head_valid.val()
            && !self.pop.val()
            && !self.frame_reset.val()
            && !self.timeout.val()
            && (self.rstate.q.val() == RxState::Hunt
                || self.rstate.q.val() == RxState::Header
                || self.rstate.q.val() == RxState::Payload
                || self.rstate.q.val() == RxState::Crc
                || self.rstate.q.val() == RxState::Excess
                || self.rstate.q.val() == RxState::Drop);
    }
}
