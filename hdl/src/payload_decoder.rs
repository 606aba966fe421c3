//! The payload's bytes on their way to the core's host port, as the
//! [`FrameReceiver`](crate::frame_receiver::FrameReceiver) takes them: a WRITE's,
//! READ's or LOAD_END's 32-bit address (or count) and its checks, a WRITE's words, a
//! READ's or REWIND's count, and an input's values, with INFER_PACKED's zero runs
//! expanded (one zero every second cycle, the input compactor's pace). There is no
//! frame buffer: every byte acts as it arrives, and a byte the core cannot take yet
//! waits at the FIFO head (`stall`).

use rust_hdl::prelude::*;

use revspike_proto::contract::{addr, Region};
use revspike_proto::protocol::{MAX_PAYLOAD, MAX_READ_WORDS};

// The address map's limits (`revspike_proto::contract`: regions of 2^16 words, WRITE to
// rows, configuration and state, READ of every region) are `Constant` fields, since a
// `#[hdl_gen]` kernel cannot name a Rust constant.

#[derive(LogicBlock)]
pub struct PayloadDecoder {
    pub clock: Signal<In, Clock>,
    /// A payload byte is at the FIFO head (the `index`th; `last`: the payload's last)
    /// and taken now unless `stall`.
    pub take: Signal<In, Bit>,
    pub head_byte: Signal<In, Bits<8>>,
    pub index: Signal<In, Bits<13>>,
    pub last: Signal<In, Bit>,
    pub stall: Signal<Out, Bit>,
    /// The frame opened an input sample (FrameReceiver).
    pub started: Signal<In, Bit>,
    /// A new frame begins.
    pub frame_reset: Signal<In, Bit>,
    /// The core's busy flag, registered (CommandEngine).
    pub busy_q: Signal<In, Bit>,
    /// The payload length (HeaderDecoder): a WRITE's word count.
    pub length: Signal<In, Bits<13>>,
    // The command (HeaderDecoder).
    pub is_addressed: Signal<In, Bit>,
    pub is_write: Signal<In, Bit>,
    pub is_read: Signal<In, Bit>,
    pub is_rewind: Signal<In, Bit>,
    pub is_packed: Signal<In, Bit>,
    /// One REWIND step is taken (CommandEngine).
    pub count_down: Signal<In, Bit>,
    /// BAD_ARGUMENTS: the zero runs (a payload ending inside a token, or more than
    /// MAX_PAYLOAD values), and the address or count.
    pub bad_input: Signal<Out, Bit>,
    pub bad_range: Signal<Out, Bit>,
    /// INFER_PACKED zeros are still going in.
    pub expanding: Signal<Out, Bit>,
    // Host-port writes and input values (docs/architecture.md).
    pub we: Signal<Out, Bit>,
    pub addr: Signal<Out, Bits<20>>,
    pub wdata: Signal<Out, Bits<16>>,
    pub in_valid: Signal<Out, Bit>,
    pub in_byte: Signal<Out, Bits<8>>,
    /// The count word (READ, REWIND), and it is zero.
    pub count: Signal<Out, Bits<16>>,
    pub count_zero: Signal<Out, Bit>,
    /// The address is beyond the map or the command's regions.
    pub addr_bad: Signal<Out, Bit>,

    // Bits 23:20 only catch addresses beyond the 20-bit map.
    waddr: DFF<Bits<24>>,
    hi_bad: DFF<Bit>,
    cnt: DFF<Bits<16>>,
    lo: DFF<Bits<8>>,
    // Registered host-port outputs.
    we_r: DFF<Bit>,
    in_valid_r: DFF<Bit>,
    in_byte_r: DFF<Bits<8>>,
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
    // Tests of the count word, settled long before they are looked at: zero (Rewind,
    // after the count arrived or was decremented) and more words than one response
    // carries (a READ's verdict at END).
    cnt_zero: DFF<Bit>,
    cnt_big: DFF<Bit>,
    // Payload index below / at 3 (the address bytes of WRITE, READ, LOAD_END).
    p_lt3: DFF<Bit>,
    p_eq3: DFF<Bit>,
    // What a byte does that the command and the index alone decide, registered like
    // p_lt3 / p_eq3 (the index moves only when a byte is taken, the command not within
    // a payload, and a byte is acted on from its second cycle at the head), so the
    // count's enable and the stall start at flip-flops: a READ's count byte, a
    // REWIND's, a WRITE's high byte (which waits for the core), an input value.
    cnt_shift_r: DFF<Bit>,
    cnt_load_r: DFF<Bit>,
    stall_word_r: DFF<Bit>,
    stall_value_r: DFF<Bit>,

    hb: Signal<Local, Bits<8>>,

    max_values: Constant<Bits<13>>,
    max_read: Constant<Bits<16>>,
    // The last region a WRITE may address, and the last a READ may.
    last_write_region: Constant<Bits<4>>,
    last_read_region: Constant<Bits<4>>,
    // A region's words, and that plus the WRITE address's two words.
    region_words: Constant<Bits<17>>,
    write_limit: Constant<Bits<17>>,
}

impl Default for PayloadDecoder {
    fn default() -> PayloadDecoder {
        // The regions are numbered in address order, the writable ones first, and the
        // region sits right above a region's word offset.
        assert!(Region::ALL
            .iter()
            .enumerate()
            .all(|(i, r)| r.code() == i as u64));
        assert_eq!(
            Region::ALL[..3],
            [Region::Rows, Region::Config, Region::State]
        );
        assert_eq!((addr::REGION.offset, addr::REGION.width), (16, 4));
        PayloadDecoder {
            clock: Default::default(),
            take: Default::default(),
            head_byte: Default::default(),
            index: Default::default(),
            last: Default::default(),
            stall: Default::default(),
            started: Default::default(),
            frame_reset: Default::default(),
            busy_q: Default::default(),
            length: Default::default(),
            is_addressed: Default::default(),
            is_write: Default::default(),
            is_read: Default::default(),
            is_rewind: Default::default(),
            is_packed: Default::default(),
            count_down: Default::default(),
            bad_input: Default::default(),
            bad_range: Default::default(),
            expanding: Default::default(),
            we: Default::default(),
            addr: Default::default(),
            wdata: Default::default(),
            in_valid: Default::default(),
            in_byte: Default::default(),
            count: Default::default(),
            count_zero: Default::default(),
            addr_bad: Default::default(),
            waddr: Default::default(),
            hi_bad: Default::default(),
            cnt: Default::default(),
            lo: Default::default(),
            we_r: Default::default(),
            in_valid_r: Default::default(),
            in_byte_r: Default::default(),
            zexp: Default::default(),
            zrun: Default::default(),
            zcount: Default::default(),
            zfull_r: Default::default(),
            wsum_r: Default::default(),
            w_bad_r: Default::default(),
            r_reg_bad_r: Default::default(),
            rsum_r: Default::default(),
            r_cross_r: Default::default(),
            cnt_zero: Default::default(),
            cnt_big: Default::default(),
            p_lt3: Default::default(),
            p_eq3: Default::default(),
            cnt_shift_r: Default::default(),
            cnt_load_r: Default::default(),
            stall_word_r: Default::default(),
            stall_value_r: Default::default(),
            hb: Default::default(),
            max_values: Constant::new((MAX_PAYLOAD as u64).to_bits()),
            max_read: Constant::new((MAX_READ_WORDS as u64).to_bits()),
            last_write_region: Constant::new(Region::State.code().into()),
            last_read_region: Constant::new(Region::Status.code().into()),
            region_words: Constant::new((1u64 << addr::REGION.offset).into()),
            write_limit: Constant::new(((1u64 << addr::REGION.offset) + 2).into()),
        }
    }
}

impl Logic for PayloadDecoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, waddr, hi_bad, cnt, lo, we_r, in_valid_r);
        dff_setup!(self, clock, in_byte_r, zexp, zrun, zcount, zfull_r, wsum_r);
        dff_setup!(self, clock, w_bad_r, r_reg_bad_r, rsum_r, r_cross_r);
        dff_setup!(self, clock, cnt_zero, cnt_big, p_lt3, p_eq3);
        dff_setup!(
            self,
            clock,
            cnt_shift_r,
            cnt_load_r,
            stall_word_r,
            stall_value_r
        );
        self.hb.next = self.head_byte.val();
        self.we.next = self.we_r.q.val();
        self.addr.next = self.waddr.q.val().get_bits::<20>(0);
        // A WRITE word is {in_byte_r, lo}: input bytes and words never overlap, and
        // `lo` only changes after the word has been presented.
        self.wdata.next =
            (bit_cast::<16, 8>(self.in_byte_r.q.val()) << 8) | bit_cast::<16, 8>(self.lo.q.val());
        self.in_valid.next = self.in_valid_r.q.val();
        self.in_byte.next = self.in_byte_r.q.val();
        self.count.next = self.cnt.q.val();
        self.count_zero.next = self.cnt_zero.q.val();
        self.addr_bad.next = self.hi_bad.q.val();
        self.expanding.next = self.zrun.q.val().any();
        self.bad_range.next = (self.is_read.val()
            && (self.hi_bad.q.val() || self.cnt_big.q.val() || self.r_cross_r.q.val()))
            || (self.is_write.val() && self.hi_bad.q.val());

        // Pulses last one cycle.
        self.we_r.d.next = false;
        self.in_valid_r.d.next = false;
        self.bad_input.next = false;

        // The byte waits while the core is busy (a WRITE's word, an input value) or
        // still takes the previous value or a run's zeros. Decided apart from `take`
        // and the byte's actions below: `take` comes from the receiver's pop logic,
        // which this decision feeds.
        self.stall.next = self.stall_word_r.q.val() && self.busy_q.val();
        if self.stall_value_r.q.val() && self.started.val() {
            self.stall.next =
                self.busy_q.val() || self.zrun.q.val().any() || self.in_valid_r.q.val();
        }

        // A written word advances the address (and is counted, LinkRegisters) on the
        // cycle it is presented, so neither waits on the receive engine's pop decision.
        if self.we_r.q.val() {
            self.waddr.d.next = self.waddr.q.val() + 1;
        }

        // ---- INFER_PACKED: zeros of a run, one every second cycle ----------------
        if self.zrun.q.val().any() && !self.in_valid_r.q.val() && !self.busy_q.val() {
            if self.zfull_r.q.val() {
                self.bad_input.next = true;
                self.zrun.d.next = 0.into();
            } else {
                self.in_valid_r.d.next = true;
                self.in_byte_r.d.next = 0.into();
                self.zcount.d.next = self.zcount.q.val() + 1;
                self.zrun.d.next = self.zrun.q.val() - 1;
            }
        }
        self.zfull_r.d.next = self.zcount.q.val() == self.max_values.val();

        // WRITE: offset plus words (the length's half, less the address's two) must
        // stay within the region, which must be 0..2; READ: regions 0..4, and offset
        // plus count within the region.
        self.wsum_r.d.next = bit_cast::<17, 16>(self.waddr.q.val().get_bits::<16>(0))
            + bit_cast::<17, 12>(self.length.val().get_bits::<12>(1));
        self.w_bad_r.d.next = self.waddr.q.val().get_bits::<4>(16) > self.last_write_region.val()
            || self.wsum_r.q.val() > self.write_limit.val();
        self.r_reg_bad_r.d.next =
            self.waddr.q.val().get_bits::<4>(16) > self.last_read_region.val();
        self.rsum_r.d.next = bit_cast::<17, 16>(self.waddr.q.val().get_bits::<16>(0))
            + bit_cast::<17, 16>(self.cnt.q.val());
        self.r_cross_r.d.next = self.rsum_r.q.val() > self.region_words.val();
        self.cnt_zero.d.next = !self.cnt.q.val().any();
        self.cnt_big.d.next = self.cnt.q.val() > self.max_read.val();
        self.p_lt3.d.next = self.index.val() < 3;
        self.p_eq3.d.next = self.index.val() == 3;
        self.cnt_shift_r.d.next =
            self.is_addressed.val() && self.index.val() > 3 && self.is_read.val();
        self.cnt_load_r.d.next = !self.is_addressed.val() && self.is_rewind.val();
        self.stall_word_r.d.next = self.is_addressed.val()
            && self.index.val() > 3
            && !self.is_read.val()
            && self.is_write.val()
            && self.index.val().get_bit(0);
        self.stall_value_r.d.next = !self.is_addressed.val() && !self.is_rewind.val();

        if self.take.val() {
            if self.is_addressed.val() {
                // WRITE / READ / LOAD_END: a 32-bit address (or count) first.
                // Little-endian bytes shift in from the top.
                if self.p_lt3.q.val() {
                    self.waddr.d.next =
                        (bit_cast::<24, 8>(self.hb.val()) << 16) | (self.waddr.q.val() >> 8);
                } else if self.p_eq3.q.val() {
                    self.hi_bad.d.next = self.waddr.q.val().get_bits::<4>(20).any()
                        || self.hb.val().any()
                        || (self.is_write.val() && self.w_bad_r.q.val())
                        || (self.is_read.val() && self.r_reg_bad_r.q.val());
                } else if self.is_read.val() {
                    // The count's byte (`cnt_shift_r`, below).
                } else if self.is_write.val() {
                    if !self.index.val().get_bit(0) {
                        self.lo.d.next = self.hb.val();
                    } else if self.busy_q.val() {
                        // Waits (`stall`).
                    } else if !self.hi_bad.q.val() {
                        self.we_r.d.next = true;
                        self.in_byte_r.d.next = self.hb.val();
                    }
                }
            } else if self.is_rewind.val() {
                // The count's byte (`cnt_load_r`, below).
            } else if self.started.val() {
                // A value at most every second cycle, after a run's zeros.
                if self.busy_q.val() || self.zrun.q.val().any() || self.in_valid_r.q.val() {
                    // Waits (`stall`).
                } else if self.is_packed.val() && self.zexp.q.val() {
                    self.zexp.d.next = false;
                    self.zrun.d.next = bit_cast::<9, 8>(self.hb.val()) + 1;
                } else if self.is_packed.val() && !self.hb.val().any() {
                    self.zexp.d.next = true;
                    if self.last.val() {
                        // The payload ends inside a run token.
                        self.bad_input.next = true;
                    }
                } else if self.zfull_r.q.val() {
                    self.bad_input.next = true;
                } else {
                    self.in_valid_r.d.next = true;
                    self.in_byte_r.d.next = self.hb.val();
                    self.zcount.d.next = self.zcount.q.val() + 1;
                }
            }
        }
        if self.take.val() && self.cnt_shift_r.q.val() {
            self.cnt.d.next = (bit_cast::<16, 8>(self.hb.val()) << 8) | (self.cnt.q.val() >> 8);
        }
        if self.take.val() && self.cnt_load_r.q.val() {
            self.cnt.d.next = bit_cast::<16, 8>(self.hb.val());
        }
        if self.count_down.val() {
            self.cnt.d.next = self.cnt.q.val() - 1;
        }
        if self.frame_reset.val() {
            self.hi_bad.d.next = false;
            self.zexp.d.next = false;
            self.zrun.d.next = 0.into();
            self.zcount.d.next = 0.into();
        }
    }
}
