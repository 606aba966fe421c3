//! The frame header, decoded: the command, sequence and length bytes as the
//! [`FrameReceiver`](crate::frame_receiver::FrameReceiver) takes them, the command
//! decoded one-hot, the length checks, and the error the header alone decides
//! (oversize, unknown command, bad arguments, no model for an INFER), which the frame
//! is answered with at its END unless a worse one comes first.
//!
//! Every output is a flip-flop: the decisions settle while the header's last byte
//! waits its first cycle at the FIFO head, and long before a payload byte is acted on.

use rust_hdl::prelude::*;

use revspike_proto::protocol::MAX_PAYLOAD;

// `#[hdl_gen]` kernels cannot name Rust constants, so the decoder compares command
// codes and sets error codes with literals. Each is tied here to its one definition
// in `revspike_proto`: a change there that this file does not follow fails to compile.
const _: () = {
    use revspike_proto::protocol::{CommandCode as C, ErrorCode as E};
    assert!(C::Identify as u8 == 0x01 && C::Write as u8 == 0x02 && C::Read as u8 == 0x03);
    assert!(C::Input as u8 == 0x04 && C::Run as u8 == 0x05 && C::Infer as u8 == 0x06);
    assert!(C::Rewind as u8 == 0x07 && C::Reset as u8 == 0x08 && C::Status as u8 == 0x09);
    assert!(C::LoadBegin as u8 == 0x0A && C::LoadEnd as u8 == 0x0B);
    // The highest code `known` accepts.
    assert!(C::InferPacked as u8 == 0x0C && C::ALL.len() == 0x0C);
    assert!(E::Oversize as u8 == 3 && E::UnknownCommand as u8 == 4);
    assert!(E::BadArguments as u8 == 5 && E::NotLoaded as u8 == 6);
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
};

#[derive(LogicBlock)]
pub struct HeaderDecoder {
    pub clock: Signal<In, Clock>,
    /// A header byte is taken from the FIFO head now, the `header_index`th; `pop`: it
    /// leaves the head (the 4th waits while an input cannot be opened yet).
    pub header_byte: Signal<In, Bit>,
    pub header_index: Signal<In, Bits<2>>,
    pub pop: Signal<In, Bit>,
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
    pub pending_error: Signal<Out, Bits<4>>,
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
    pend: DFF<Bits<4>>,
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
        HeaderDecoder {
            clock: Default::default(),
            header_byte: Default::default(),
            header_index: Default::default(),
            pop: Default::default(),
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
            self.pend.d.next = 5.into();
        }
        // Bytes 0..2 are stored; the 4th, the length's high byte, decides the error.
        if self.header_byte.val() {
            if self.header_index.val() == 0 {
                self.cmd.d.next = self.hb.val();
            } else if self.header_index.val() == 1 {
                self.seq.d.next = self.hb.val();
            } else if self.header_index.val() == 2 {
                self.len.d.next = bit_cast::<13, 8>(self.hb.val());
                self.lo_gt.d.next = self.hb.val() > self.max_lo.val();
            } else if self.too_big_r.q.val() {
                self.pend.d.next = 3.into();
            } else if !(self.c_input.q.val() && self.args_ok_r.q.val() && self.in_ok_r.q.val()) {
                if !self.known_r.q.val() {
                    self.pend.d.next = 4.into();
                } else if !self.args_ok_r.q.val() {
                    self.pend.d.next = 5.into();
                } else if self.c_input.q.val() {
                    // INFER with no clean model: refused before the core's input is
                    // touched.
                    self.pend.d.next = 6.into();
                }
            }
            if self.pop.val() && self.header_index.val() == 3 {
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
        self.in_ok_r.d.next = self.cmd.q.val() == 0x04 || (self.loaded.val() && !self.dirty.val());
        self.args_ok_r.d.next = self.args_ok.val();
        self.known_r.d.next = self.known.val();
        self.full_len_r.d.next = self.full_len.val();
    }
}
