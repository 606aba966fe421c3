//! The command engine: the executing half of the link's receive engine.
//!
//! At a frame's END the [`FrameReceiver`](crate::frame_receiver::FrameReceiver) hands
//! the state to Done. The engine drops noise, waits until the previous response has
//! left and the core is idle, then executes the command on the core's host port
//! (Commit, Run*, Rewind*, ResetAbort, ClearWait: a watchdog bounds every wait for the
//! core's `done`, and AbortWait the wait after it stops the core) and in Post hands
//! the response to the [`ResponseEngine`](crate::response_engine::ResponseEngine).
//! The link's flags and counters it changes are the
//! [`LinkRegisters`](crate::link_registers::LinkRegisters)'s, told by one-cycle
//! events.

use rust_hdl::prelude::*;

use crate::contract_constants::{error_code, value, ERROR_BITS};
use crate::frame_receiver::RxState;
use crate::link::WATCHDOG_BITS;
use revspike_proto::protocol::{header, ErrorCode, CORE_DETAIL_WATCHDOG, FRAME_OVERHEAD};

// The CORE error's detail register is 8 bits wide.
const _: () = assert!(CORE_DETAIL_WATCHDOG < 256);
// The frame's byte count saturates at the framing overhead, below twice the header's
// length, a power of two: the header is in exactly when the count's bit
// `HEADER_BIT` is set.
const HEADER_BIT: u32 = header::BYTES.trailing_zeros();
const _: () = assert!(
    header::BYTES.is_power_of_two() && FRAME_OVERHEAD < 2 * header::BYTES && FRAME_OVERHEAD < 8
);

#[derive(LogicBlock)]
pub struct CommandEngine {
    pub clock: Signal<In, Clock>,
    /// The receive engine's state (FrameReceiver), and the next one while it is one of
    /// this engine's (Hunt for a state no state machine has).
    pub state: Signal<In, RxState>,
    pub exec_next: Signal<Out, RxState>,
    // The core's side of the host port.
    pub busy: Signal<In, Bit>,
    pub done: Signal<In, Bit>,
    pub status: Signal<In, Bits<8>>,
    pub in_commit: Signal<Out, Bit>,
    pub in_abort: Signal<Out, Bit>,
    pub run: Signal<Out, Bit>,
    pub rewind: Signal<Out, Bit>,
    pub clear: Signal<Out, Bit>,
    pub abort: Signal<Out, Bit>,
    /// `busy`, registered (`busy_r`).
    pub busy_q: Signal<Out, Bit>,
    // The frame (FrameReceiver): its bytes (saturating at the framing overhead), bytes
    // lost in it, an input opened, its error code; the engine's errors for it, when
    // `err_set`.
    pub bytes: Signal<In, Bits<3>>,
    pub overrun: Signal<In, Bit>,
    pub started: Signal<In, Bit>,
    pub error: Signal<In, Bits<ERROR_BITS>>,
    pub err_set: Signal<Out, Bit>,
    pub err_next: Signal<Out, Bits<ERROR_BITS>>,
    /// The receive FIFO kept the header of a frame an overflow cut (SlipRx).
    pub lost_hdr: Signal<In, Bit>,
    /// Forget it (SlipRx), and answer with it (HeaderDecoder).
    pub lost_hdr_clear: Signal<Out, Bit>,
    pub take_lost: Signal<Out, Bit>,
    /// A new frame begins.
    pub frame_reset: Signal<Out, Bit>,
    /// The input sample is closed (committed or aborted).
    pub close_input: Signal<Out, Bit>,
    // The command (HeaderDecoder).
    pub is_input: Signal<In, Bit>,
    pub is_run: Signal<In, Bit>,
    pub is_rewind: Signal<In, Bit>,
    pub is_reset: Signal<In, Bit>,
    pub is_infer: Signal<In, Bit>,
    pub is_load_begin: Signal<In, Bit>,
    pub is_load_end: Signal<In, Bit>,
    /// INFER_PACKED zeros are still going in; the count word is zero, and counts
    /// down one REWIND step (PayloadDecoder).
    pub expanding: Signal<In, Bit>,
    pub count_zero: Signal<In, Bit>,
    pub count_down: Signal<Out, Bit>,
    /// The model flags (LinkRegisters).
    pub loaded: Signal<In, Bit>,
    pub dirty: Signal<In, Bit>,
    /// The response engine is idle; hand it the response (`err_any`: an error frame).
    pub tx_idle: Signal<In, Bit>,
    pub respond: Signal<Out, Bit>,
    pub err_any: Signal<Out, Bit>,
    /// The last error's code and detail (link words 5, 6).
    pub error_code: Signal<Out, Bits<ERROR_BITS>>,
    pub error_detail: Signal<Out, Bits<8>>,
    // Events for the link registers: the frame failed, LOAD_BEGIN, LOAD_END, the input
    // is valid / invalid, RESET clears the counters, an error frame is handed over.
    pub frame_failed: Signal<Out, Bit>,
    pub load_begin: Signal<Out, Bit>,
    pub load_end: Signal<Out, Bit>,
    pub input_valid: Signal<Out, Bit>,
    pub input_invalid: Signal<Out, Bit>,
    pub clear_counts: Signal<Out, Bit>,
    pub error_sent: Signal<Out, Bit>,
    /// The core's command did not finish in time: a pulse, the cycle it is found.
    pub watchdog_fire: Signal<Out, Bit>,
    /// `watchdog_fire` a cycle later, for the receive state (it goes to AbortWait): the
    /// state's own enable then does not wait for the state decode that finds it. In
    /// that cycle a wait state's `done_q` has no effect but the state it picks.
    pub watchdog_fire_q: Signal<Out, Bit>,

    settle: DFF<Bits<2>>,
    err_code: DFF<Bits<ERROR_BITS>>,
    err_detail: DFF<Bits<8>>,
    // Registered host-port outputs.
    in_commit_r: DFF<Bit>,
    in_abort_r: DFF<Bit>,
    run_r: DFF<Bit>,
    rewind_r: DFF<Bit>,
    clear_r: DFF<Bit>,
    abort_r: DFF<Bit>,
    // Watchdog on the core's commands: clocks waited, and the bound reached.
    wd: DFF<Bits<WATCHDOG_BITS>>,
    wd_exp_r: DFF<Bit>,
    // Whether the watchdog counts, registered: the state decode and the watchdog's own
    // firing reach the counter's reset a cycle late, which only shifts a bound of
    // thousands of clocks by one. (AbortWait, entered as the watchdog fires, looks at
    // the count only once it counts again from zero.)
    wd_run: DFF<Bit>,
    fire_q: DFF<Bit>,
    // Post takes two cycles: the first lets the registered error and command flags
    // settle (an error may be set as Post is entered), the second hands over.
    post_go: DFF<Bit>,
    // Done acts from its second cycle (`go_r`): by then the frame's verdict (latched
    // as Done is entered: `err_any_r`, LinkRegisters' `err_crc_r`) and LOAD_END's
    // word-count check (LinkRegisters' `end_ok_r`) are registered too, and the
    // command's decisions start at flip-flops.
    go_r: DFF<Bit>,
    // Done's noise test, registered the same way: Done was the state last cycle and
    // the frame was too short to answer. Noise is then dropped in Done's second cycle,
    // and the test (byte count, overflow, the receiver's kept header) no longer sits in
    // front of every enable Done drives.
    drop_r: DFF<Bit>,
    // The core's done pulse, registered here so the core-to-link route is one net
    // between flip-flops.
    done_q: DFF<Bit>,
    // The core's busy flag, registered: the core leaves Idle only on the link's own
    // run, rewind and clear pulses, and the link waits for `done` after each, so a
    // one-cycle-old copy is never wrong where the link looks at it.
    busy_r: DFF<Bit>,
    err_any_r: DFF<Bit>,

    abort_input: Signal<Local, Bit>,

    watchdog: Constant<Bits<WATCHDOG_BITS>>,
    // The error codes the engine raises, and the CORE detail of a watchdog stop
    // (revspike_proto::protocol).
    e_not_loaded: Constant<Bits<ERROR_BITS>>,
    e_core: Constant<Bits<ERROR_BITS>>,
    detail_watchdog: Constant<Bits<8>>,
    // The frame's layout: its framing overhead and the bit of the byte count that says
    // the header is in.
    overhead: Constant<Bits<3>>,
    header_bit: Constant<Bits<8>>,
}

impl CommandEngine {
    /// An engine whose watchdog stops the core's command after `watchdog_cycles` clocks.
    pub fn new(watchdog_cycles: u32) -> CommandEngine {
        CommandEngine {
            clock: Default::default(),
            state: Default::default(),
            exec_next: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            status: Default::default(),
            in_commit: Default::default(),
            in_abort: Default::default(),
            run: Default::default(),
            rewind: Default::default(),
            clear: Default::default(),
            abort: Default::default(),
            busy_q: Default::default(),
            bytes: Default::default(),
            overrun: Default::default(),
            started: Default::default(),
            error: Default::default(),
            err_set: Default::default(),
            err_next: Default::default(),
            lost_hdr: Default::default(),
            lost_hdr_clear: Default::default(),
            take_lost: Default::default(),
            frame_reset: Default::default(),
            close_input: Default::default(),
            is_input: Default::default(),
            is_run: Default::default(),
            is_rewind: Default::default(),
            is_reset: Default::default(),
            is_infer: Default::default(),
            is_load_begin: Default::default(),
            is_load_end: Default::default(),
            expanding: Default::default(),
            count_zero: Default::default(),
            count_down: Default::default(),
            loaded: Default::default(),
            dirty: Default::default(),
            tx_idle: Default::default(),
            respond: Default::default(),
            err_any: Default::default(),
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
            watchdog_fire_q: Default::default(),
            settle: Default::default(),
            err_code: Default::default(),
            err_detail: Default::default(),
            in_commit_r: Default::default(),
            in_abort_r: Default::default(),
            run_r: Default::default(),
            rewind_r: Default::default(),
            clear_r: Default::default(),
            abort_r: Default::default(),
            wd: Default::default(),
            wd_exp_r: Default::default(),
            wd_run: Default::default(),
            fire_q: Default::default(),
            post_go: Default::default(),
            go_r: Default::default(),
            drop_r: Default::default(),
            done_q: Default::default(),
            busy_r: Default::default(),
            err_any_r: Default::default(),
            abort_input: Default::default(),
            watchdog: Constant::new((watchdog_cycles as u64).to_bits()),
            e_not_loaded: error_code(ErrorCode::NotLoaded),
            e_core: error_code(ErrorCode::Core),
            detail_watchdog: value(u64::from(CORE_DETAIL_WATCHDOG)),
            overhead: value(FRAME_OVERHEAD as u64),
            header_bit: value(u64::from(HEADER_BIT)),
        }
    }
}

impl Logic for CommandEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, err_code, err_detail, settle, post_go);
        dff_setup!(self, clock, in_commit_r, in_abort_r, run_r, rewind_r);
        dff_setup!(
            self, clock, clear_r, abort_r, wd, wd_exp_r, wd_run, fire_q, go_r, drop_r, done_q
        );
        dff_setup!(self, clock, busy_r, err_any_r);
        self.in_commit.next = self.in_commit_r.q.val();
        self.in_abort.next = self.in_abort_r.q.val();
        self.run.next = self.run_r.q.val();
        self.rewind.next = self.rewind_r.q.val();
        self.clear.next = self.clear_r.q.val();
        self.abort.next = self.abort_r.q.val();
        self.busy_q.next = self.busy_r.q.val();
        self.err_any.next = self.err_any_r.q.val();
        self.error_code.next = self.err_code.q.val();
        self.error_detail.next = self.err_detail.q.val();

        // Pulses last one cycle.
        self.in_commit_r.d.next = false;
        self.in_abort_r.d.next = false;
        self.run_r.d.next = false;
        self.rewind_r.d.next = false;
        self.clear_r.d.next = false;
        self.abort_r.d.next = false;
        self.exec_next.next = self.state.val();
        self.lost_hdr_clear.next = false;
        self.take_lost.next = false;
        self.frame_reset.next = false;
        self.close_input.next = false;
        self.count_down.next = false;
        self.respond.next = false;
        self.frame_failed.next = false;
        self.load_begin.next = false;
        self.load_end.next = false;
        self.input_valid.next = false;
        self.input_invalid.next = false;
        self.clear_counts.next = false;
        self.error_sent.next = false;
        self.err_set.next = false;
        // CORE, from every state that fails but RunCheck (NOT_LOADED).
        self.err_next.next = self.e_core.val();
        self.abort_input.next = false;
        self.watchdog_fire.next = false;

        // ---- watchdog ------------------------------------------------------------
        if self.wd_run.q.val() {
            self.wd.d.next = self.wd.q.val() + 1;
        } else {
            self.wd.d.next = 0.into();
        }
        self.wd_exp_r.d.next = self.wd.q.val() == self.watchdog.val();

        self.busy_r.d.next = self.busy.val();
        // RESET goes ahead with the core busy: it aborts the core first.
        self.go_r.d.next = self.state.val() == RxState::Done
            && self.tx_idle.val()
            && (!self.busy_r.q.val() || self.is_reset.val())
            && !self.expanding.val();
        self.drop_r.d.next = self.state.val() == RxState::Done
            && self.bytes.val() != self.overhead.val()
            && !(self.overrun.val()
                && (self.bytes.val().get_bit(self.header_bit.val().index())
                    || self.lost_hdr.val()));
        self.err_any_r.d.next = self.error.val().any();
        self.done_q.d.next = self.done.val();

        match self.state.val() {
            RxState::Done => {
                // The frame's error was latched as its END was popped.
                if self.drop_r.q.val() {
                    // Shorter than the framing overhead: line noise or an empty frame; no answer. (A
                    // frame an overflow cut short is answered: with its own header
                    // once that is in, else with the header the receiver kept.)
                    self.abort_input.next = self.started.val();
                    self.frame_reset.next = true;
                    self.lost_hdr_clear.next = self.overrun.val();
                    self.exec_next.next = RxState::Header;
                } else if self.go_r.q.val() {
                    if !self.bytes.val().get_bit(self.header_bit.val().index()) {
                        self.take_lost.next = true;
                        self.lost_hdr_clear.next = true;
                    }
                    if self.err_any_r.q.val() {
                        // A bad CRC is counted, a failed WRITE leaves the memory dirty.
                        self.frame_failed.next = true;
                        self.abort_input.next = self.started.val();
                        self.err_code.d.next = self.error.val();
                        self.err_detail.d.next = 0.into();
                        self.exec_next.next = RxState::Post;
                    } else if self.is_input.val() {
                        self.in_commit_r.d.next = true;
                        self.close_input.next = true;
                        self.settle.d.next = 0.into();
                        self.exec_next.next = RxState::Commit;
                    } else if self.is_run.val() {
                        self.exec_next.next = RxState::RunCheck;
                    } else if self.is_rewind.val() {
                        self.exec_next.next = RxState::Rewind;
                    } else if self.is_reset.val() {
                        // A core still busy (after a failed abort, or the reset button) is
                        // stopped first.
                        self.abort_r.d.next = self.busy_r.q.val();
                        self.exec_next.next = RxState::ResetAbort;
                    } else {
                        self.load_begin.next = self.is_load_begin.val();
                        self.load_end.next = self.is_load_end.val();
                        self.exec_next.next = RxState::Post;
                    }
                }
            }
            RxState::Commit => {
                // The core's status settles within a few cycles of in_commit.
                self.settle.d.next = self.settle.q.val() + 1;
                if self.settle.q.val() == 3 && !self.busy_r.q.val() {
                    if self.status.val().any() {
                        self.input_invalid.next = true;
                        self.err_set.next = true;
                        self.err_code.d.next = self.e_core.val();
                        self.err_detail.d.next = self.status.val();
                        self.exec_next.next = RxState::Post;
                    } else {
                        self.input_valid.next = true;
                        if self.is_infer.val() {
                            self.exec_next.next = RxState::RunCheck;
                        } else {
                            self.exec_next.next = RxState::Post;
                        }
                    }
                }
            }
            RxState::RunCheck => {
                if !self.loaded.val() || self.dirty.val() {
                    self.err_set.next = true;
                    self.err_next.next = self.e_not_loaded.val();
                    self.err_code.d.next = self.e_not_loaded.val();
                    self.err_detail.d.next = 0.into();
                    self.exec_next.next = RxState::Post;
                } else if !self.busy_r.q.val() {
                    self.run_r.d.next = true;
                    self.exec_next.next = RxState::RunWait;
                }
            }
            RxState::RunWait => {
                if self.done_q.q.val() {
                    self.exec_next.next = RxState::RunStatus;
                } else if self.wd_exp_r.q.val() {
                    self.watchdog_fire.next = true;
                }
            }
            RxState::RunStatus => {
                if self.status.val().any() {
                    self.err_set.next = true;
                    self.err_code.d.next = self.e_core.val();
                    self.err_detail.d.next = self.status.val();
                }
                self.exec_next.next = RxState::Post;
            }
            RxState::Rewind => {
                if self.count_zero.val() {
                    self.exec_next.next = RxState::Post;
                } else if !self.busy_r.q.val() {
                    self.rewind_r.d.next = true;
                    self.count_down.next = true;
                    self.exec_next.next = RxState::RewindWait;
                }
            }
            RxState::RewindWait => {
                if self.done_q.q.val() {
                    self.exec_next.next = RxState::RewindStatus;
                } else if self.wd_exp_r.q.val() {
                    self.watchdog_fire.next = true;
                }
            }
            RxState::RewindStatus => {
                if self.status.val().any() {
                    self.err_set.next = true;
                    self.err_code.d.next = self.e_core.val();
                    self.err_detail.d.next = self.status.val();
                    self.exec_next.next = RxState::Post;
                } else {
                    self.exec_next.next = RxState::Rewind;
                }
            }
            RxState::ResetAbort => {
                // Two cycles after an abort the core's busy has dropped (or the watchdog
                // answers for it).
                if !self.busy_r.q.val() && !self.abort_r.q.val() {
                    self.clear_r.d.next = true;
                    self.exec_next.next = RxState::ClearWait;
                } else if self.wd_exp_r.q.val() {
                    self.watchdog_fire.next = true;
                }
            }
            RxState::AbortWait => {
                // The aborted command's done, or about 1000 clocks.
                if self.done_q.q.val() || (self.wd_run.q.val() && self.wd.q.val().get_bit(10)) {
                    self.exec_next.next = RxState::Post;
                }
            }
            RxState::ClearWait => {
                if self.wd_exp_r.q.val() && !self.done_q.q.val() {
                    self.watchdog_fire.next = true;
                }
                if self.done_q.q.val() {
                    // (Not in the cycle after the watchdog fired: the state goes to
                    // AbortWait instead.)
                    self.clear_counts.next = !self.fire_q.q.val();
                    self.exec_next.next = RxState::Post;
                }
            }
            RxState::Post => {
                // Hand the response to the response engine (idle since Done), in the
                // second cycle, from registered flags only.
                self.post_go.d.next = !self.post_go.q.val();
                if self.post_go.q.val() {
                    self.error_sent.next = self.err_any_r.q.val();
                    self.respond.next = true;
                    self.frame_reset.next = true;
                    self.exec_next.next = RxState::Header;
                }
            }
            // The frame receiver's states, and codes no state has (the receiver
            // follows `exec_next` only outside its own states).
            _ => {
                self.exec_next.next = RxState::Hunt;
            }
        }

        if self.abort_input.val() {
            self.in_abort_r.d.next = true;
            self.close_input.next = true;
            self.input_invalid.next = true;
        }
        // (After the states: `watchdog_fire` is final here.)
        self.wd_run.d.next = (self.state.val() == RxState::RunWait
            || self.state.val() == RxState::RewindWait
            || self.state.val() == RxState::ClearWait
            || self.state.val() == RxState::ResetAbort
            || self.state.val() == RxState::AbortWait)
            && !self.watchdog_fire.val();
        self.fire_q.d.next = self.watchdog_fire.val();
        self.watchdog_fire_q.next = self.fire_q.q.val();
        // The core's command did not finish in time: stop it, answer CORE (watchdog)
        // once it has, and drop the model (LinkRegisters), which may be what made it
        // run away.
        if self.watchdog_fire.val() {
            self.abort_r.d.next = true;
            self.err_code.d.next = self.e_core.val();
            self.err_detail.d.next = self.detail_watchdog.val();
        }
    }
}
