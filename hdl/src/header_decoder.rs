//! The frame header, decoded: the command, sequence and length bytes as the
//! [`FrameReceiver`](crate::frame_receiver::FrameReceiver) takes them, the command
//! decoded one-hot, the length checks, and the error the header alone decides
//! (oversize, unknown command, bad arguments, no model for an INFER), which the frame
//! is answered with at its END unless a worse one comes first.
//!
//! Every output is a flip-flop: the decisions settle while the header's last byte
//! waits its first cycle at the FIFO head, and long before a payload byte is acted on.

use rust_hdl::prelude::*;

use crate::contract_constants::{error_code, value, ERROR_BITS};

use revspike_proto::protocol::{
    header, CommandCode as C, ErrorCode as E, PayloadRule, MAX_PAYLOAD,
};

// `#[hdl_gen]` kernels cannot name Rust constants, so every command code, payload
// length and error code the decoder uses is a `Constant` field built from its one
// definition in `revspike_proto::protocol` (`CommandCode`, `PayloadRule`, `ErrorCode`).

#[derive(LogicBlock)]
pub struct HeaderDecoder {
    pub clock: Signal<In, Clock>,
    /// A header byte is at the FIFO head now, the `header_index`th (the 4th may stay
    /// there a while: an input waits until the core can take it).
    pub header_byte: Signal<In, Bit>,
    pub header_index: Signal<In, Bits<2>>,
    /// The FIFO's head byte.
    pub head_byte: Signal<In, Bits<8>>,
    /// Take the command and sequence bytes of the header the receive FIFO kept when an
    /// overflow cut the frame (SlipRx's `lost_cmd`, `lost_seq`).
    pub take_lost: Signal<In, Bit>,
    pub lost_cmd: Signal<In, Bits<8>>,
    pub lost_seq: Signal<In, Bits<8>>,
    /// The payload's zero runs are refused (PayloadDecoder): BAD_ARGUMENTS.
    pub bad_input: Signal<In, Bit>,
    /// A new frame begins.
    pub frame_reset: Signal<In, Bit>,
    /// The link's model flags (LinkRegisters): an INFER needs a clean model.
    pub loaded: Signal<In, Bit>,
    pub dirty: Signal<In, Bit>,
    pub command: Signal<Out, Bits<8>>,
    pub frame_seq: Signal<Out, Bits<8>>,
    /// The payload length (its low byte while the high byte waits at the head).
    pub length: Signal<Out, Bits<13>>,
    /// The error decided so far (0: none).
    pub pending_error: Signal<Out, Bits<ERROR_BITS>>,
    /// The length exceeds MAX_PAYLOAD; it suits the command; the whole length field.
    pub oversize: Signal<Out, Bit>,
    pub args_valid: Signal<Out, Bit>,
    pub length_field: Signal<Out, Bits<16>>,
    /// INPUT, or a model is loaded and clean: an INFER may open an input.
    pub in_ok: Signal<Out, Bit>,
    // The command, one-hot.
    pub is_write: Signal<Out, Bit>,
    pub is_read: Signal<Out, Bit>,
    /// INPUT, INFER or INFER_PACKED: the payload is the core's input.
    pub is_input: Signal<Out, Bit>,
    pub is_rewind: Signal<Out, Bit>,
    /// WRITE, READ or LOAD_END: the payload begins with a 32-bit address or count.
    pub is_addressed: Signal<Out, Bit>,
    pub is_identify: Signal<Out, Bit>,
    pub is_run: Signal<Out, Bit>,
    pub is_reset: Signal<Out, Bit>,
    pub is_status: Signal<Out, Bit>,
    pub is_load_begin: Signal<Out, Bit>,
    pub is_load_end: Signal<Out, Bit>,
    /// INPUT alone, and INFER or INFER_PACKED (their responses differ); INFER_PACKED.
    pub is_input_only: Signal<Out, Bit>,
    pub is_infer: Signal<Out, Bit>,
    pub is_packed: Signal<Out, Bit>,

    cmd: DFF<Bits<8>>,
    seq: DFF<Bits<8>>,
    len: DFF<Bits<13>>,
    // The length's low byte exceeds MAX_PAYLOAD's, decided as it arrives so the
    // oversize test on the high byte is two short compares.
    lo_gt: DFF<Bit>,
    // The error decided before the frame's END (0: none).
    pend: DFF<Bits<ERROR_BITS>>,
    // Registered decisions: the receiver acts on a FIFO entry only from its second
    // cycle at the head (`hv_q`), so each is computed in the cycle before it is used,
    // from the same head byte.
    too_big_r: DFF<Bit>,
    args_ok_r: DFF<Bit>,
    known_r: DFF<Bit>,
    full_len_r: DFF<Bits<16>>,
    // The command decoded one-hot, settled long before a payload byte is acted on.
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
    // INPUT, or a model is loaded and clean: an INFER may open an input.
    in_ok_r: DFF<Bit>,
    // Command codes (full byte) and their low nibbles (the payload rule's index).
    k_ident: Constant<Bits<8>>,
    k_write: Constant<Bits<8>>,
    k_read: Constant<Bits<8>>,
    k_input: Constant<Bits<8>>,
    k_run: Constant<Bits<8>>,
    k_infer: Constant<Bits<8>>,
    k_rewind: Constant<Bits<8>>,
    k_reset: Constant<Bits<8>>,
    k_status: Constant<Bits<8>>,
    k_begin: Constant<Bits<8>>,
    k_end: Constant<Bits<8>>,
    k_packed: Constant<Bits<8>>,
    // The highest command code.
    k_last: Constant<Bits<8>>,
    nib: Signal<Local, Bits<4>>,
    n_ident: Constant<Bits<4>>,
    n_write: Constant<Bits<4>>,
    n_read: Constant<Bits<4>>,
    n_input: Constant<Bits<4>>,
    n_run: Constant<Bits<4>>,
    n_infer: Constant<Bits<4>>,
    n_rewind: Constant<Bits<4>>,
    n_reset: Constant<Bits<4>>,
    n_status: Constant<Bits<4>>,
    n_begin: Constant<Bits<4>>,
    n_end: Constant<Bits<4>>,
    n_packed: Constant<Bits<4>>,
    // Payload lengths of the commands with an exact one, and WRITE's least.
    l_read: Constant<Bits<16>>,
    l_rewind: Constant<Bits<16>>,
    l_end: Constant<Bits<16>>,
    l_write_min: Constant<Bits<16>>,
    // Error codes the header decides.
    e_oversize: Constant<Bits<ERROR_BITS>>,
    e_unknown: Constant<Bits<ERROR_BITS>>,
    e_arguments: Constant<Bits<ERROR_BITS>>,
    e_not_loaded: Constant<Bits<ERROR_BITS>>,
    // The header's byte positions (revspike_proto::protocol::header).
    h_cmd: Constant<Bits<2>>,
    h_seq: Constant<Bits<2>>,
    h_len_lo: Constant<Bits<2>>,
    h_len_hi: Constant<Bits<2>>,

    hb: Signal<Local, Bits<8>>,
    full_len: Signal<Local, Bits<16>>,
    too_big: Signal<Local, Bit>,
    args_ok: Signal<Local, Bit>,
    known: Signal<Local, Bit>,

    max_hi: Constant<Bits<8>>,
    max_lo: Constant<Bits<8>>,
}

impl Default for HeaderDecoder {
    fn default() -> HeaderDecoder {
        let cmd = |c: C| value(c as u64);
        let nibble = |c: C| value(c as u64 & 0xF);
        let exact = |c: C| match c.payload_rule() {
            PayloadRule::Exactly(n) => value(n as u64),
            r => panic!("{c:?} has no exact payload length ({r:?})"),
        };
        // The rule table below has one row per command and tells them apart by the
        // low nibble; every code above zero is one of them.
        let mut nibbles: Vec<u64> = C::ALL.iter().map(|&c| c as u64 & 0xF).collect();
        nibbles.sort_unstable();
        nibbles.dedup();
        assert_eq!(
            nibbles.len(),
            C::ALL.len(),
            "command codes share a low nibble"
        );
        assert!(C::ALL.iter().all(|&c| (c as u64) < 16 && c as u64 != 0));
        // The rules the table applies (`Command::parse`'s).
        for c in C::ALL {
            let expected = match c {
                C::Write => PayloadRule::AddressAndWords,
                C::Input | C::Infer | C::InferPacked => PayloadRule::Any,
                C::Read | C::Rewind | C::LoadEnd => c.payload_rule(),
                _ => PayloadRule::Exactly(0),
            };
            assert_eq!(c.payload_rule(), expected, "{c:?}'s payload rule");
        }
        HeaderDecoder {
            k_ident: cmd(C::Identify),
            k_write: cmd(C::Write),
            k_read: cmd(C::Read),
            k_input: cmd(C::Input),
            k_run: cmd(C::Run),
            k_infer: cmd(C::Infer),
            k_rewind: cmd(C::Rewind),
            k_reset: cmd(C::Reset),
            k_status: cmd(C::Status),
            k_begin: cmd(C::LoadBegin),
            k_end: cmd(C::LoadEnd),
            k_packed: cmd(C::InferPacked),
            k_last: Constant::new((C::ALL.iter().map(|&c| c as u64).max().unwrap_or(0)).into()),
            nib: Default::default(),
            n_ident: nibble(C::Identify),
            n_write: nibble(C::Write),
            n_read: nibble(C::Read),
            n_input: nibble(C::Input),
            n_run: nibble(C::Run),
            n_infer: nibble(C::Infer),
            n_rewind: nibble(C::Rewind),
            n_reset: nibble(C::Reset),
            n_status: nibble(C::Status),
            n_begin: nibble(C::LoadBegin),
            n_end: nibble(C::LoadEnd),
            n_packed: nibble(C::InferPacked),
            l_read: exact(C::Read),
            l_rewind: exact(C::Rewind),
            l_end: exact(C::LoadEnd),
            // A 4-byte address, then words.
            l_write_min: Constant::new(4.into()),
            e_oversize: error_code(E::Oversize),
            e_unknown: error_code(E::UnknownCommand),
            e_arguments: error_code(E::BadArguments),
            e_not_loaded: error_code(E::NotLoaded),
            h_cmd: value(header::CMD as u64),
            h_seq: value(header::SEQ as u64),
            h_len_lo: value(header::LEN_LO as u64),
            h_len_hi: value(header::LEN_HI as u64),

            clock: Default::default(),
            header_byte: Default::default(),
            header_index: Default::default(),
            head_byte: Default::default(),
            take_lost: Default::default(),
            lost_cmd: Default::default(),
            lost_seq: Default::default(),
            bad_input: Default::default(),
            frame_reset: Default::default(),
            loaded: Default::default(),
            dirty: Default::default(),
            command: Default::default(),
            frame_seq: Default::default(),
            length: Default::default(),
            pending_error: Default::default(),
            oversize: Default::default(),
            args_valid: Default::default(),
            length_field: Default::default(),
            in_ok: Default::default(),
            is_write: Default::default(),
            is_read: Default::default(),
            is_input: Default::default(),
            is_rewind: Default::default(),
            is_addressed: Default::default(),
            is_identify: Default::default(),
            is_run: Default::default(),
            is_reset: Default::default(),
            is_status: Default::default(),
            is_load_begin: Default::default(),
            is_load_end: Default::default(),
            is_input_only: Default::default(),
            is_infer: Default::default(),
            is_packed: Default::default(),
            cmd: Default::default(),
            seq: Default::default(),
            len: Default::default(),
            lo_gt: Default::default(),
            pend: Default::default(),
            too_big_r: Default::default(),
            args_ok_r: Default::default(),
            known_r: Default::default(),
            full_len_r: Default::default(),
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
            in_ok_r: Default::default(),
            hb: Default::default(),
            full_len: Default::default(),
            too_big: Default::default(),
            args_ok: Default::default(),
            known: Default::default(),
            max_hi: Constant::new((MAX_PAYLOAD as u64 >> 8).to_bits()),
            max_lo: Constant::new((MAX_PAYLOAD as u64 & 0xFF).to_bits()),
        }
    }
}

impl Logic for HeaderDecoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, cmd, seq, len, lo_gt, pend, in_ok_r);
        dff_setup!(self, clock, too_big_r, args_ok_r, known_r, full_len_r);
        dff_setup!(self, clock, c_write, c_read, c_input, c_rewind, c_addressed);
        dff_setup!(self, clock, c_ident, c_run, c_reset, c_status, c_begin, c_end);
        dff_setup!(self, clock, c_in4, c_infer, c_packed);
        self.hb.next = self.head_byte.val();
        self.command.next = self.cmd.q.val();
        self.frame_seq.next = self.seq.q.val();
        self.length.next = self.len.q.val();
        self.pending_error.next = self.pend.q.val();
        self.oversize.next = self.too_big_r.q.val();
        self.args_valid.next = self.args_ok_r.q.val();
        self.length_field.next = self.full_len_r.q.val();
        self.in_ok.next = self.in_ok_r.q.val();
        self.is_write.next = self.c_write.q.val();
        self.is_read.next = self.c_read.q.val();
        self.is_input.next = self.c_input.q.val();
        self.is_rewind.next = self.c_rewind.q.val();
        self.is_addressed.next = self.c_addressed.q.val();
        self.is_identify.next = self.c_ident.q.val();
        self.is_run.next = self.c_run.q.val();
        self.is_reset.next = self.c_reset.q.val();
        self.is_status.next = self.c_status.q.val();
        self.is_load_begin.next = self.c_begin.q.val();
        self.is_load_end.next = self.c_end.q.val();
        self.is_input_only.next = self.c_in4.q.val();
        self.is_infer.next = self.c_infer.q.val();
        self.is_packed.next = self.c_packed.q.val();

        // INFER_PACKED's zero runs are refused as they expand.
        if self.bad_input.val() {
            self.pend.d.next = self.e_arguments.val();
        }
        // Bytes 0..2 are stored; the 4th, the length's high byte, decides the error.
        if self.header_byte.val() {
            if self.header_index.val() == self.h_cmd.val() {
                self.cmd.d.next = self.hb.val();
            } else if self.header_index.val() == self.h_seq.val() {
                self.seq.d.next = self.hb.val();
            } else if self.header_index.val() == self.h_len_lo.val() {
                self.len.d.next = bit_cast::<13, 8>(self.hb.val());
                self.lo_gt.d.next = self.hb.val() > self.max_lo.val();
            } else if self.too_big_r.q.val() {
                self.pend.d.next = self.e_oversize.val();
            } else if !(self.c_input.q.val() && self.args_ok_r.q.val() && self.in_ok_r.q.val()) {
                if !self.known_r.q.val() {
                    self.pend.d.next = self.e_unknown.val();
                } else if !self.args_ok_r.q.val() {
                    self.pend.d.next = self.e_arguments.val();
                } else if self.c_input.q.val() {
                    // INFER with no clean model: refused before the core's input is
                    // touched.
                    self.pend.d.next = self.e_not_loaded.val();
                }
            }
            // Whether or not the byte leaves the head this cycle (an input frame waits
            // for the core): storing the whole length again leaves `full_len` as it
            // is, so the enable need not wait for `pop`.
            if self.header_index.val() == self.h_len_hi.val() {
                self.len.d.next = bit_cast::<13, 16>(self.full_len_r.q.val());
            }
        }
        if self.take_lost.val() {
            self.cmd.d.next = self.lost_cmd.val();
            self.seq.d.next = self.lost_seq.val();
        }
        if self.frame_reset.val() {
            self.pend.d.next = 0.into();
        }

        self.full_len.next =
            (bit_cast::<16, 8>(self.hb.val()) << 8) | bit_cast::<16, 13>(self.len.q.val());
        // full_len > MAX_PAYLOAD, with the high byte at the FIFO head.
        self.too_big.next = self.hb.val() > self.max_hi.val()
            || (self.hb.val() == self.max_hi.val() && self.lo_gt.q.val());
        self.known.next = self.cmd.q.val().any() && self.cmd.q.val() <= self.k_last.val();
        // The payload rule of each command (`CommandCode::payload_rule`), by the code's
        // low nibble.
        self.nib.next = self.cmd.q.val().get_bits::<4>(0);
        self.args_ok.next = ((self.nib.val() == self.n_ident.val()
            || self.nib.val() == self.n_run.val()
            || self.nib.val() == self.n_reset.val()
            || self.nib.val() == self.n_status.val()
            || self.nib.val() == self.n_begin.val())
            && !self.full_len.val().any())
            || (self.nib.val() == self.n_write.val()
                && self.full_len.val() >= self.l_write_min.val()
                && !self.full_len.val().get_bit(0))
            || (self.nib.val() == self.n_read.val() && self.full_len.val() == self.l_read.val())
            || (self.nib.val() == self.n_rewind.val()
                && self.full_len.val() == self.l_rewind.val())
            || (self.nib.val() == self.n_end.val() && self.full_len.val() == self.l_end.val())
            || self.nib.val() == self.n_input.val()
            || self.nib.val() == self.n_infer.val()
            || self.nib.val() == self.n_packed.val();
        self.too_big_r.d.next = self.too_big.val();
        self.c_write.d.next = self.cmd.q.val() == self.k_write.val();
        self.c_read.d.next = self.cmd.q.val() == self.k_read.val();
        self.c_input.d.next = self.cmd.q.val() == self.k_input.val()
            || self.cmd.q.val() == self.k_infer.val()
            || self.cmd.q.val() == self.k_packed.val();
        self.c_rewind.d.next = self.cmd.q.val() == self.k_rewind.val();
        self.c_addressed.d.next = self.cmd.q.val() == self.k_write.val()
            || self.cmd.q.val() == self.k_read.val()
            || self.cmd.q.val() == self.k_end.val();
        self.c_ident.d.next = self.cmd.q.val() == self.k_ident.val();
        self.c_run.d.next = self.cmd.q.val() == self.k_run.val();
        self.c_reset.d.next = self.cmd.q.val() == self.k_reset.val();
        self.c_status.d.next = self.cmd.q.val() == self.k_status.val();
        self.c_begin.d.next = self.cmd.q.val() == self.k_begin.val();
        self.c_end.d.next = self.cmd.q.val() == self.k_end.val();
        self.c_in4.d.next = self.cmd.q.val() == self.k_input.val();
        self.c_infer.d.next =
            self.cmd.q.val() == self.k_infer.val() || self.cmd.q.val() == self.k_packed.val();
        self.c_packed.d.next = self.cmd.q.val() == self.k_packed.val();
        self.in_ok_r.d.next =
            self.cmd.q.val() == self.k_input.val() || (self.loaded.val() && !self.dirty.val());
        self.args_ok_r.d.next = self.args_ok.val();
        self.known_r.d.next = self.known.val();
        self.full_len_r.d.next = self.full_len.val();
    }
}
