//! The link's half-frame timeout: a frame whose bytes stop arriving is abandoned by
//! the [`FrameReceiver`](crate::frame_receiver::FrameReceiver) when this block's
//! `timeout` pulses.
//!
//! The timer counts clocks since the UART's last byte and stops at the bound, so the
//! bound is a compare against a constant; the pulse comes only while a frame is under
//! way in a parsing state and the receive FIFO is empty (bytes still queued are no
//! stall).

use rust_hdl::prelude::*;

use crate::frame_receiver::RxState;
use crate::link::LINK_TIMER_BITS;

#[derive(LogicBlock)]
pub struct FrameTimer {
    pub clock: Signal<In, Clock>,
    /// A byte came from the UART: the timer restarts.
    pub rx_valid: Signal<In, Bit>,
    /// The receive engine's state and the bytes of the frame so far (FrameReceiver).
    pub state: Signal<In, RxState>,
    pub bytes: Signal<In, Bits<3>>,
    /// An overflow cut a frame before its header was stored (SlipRx).
    pub lost_hdr: Signal<In, Bit>,
    /// The receive FIFO or its output register holds an entry (SlipRx).
    pub fifo_nonempty: Signal<In, Bit>,
    /// One-cycle pulse: the frame under way timed out.
    pub timeout: Signal<Out, Bit>,
    timer: DFF<Bits<LINK_TIMER_BITS>>,
    tmo_r: DFF<Bit>,
    mid_frame: Signal<Local, Bit>,
    tmo: Signal<Local, Bit>,
    timeout_clocks: Constant<Bits<LINK_TIMER_BITS>>,
}

impl FrameTimer {
    /// A timer of `timeout_clocks` clocks (below 2^[`LINK_TIMER_BITS`]).
    pub fn new(timeout_clocks: u32) -> FrameTimer {
        FrameTimer {
            clock: Default::default(),
            rx_valid: Default::default(),
            state: Default::default(),
            bytes: Default::default(),
            lost_hdr: Default::default(),
            fifo_nonempty: Default::default(),
            timeout: Default::default(),
            timer: Default::default(),
            tmo_r: Default::default(),
            mid_frame: Default::default(),
            tmo: Default::default(),
            timeout_clocks: Constant::new((timeout_clocks as u64).to_bits()),
        }
    }
}

impl Logic for FrameTimer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, timer, tmo_r);
        self.timeout.next = self.tmo_r.q.val();
        if self.rx_valid.val() {
            self.timer.d.next = 0.into();
        } else if self.timer.q.val() != self.timeout_clocks.val() {
            self.timer.d.next = self.timer.q.val() + 1;
        }
        // A frame under way, or one an overflow cut before its header was stored.
        self.mid_frame.next = (self.bytes.val().any() || self.lost_hdr.val())
            && (self.state.val() == RxState::Header
                || self.state.val() == RxState::Payload
                || self.state.val() == RxState::Crc
                || self.state.val() == RxState::Excess
                || self.state.val() == RxState::Drop);
        self.tmo.next = self.mid_frame.val()
            && !self.fifo_nonempty.val()
            && self.timer.q.val() == self.timeout_clocks.val();
        // Registered, and never twice in a row: the state it moves to is not mid-frame.
        self.tmo_r.d.next = self.tmo.val() && !self.tmo_r.q.val();
    }
}
