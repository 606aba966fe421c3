//! SLIP decoder and receive FIFO of the link.
//!
//! Bytes from the UART are un-escaped on the way in (ESC ESC_END -> 0xC0 data,
//! ESC ESC_ESC -> 0xDB data; any other byte after ESC passes through raw and the
//! frame's CRC rejects it) and stored as 10-bit entries: bit 8 marks a frame
//! boundary (END), bit 9 marks bytes lost to a full FIFO just before the entry.
//! Consecutive ENDs are stored once, so END padding that a host sends to cover
//! execution time takes no room. The FIFO holds the bytes that arrive while the
//! command engine waits for the core or for its previous response; it is built from
//! flip-flops because the core needs every EBR.
//!
//! Overflow: once an entry is lost, every byte up to the next END that finds room is
//! dropped, and that END carries the loss mark, so the engine always sees the cut
//! frame end at a marked END (or time out) and the frame after it arrive whole. An
//! END that is dropped does not count as the last END stored, so the next END is
//! stored even right after it. The first frame an overflow cuts before its 4-byte
//! header was stored is remembered by its command and sequence bytes (`lost_hdr`),
//! which the engine names in its OVERRUN answer.

use array_init::array_init;
use rust_hdl::prelude::*;

/// FIFO depth in entries (must match `revspike_proto::protocol::RX_FIFO_DEPTH`).
pub const SLIP_RX_DEPTH: usize = 8;
// The head multiplexer below is written out for eight entries.
const _: () = assert!(SLIP_RX_DEPTH == 8);

#[derive(LogicBlock)]
pub struct SlipRx {
    pub clock: Signal<In, Clock>,
    /// Raw byte from the UART.
    pub in_byte: Signal<In, Bits<8>>,
    /// `in_byte` is new this cycle.
    pub in_valid: Signal<In, Bit>,
    /// The FIFO holds an entry.
    pub out_valid: Signal<Out, Bit>,
    /// The FIFO or its output register holds an entry (`out_valid` may still be low
    /// for the cycle an entry moves to the output register).
    pub nonempty: Signal<Out, Bit>,
    /// The head entry is a frame boundary (END).
    pub out_end: Signal<Out, Bit>,
    /// The head entry's data byte (when not END).
    pub out_byte: Signal<Out, Bits<8>>,
    /// Remove the head entry (ignored while `out_valid` is low).
    pub pop: Signal<In, Bit>,
    /// Bytes were lost just before the head entry (the FIFO was full).
    pub out_lost: Signal<Out, Bit>,
    /// One-cycle pulse: an entry was lost because the FIFO was full.
    pub overrun: Signal<Out, Bit>,
    /// Bytes were lost and no entry has been stored since.
    pub lost_pending: Signal<Out, Bit>,
    /// The first frame cut by an overflow before its header was stored: its command
    /// and sequence bytes, valid while `lost_hdr` is high (until `lost_hdr_clear`).
    pub lost_hdr: Signal<Out, Bit>,
    pub lost_cmd: Signal<Out, Bits<8>>,
    pub lost_seq: Signal<Out, Bits<8>>,
    /// Forget the remembered header (the engine answered or dropped its frame).
    pub lost_hdr_clear: Signal<In, Bit>,
    mem: [DFF<Bits<10>>; SLIP_RX_DEPTH],
    rd: DFF<Bits<3>>,
    wr: DFF<Bits<3>>,
    count: DFF<Bits<4>>,
    esc: DFF<Bit>,
    last_end: DFF<Bit>,
    overrun_r: DFF<Bit>,
    lost: DFF<Bit>,
    // Output register: the head entry, so the consumer's decode starts at a
    // flip-flop and its `pop` only clears `oval` (it never reaches the FIFO pointers).
    oval: DFF<Bit>,
    ohead: DFF<Bits<10>>,
    // The UART byte and its SLIP class, registered before the un-escaping: the byte
    // compares and the FIFO's full test would otherwise share one clock period.
    r_valid: DFF<Bit>,
    r_byte: DFF<Bits<8>>,
    r_end: DFF<Bit>,
    r_esc: DFF<Bit>,
    r_esc_end: DFF<Bit>,
    r_esc_esc: DFF<Bit>,
    // The un-escaped entry, registered before the FIFO write: whether it is stored
    // (room, the loss rule, a repeated END) is decided a cycle later, from flip-flops.
    // Bytes arrive every 10 bit times, so the cycle costs nothing.
    w_push: DFF<Bit>,
    w_data: DFF<Bit>,
    w_entry: DFF<Bits<10>>,
    // Bytes of the frame arriving now, counted at the input (stored or not), up to 4.
    ipos: DFF<Bits<3>>,
    // The remembered header: held, belongs to the frame arriving now, both bytes seen.
    sh_hold: DFF<Bit>,
    sh_this: DFF<Bit>,
    sh_full: DFF<Bit>,
    sh_cmd: DFF<Bits<8>>,
    sh_seq: DFF<Bits<8>>,
    push: Signal<Local, Bit>,
    is_data: Signal<Local, Bit>,
    // The registered entry, less an END that repeats the last stored one.
    w_take: Signal<Local, Bit>,
    room: Signal<Local, Bit>,
    entry: Signal<Local, Bits<10>>,
    head: Signal<Local, Bits<10>>,
    do_pop: Signal<Local, Bit>,
    do_push: Signal<Local, Bit>,
}

impl Default for SlipRx {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            in_byte: Default::default(),
            in_valid: Default::default(),
            out_valid: Default::default(),
            nonempty: Default::default(),
            out_end: Default::default(),
            out_byte: Default::default(),
            pop: Default::default(),
            out_lost: Default::default(),
            overrun: Default::default(),
            lost_pending: Default::default(),
            lost_hdr: Default::default(),
            lost_cmd: Default::default(),
            lost_seq: Default::default(),
            lost_hdr_clear: Default::default(),
            mem: array_init(|_| Default::default()),
            rd: Default::default(),
            wr: Default::default(),
            count: Default::default(),
            esc: Default::default(),
            last_end: Default::default(),
            overrun_r: Default::default(),
            lost: Default::default(),
            oval: Default::default(),
            ohead: Default::default(),
            r_valid: Default::default(),
            r_byte: Default::default(),
            r_end: Default::default(),
            r_esc: Default::default(),
            r_esc_end: Default::default(),
            r_esc_esc: Default::default(),
            w_push: Default::default(),
            w_data: Default::default(),
            w_entry: Default::default(),
            ipos: Default::default(),
            sh_hold: Default::default(),
            sh_this: Default::default(),
            sh_full: Default::default(),
            sh_cmd: Default::default(),
            sh_seq: Default::default(),
            push: Default::default(),
            is_data: Default::default(),
            w_take: Default::default(),
            room: Default::default(),
            entry: Default::default(),
            head: Default::default(),
            do_pop: Default::default(),
            do_push: Default::default(),
        }
    }
}

impl Logic for SlipRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, rd, wr, count, esc, last_end, overrun_r, lost, oval, ohead, r_valid,
            r_byte, r_end, r_esc, r_esc_end, r_esc_esc, w_push, w_data, w_entry, ipos, sh_hold,
            sh_this, sh_full, sh_cmd, sh_seq
        );
        for i in 0..SLIP_RX_DEPTH {
            self.mem[i].clock.next = self.clock.val();
            self.mem[i].d.next = self.mem[i].q.val();
        }
        self.r_valid.d.next = self.in_valid.val();
        self.r_byte.d.next = self.in_byte.val();
        self.r_end.d.next = self.in_byte.val() == 0xC0;
        self.r_esc.d.next = self.in_byte.val() == 0xDB;
        self.r_esc_end.d.next = self.in_byte.val() == 0xDC;
        self.r_esc_esc.d.next = self.in_byte.val() == 0xDD;
        // Un-escape on the way in.
        self.push.next = false;
        self.is_data.next = false;
        self.entry.next = bit_cast::<10, 8>(self.r_byte.q.val());
        if self.r_valid.q.val() {
            if self.r_end.q.val() {
                self.esc.d.next = false;
                self.entry.next = 0x100.into();
                self.push.next = true;
            } else if self.r_esc.q.val() && !self.esc.q.val() {
                self.esc.d.next = true;
            } else {
                self.esc.d.next = false;
                self.push.next = true;
                self.is_data.next = true;
                if self.esc.q.val() {
                    if self.r_esc_end.q.val() {
                        self.entry.next = 0xC0.into();
                    } else if self.r_esc_esc.q.val() {
                        self.entry.next = 0xDB.into();
                    }
                }
            }
        }
        self.w_push.d.next = self.push.val();
        self.w_data.d.next = self.is_data.val();
        self.w_entry.d.next = self.entry.val();
        // Consecutive ENDs are stored once: an END after a stored END is not pushed.
        self.w_take.next = self.w_push.q.val() && (self.w_data.q.val() || !self.last_end.q.val());
        // FIFO.
        // A case, not an if chain: the read mux maps as a tree, not a priority chain.
        match self.rd.q.val().index() {
            0 => self.head.next = self.mem[0].q.val(),
            1 => self.head.next = self.mem[1].q.val(),
            2 => self.head.next = self.mem[2].q.val(),
            3 => self.head.next = self.mem[3].q.val(),
            4 => self.head.next = self.mem[4].q.val(),
            5 => self.head.next = self.mem[5].q.val(),
            6 => self.head.next = self.mem[6].q.val(),
            _ => self.head.next = self.mem[7].q.val(),
        }
        // The output register reloads when empty, so an entry takes two cycles from the
        // FIFO write to pass (four from the UART with the write stage and the link's
        // settling cycle; bytes arrive every 10 bit times, 83 clocks at 12 Mbaud); it
        // counts towards the FIFO depth.
        self.out_valid.next = self.oval.q.val();
        self.nonempty.next = self.oval.q.val() || self.count.q.val().any();
        self.out_end.next = self.ohead.q.val().get_bit(8);
        self.out_byte.next = self.ohead.q.val().get_bits::<8>(0);
        self.out_lost.next = self.ohead.q.val().get_bit(9);
        self.lost_pending.next = self.lost.q.val();
        self.do_pop.next = !self.oval.q.val() && self.count.q.val().any();
        if self.do_pop.val() {
            self.oval.d.next = true;
            self.ohead.d.next = self.head.val();
        } else if self.pop.val() {
            self.oval.d.next = false;
        }
        self.room.next =
            !(self.count.q.val() == 8 || (self.count.q.val() == 7 && self.oval.q.val()));
        // After a loss only an END is stored (with the mark): the cut frame ends there.
        self.do_push.next =
            self.w_take.val() && self.room.val() && !(self.lost.q.val() && self.w_data.q.val());
        self.overrun_r.d.next = self.w_take.val() && !self.room.val();
        self.overrun.next = self.overrun_r.q.val();
        if self.w_take.val() && !self.room.val() {
            self.lost.d.next = true;
        }
        if self.do_push.val() {
            // The first entry after a loss carries the mark, so the loss is charged
            // to the frame it actually cut.
            for i in 0..SLIP_RX_DEPTH {
                if self.wr.q.val().index() == i {
                    if self.lost.q.val() {
                        self.mem[i].d.next = self.w_entry.q.val() | 0x200;
                    } else {
                        self.mem[i].d.next = self.w_entry.q.val();
                    }
                }
            }
            self.lost.d.next = false;
            self.last_end.d.next = !self.w_data.q.val();
            self.wr.d.next = self.wr.q.val() + 1;
        }
        // The input-side view of the frame arriving now, for the remembered header.
        if self.w_take.val() {
            if self.w_data.q.val() {
                if self.ipos.q.val() != 4 {
                    self.ipos.d.next = self.ipos.q.val() + 1;
                }
                if !self.sh_hold.q.val() || self.sh_this.q.val() {
                    if self.ipos.q.val() == 0 {
                        self.sh_cmd.d.next = self.w_entry.q.val().get_bits::<8>(0);
                    }
                    if self.ipos.q.val() == 1 {
                        self.sh_seq.d.next = self.w_entry.q.val().get_bits::<8>(0);
                        self.sh_full.d.next = true;
                    }
                }
                if self.ipos.q.val() == 0 && !self.sh_hold.q.val() {
                    self.sh_full.d.next = false;
                }
            } else {
                self.ipos.d.next = 0.into();
                self.sh_this.d.next = false;
            }
        }
        if self.lost_hdr_clear.val() {
            self.sh_hold.d.next = false;
        }
        // The first loss of an overflow, inside a header that was not stored whole.
        if self.w_take.val()
            && self.w_data.q.val()
            && !self.room.val()
            && !self.lost.q.val()
            && (self.ipos.q.val() != 4)
            && !self.sh_hold.q.val()
        {
            self.sh_hold.d.next = true;
            self.sh_this.d.next = true;
        }
        self.lost_hdr.next = self.sh_hold.q.val() && self.sh_full.q.val();
        self.lost_cmd.next = self.sh_cmd.q.val();
        self.lost_seq.next = self.sh_seq.q.val();
        if self.do_pop.val() {
            self.rd.d.next = self.rd.q.val() + 1;
        }
        if self.do_push.val() && !self.do_pop.val() {
            self.count.d.next = self.count.q.val() + 1;
        } else if self.do_pop.val() && !self.do_push.val() {
            self.count.d.next = self.count.q.val() - 1;
        }
    }
}
