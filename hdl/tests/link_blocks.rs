//! The link's blocks one at a time in rust-hdl's simulator, each driven through its
//! own ports (with its real neighbours where a stand-in would only restate them) and
//! held to what the protocol asks of it. The whole link: link.rs; the blocks'
//! synthesis: tests/hdl_blocks.rs.

use revspike_hdl::command_engine::CommandEngine;
use revspike_hdl::crc16::Crc16;
use revspike_hdl::frame_receiver::{FrameReceiver, RxState};
use revspike_hdl::frame_timer::FrameTimer;
use revspike_hdl::header_decoder::HeaderDecoder;
use revspike_hdl::link::LinkConfig;
use revspike_hdl::link_registers::LinkRegisters;
use revspike_hdl::payload_decoder::PayloadDecoder;
use revspike_hdl::response_engine::ResponseEngine;
use revspike_hdl::slip_rx::SlipRx;
use revspike_proto::build::CU;
use revspike_proto::protocol::{crc16, frame_body, slip_encode};
use rust_hdl::prelude::*;
use std::sync::{Arc, Mutex};

type SimResult<B> = Result<Box<B>, SimError>;

/// A bench whose clock the simulation drives.
trait Clocked {
    fn clk(&self) -> bool;
    fn toggle(&mut self);
}

macro_rules! clocked {
    ($($t: ty),*) => {
        $(impl Clocked for $t {
            fn clk(&self) -> bool {
                self.clock.val().clk
            }
            fn toggle(&mut self) {
                self.clock.next = !self.clock.val();
            }
        })*
    };
}

clocked!(FrameTimer, HeaderDecoder, PayloadDecoder, LinkRegisters);
clocked!(EngineBench, ReceiverBench, ResponseBench);

/// From one rising clock edge to the next: inputs set before it are seen by the
/// flip-flops at the edge it ends on.
fn tick<B: Block + Clocked>(sim: &mut Sim<B>, x: Box<B>) -> SimResult<B> {
    let x = sim.watch(|x: &B| !x.clk(), x)?;
    sim.watch(|x: &B| x.clk(), x)
}

/// Runs `test` on `bench` from its first rising edge; returns what it recorded.
fn simulate<B, T, F>(mut bench: B, test: F) -> T
where
    B: Block + Clocked + Send + 'static,
    T: Default + Send + 'static,
    F: Fn(&mut Sim<B>, Box<B>, &mut T) -> SimResult<B> + Send + std::panic::RefUnwindSafe + 'static,
{
    bench.connect_all();
    let out = Arc::new(Mutex::new(None));
    let out2 = out.clone();
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<B>| x.toggle());
    sim.add_testbench(move |mut sim: Sim<B>| {
        let x = sim.init()?;
        let x = sim.watch(|x: &B| x.clk(), x)?;
        let mut seen = T::default();
        let r = test(&mut sim, x, &mut seen);
        *out2.lock().unwrap() = Some(seen);
        sim.done(r?)
    });
    sim.run(Box::new(bench), 1 << 26).unwrap();
    let seen = out.lock().unwrap().take();
    seen.unwrap()
}

fn b8(v: u8) -> Bits<8> {
    (v as u64).into()
}

fn word(bits: Bits<16>) -> u16 {
    bits.index() as u16
}

#[test]
fn frame_timer_pulses_once_when_a_frame_stalls_for_the_timeout() {
    // Per case: the clocks from the UART's last byte to the timeout pulse.
    let seen = simulate(
        FrameTimer::new(40),
        |sim, mut x, seen: &mut Vec<Option<u32>>| {
            let cases = [
                // A header under way.
                (RxState::Header, 2, false, false),
                // Between frames; bytes still queued; nothing of the frame yet.
                (RxState::Hunt, 2, false, false),
                (RxState::Payload, 2, false, true),
                (RxState::Payload, 0, false, false),
                // An overflow kept the header of a frame it cut.
                (RxState::Payload, 0, true, false),
            ];
            for (state, bytes, lost_hdr, nonempty) in cases {
                x.state.next = state;
                x.bytes.next = (bytes as u64).into();
                x.lost_hdr.next = lost_hdr;
                x.fifo_nonempty.next = nonempty;
                x.rx_valid.next = true;
                x = tick(sim, x)?;
                x.rx_valid.next = false;
                let mut at = None;
                for clocks in 1..120 {
                    x = tick(sim, x)?;
                    if x.timeout.val() {
                        at = Some(clocks);
                        // A pulse: never twice in a row.
                        x = tick(sim, x)?;
                        if x.timeout.val() {
                            at = Some(u32::MAX);
                        }
                        break;
                    }
                }
                seen.push(at);
            }
            Ok(x)
        },
    );
    // The bound (40) counts from the clock after the byte; the pulse is registered.
    assert_eq!(seen, vec![Some(41), None, None, None, Some(41)]);
}

/// What the header decoder holds after a header.
#[derive(Debug, PartialEq)]
struct Header {
    command: u8,
    seq: u8,
    length: u16,
    pend: u8,
    oversize: bool,
    in_ok: bool,
    flags: String,
}

fn header_of(x: &HeaderDecoder) -> Header {
    let flags = [
        ("write", x.is_write.val()),
        ("read", x.is_read.val()),
        ("input", x.is_input.val()),
        ("rewind", x.is_rewind.val()),
        ("addressed", x.is_addressed.val()),
        ("identify", x.is_identify.val()),
        ("run", x.is_run.val()),
        ("reset", x.is_reset.val()),
        ("status", x.is_status.val()),
        ("load_begin", x.is_load_begin.val()),
        ("load_end", x.is_load_end.val()),
        ("input_only", x.is_input_only.val()),
        ("infer", x.is_infer.val()),
        ("packed", x.is_packed.val()),
    ];
    Header {
        command: x.command.val().index() as u8,
        seq: x.frame_seq.val().index() as u8,
        length: x.length.val().index() as u16,
        pend: x.pending_error.val().index() as u8,
        oversize: x.oversize.val(),
        in_ok: x.in_ok.val(),
        flags: flags
            .iter()
            .filter(|f| f.1)
            .map(|f| f.0)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn header(
    command: u8,
    seq: u8,
    length: u16,
    pend: u8,
    oversize: bool,
    in_ok: bool,
    flags: &str,
) -> Header {
    Header {
        command,
        seq,
        length,
        pend,
        oversize,
        in_ok,
        flags: flags.into(),
    }
}

#[test]
fn header_decoder_decodes_the_command_and_decides_the_header_errors() {
    // (header bytes, model loaded) per frame.
    let frames: Vec<([u8; 4], bool)> = vec![
        ([0x03, 0x42, 6, 0], false),       // READ
        ([0x0D, 0x01, 0, 0], false),       // unknown command
        ([0x05, 0x02, 2, 0], false),       // RUN with a payload
        ([0x02, 0x03, 0x05, 0x10], false), // WRITE of 4101 bytes
        ([0x06, 0x04, 10, 0], false),      // INFER without a model
        ([0x06, 0x05, 10, 0], true),       // INFER
        ([0x0C, 0x06, 3, 0], true),        // INFER_PACKED
        ([0x04, 0x07, 3, 0], false),       // INPUT needs no model
    ];
    let seen = simulate(
        HeaderDecoder::default(),
        move |sim, mut x, seen: &mut Vec<Header>| {
            for (bytes, loaded) in &frames {
                x.loaded.next = *loaded;
                x.frame_reset.next = true;
                x = tick(sim, x)?;
                x.frame_reset.next = false;
                for (i, &b) in bytes.iter().enumerate() {
                    // Each byte waits a clock at the FIFO head before it is taken; the
                    // 4th stays a few clocks, as an input waiting for the core does: the
                    // header must come out the same.
                    x.head_byte.next = b8(b);
                    x.header_index.next = (i as u64).into();
                    x = tick(sim, x)?;
                    x.header_byte.next = true;
                    for _ in 0..if i == 3 { 3 } else { 1 } {
                        x = tick(sim, x)?;
                    }
                    x.header_byte.next = false;
                }
                x = tick(sim, x)?;
                seen.push(header_of(&x));
            }
            // INFER_PACKED's zero runs refused: BAD_ARGUMENTS.
            x.bad_input.next = true;
            x = tick(sim, x)?;
            x.bad_input.next = false;
            x = tick(sim, x)?;
            seen.push(header_of(&x));
            // The header an overflow kept answers for a frame cut before its own.
            x.lost_cmd.next = b8(0x09);
            x.lost_seq.next = b8(0x77);
            x.take_lost.next = true;
            x = tick(sim, x)?;
            x.take_lost.next = false;
            x = tick(sim, x)?;
            seen.push(header_of(&x));
            Ok(x)
        },
    );
    let want = vec![
        header(0x03, 0x42, 6, 0, false, false, "read addressed"),
        header(0x0D, 0x01, 0, 4, false, false, ""),
        header(0x05, 0x02, 2, 5, false, false, "run"),
        header(0x02, 0x03, 4101, 3, true, false, "write addressed"),
        header(0x06, 0x04, 10, 6, false, false, "input infer"),
        header(0x06, 0x05, 10, 0, false, true, "input infer"),
        header(0x0C, 0x06, 3, 0, false, true, "input infer packed"),
        header(0x04, 0x07, 3, 0, false, true, "input input_only"),
        header(0x04, 0x07, 3, 5, false, true, "input input_only"),
        header(0x09, 0x77, 3, 5, false, false, "status"),
    ];
    assert_eq!(seen, want);
}

#[derive(Default, Debug)]
struct PayloadSeen {
    /// Host-port writes (address, word) and input values (clock, value).
    writes: Vec<(u32, u16)>,
    values: Vec<(u32, u8)>,
    /// Clocks a byte was seen waiting at the head while the core was busy.
    busy_stalls: u32,
    bad_input: u32,
    /// After each frame: the address refused, the range refused, the count word.
    verdicts: Vec<(bool, bool, u16)>,
    counts: Vec<(u16, bool)>,
}

/// A payload and the command it belongs to.
struct Payload {
    addressed: bool,
    write: bool,
    read: bool,
    packed: bool,
    /// The frame opened an input.
    started: bool,
    bytes: Vec<u8>,
    /// The core is busy as this byte arrives.
    busy_at: Option<usize>,
}

fn payload(kind: &str, bytes: &[u8], busy_at: Option<usize>) -> Payload {
    Payload {
        addressed: kind == "write" || kind == "read",
        write: kind == "write",
        read: kind == "read",
        packed: kind == "packed",
        started: kind == "packed",
        bytes: bytes.to_vec(),
        busy_at,
    }
}

#[test]
fn payload_decoder_writes_words_expands_zero_runs_and_checks_ranges() {
    let frames = vec![
        // WRITE of 3 words at 0x12345; the core is busy as the 2nd word's high byte
        // arrives.
        payload(
            "write",
            &[0x45, 0x23, 0x01, 0x00, 0xA1, 0xB1, 0xA2, 0xB2, 0xA3, 0xB3],
            Some(7),
        ),
        // WRITE to 0xFFFFE: not a writable region, nothing is written.
        payload("write", &[0xFE, 0xFF, 0x0F, 0, 1, 2, 3, 4], None),
        // INFER_PACKED: 5, three zeros, 7; then one ending inside a run token.
        payload("packed", &[5, 0, 2, 7], None),
        payload("packed", &[9, 0], None),
        // READ of 2 words from 0x3FFFF (runs out of region 3), and from 0x30000.
        payload("read", &[0xFF, 0xFF, 0x03, 0, 2, 0], None),
        payload("read", &[0, 0, 0x03, 0, 2, 0], None),
    ];
    let seen = simulate(
        PayloadDecoder::default(),
        move |sim, mut x, seen: &mut PayloadSeen| {
            let mut clock = 0u32;
            // Records the clock the inputs were just set for (its pulses, settled), then
            // moves to the next edge.
            macro_rules! step {
                () => {
                    x = sim.wait(1, x)?;
                    if x.we.val() {
                        seen.writes
                            .push((x.addr.val().index() as u32, word(x.wdata.val())));
                    }
                    if x.in_valid.val() {
                        seen.values.push((clock, x.in_byte.val().index() as u8));
                    }
                    seen.bad_input += x.bad_input.val() as u32;
                    x = tick(sim, x)?;
                    clock += 1;
                };
            }
            for f in &frames {
                x.is_addressed.next = f.addressed;
                x.is_write.next = f.write;
                x.is_read.next = f.read;
                x.is_packed.next = f.packed;
                x.started.next = f.started;
                x.length.next = (f.bytes.len() as u64).into();
                x.frame_reset.next = true;
                step!();
                x.frame_reset.next = false;
                for (i, &b) in f.bytes.iter().enumerate() {
                    x.index.next = (i as u64).into();
                    x.last.next = i + 1 == f.bytes.len();
                    x.head_byte.next = b8(b);
                    x.busy_q.next = f.busy_at == Some(i);
                    // A byte spends two clocks at the FIFO head before it can be taken
                    // (the receive FIFO's output register, then `hv_q`).
                    step!();
                    step!();
                    if f.busy_at == Some(i) {
                        for _ in 0..3 {
                            step!();
                            seen.busy_stalls += x.stall.val() as u32;
                        }
                        x.busy_q.next = false;
                        step!();
                    }
                    for _ in 0..100 {
                        if !x.stall.val() {
                            break;
                        }
                        step!();
                    }
                    x.take.next = true;
                    step!();
                    x.take.next = false;
                }
                for _ in 0..6 {
                    step!();
                }
                seen.verdicts.push((
                    x.addr_bad.val(),
                    x.bad_range.val(),
                    x.count.val().index() as u16,
                ));
            }
            // REWIND steps count down to zero.
            for _ in 0..2 {
                x.count_down.next = true;
                step!();
                x.count_down.next = false;
                step!();
                seen.counts
                    .push((x.count.val().index() as u16, x.count_zero.val()));
            }
            Ok(x)
        },
    );
    assert_eq!(
        seen.writes,
        vec![(0x12345, 0xB1A1), (0x12346, 0xB2A2), (0x12347, 0xB3A3)]
    );
    assert_eq!(seen.busy_stalls, 3, "{seen:?}");
    let values: Vec<u8> = seen.values.iter().map(|v| v.1).collect();
    assert_eq!(values, vec![5, 0, 0, 0, 7, 9], "{seen:?}");
    // The compactor's pace: one value every second clock at most.
    assert!(
        seen.values.windows(2).all(|w| w[1].0 >= w[0].0 + 2),
        "{seen:?}"
    );
    assert_eq!(seen.bad_input, 1, "one refused zero run: {seen:?}");
    let verdicts: Vec<(bool, bool)> = seen.verdicts.iter().map(|v| (v.0, v.1)).collect();
    assert_eq!(
        verdicts,
        vec![
            (false, false),
            (true, true),
            (false, false),
            (false, false),
            (false, true),
            (false, false)
        ]
    );
    assert_eq!(seen.verdicts[5].2, 2);
    assert_eq!(seen.counts, vec![(1, false), (0, true)]);
}

#[derive(Default, Debug)]
struct RegistersSeen {
    /// Link words 0..6 and the error LED at each look.
    looks: Vec<([u16; 7], bool)>,
}

#[test]
fn link_registers_count_and_report_the_link_words() {
    let seen = simulate(
        LinkRegisters::default(),
        |sim, mut x, seen: &mut RegistersSeen| {
            macro_rules! pulse {
                ($($sig: ident),+) => {
                    $(x.$sig.next = true;)+
                    x = tick(sim, x)?;
                    $(x.$sig.next = false;)+
                    x = tick(sim, x)?;
                };
            }
            macro_rules! look {
                () => {
                    let mut words = [0u16; 7];
                    for (i, w) in words.iter_mut().enumerate() {
                        x.word_addr.next = (i as u64).into();
                        x = tick(sim, x)?;
                        *w = word(x.word.val());
                    }
                    seen.looks.push((words, x.led_error.val()));
                };
            }
            pulse!(load_begin);
            // Three words to region 2 (the turn-on state); LOAD_END(3).
            for i in 0..3u64 {
                x.addr.next = (0x20000 + i).into();
                pulse!(we);
            }
            x.addr.next = 3.into();
            x = tick(sim, x)?;
            pulse!(load_end);
            look!();
            // A word to the model: no longer the model LOAD_END checked.
            x.addr.next = 0x10.into();
            pulse!(we);
            // Two framing errors, an overrun, three timeouts; a WRITE that fails its
            // CRC.
            pulse!(framing_error);
            pulse!(framing_error);
            pulse!(fifo_overrun);
            pulse!(timeout);
            pulse!(timeout);
            pulse!(timeout);
            x.error.next = 1.into();
            x.is_write.next = true;
            x = tick(sim, x)?;
            pulse!(frame_failed);
            x.is_write.next = false;
            // A CORE error (watchdog) on RUN, and a valid input.
            x.command.next = b8(0x05);
            x.error.next = 7.into();
            x.error_code.next = 7.into();
            x.error_detail.next = b8(0x80);
            pulse!(error_sent);
            pulse!(input_valid);
            look!();
            // RESET clears the counters, the last error and the LED; an aborted input.
            pulse!(clear_counts);
            pulse!(input_invalid);
            look!();
            Ok(x)
        },
    );
    assert_eq!(
        seen.looks,
        vec![
            ([3, 0, 0x0001, 0, 0, 0, 0], false),
            ([4, 0, 0x0706, 0x0201, 0x0103, 0x0705, 0x0080], true),
            ([4, 0, 0x0002, 0, 0, 0x0705, 0x0080], false),
        ]
    );
}

/// The command engine with the frame receiver's share of the state register: the
/// receiver's states hold (a test input moves the state to Done, as a frame's END
/// does), the engine's follow `exec_next`.
#[derive(LogicBlock)]
struct EngineBench {
    clock: Signal<In, Clock>,
    enter_done: Signal<In, Bit>,
    busy: Signal<In, Bit>,
    done: Signal<In, Bit>,
    status: Signal<In, Bits<8>>,
    is_run: Signal<In, Bit>,
    loaded: Signal<In, Bit>,
    state: Signal<Out, RxState>,
    engine: CommandEngine,
    rstate: DFF<RxState>,
    err: DFF<Bits<4>>,
}

impl Logic for EngineBench {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, rstate, err);
        clock!(self, clock, engine);
        self.state.next = self.rstate.q.val();
        self.engine.state.next = self.rstate.q.val();
        self.engine.error.next = self.err.q.val();
        self.engine.busy.next = self.busy.val();
        self.engine.done.next = self.done.val();
        self.engine.status.next = self.status.val();
        self.engine.is_run.next = self.is_run.val();
        self.engine.loaded.next = self.loaded.val();
        self.engine.bytes.next = 6.into();
        self.engine.overrun.next = false;
        self.engine.started.next = false;
        self.engine.lost_hdr.next = false;
        self.engine.is_input.next = false;
        self.engine.is_rewind.next = false;
        self.engine.is_reset.next = false;
        self.engine.is_infer.next = false;
        self.engine.is_load_begin.next = false;
        self.engine.is_load_end.next = false;
        self.engine.expanding.next = false;
        self.engine.count_zero.next = false;
        self.engine.dirty.next = false;
        self.engine.tx_idle.next = true;
        match self.rstate.q.val() {
            RxState::Hunt => {}
            RxState::Header => {}
            RxState::Payload => {}
            RxState::Crc => {}
            RxState::Excess => {}
            RxState::Drop => {}
            _ => {
                self.rstate.d.next = self.engine.exec_next.val();
            }
        }
        // A good frame's END: no error.
        if self.enter_done.val() {
            self.rstate.d.next = RxState::Done;
            self.err.d.next = 0.into();
        }
        if self.engine.err_set.val() {
            self.err.d.next = self.engine.err_next.val();
        }
        // As in the link: the receive state follows the watchdog a cycle after it fires.
        if self.engine.watchdog_fire_q.val() {
            self.err.d.next = 7.into();
            self.rstate.d.next = RxState::AbortWait;
        }
    }
}

/// One command as the engine ran it.
#[derive(Debug, Default, PartialEq)]
struct Run {
    runs: u32,
    aborts: u32,
    /// Clocks from Done to the response, and whether it is an error frame.
    respond_after: Option<u32>,
    err_any: bool,
    error: (u8, u8),
    end_state: Option<RxState>,
}

#[test]
fn command_engine_runs_the_core_and_answers_watchdog_and_not_loaded() {
    let bench = EngineBench {
        clock: Default::default(),
        enter_done: Default::default(),
        busy: Default::default(),
        done: Default::default(),
        status: Default::default(),
        is_run: Default::default(),
        loaded: Default::default(),
        state: Default::default(),
        engine: CommandEngine::new(200),
        rstate: Default::default(),
        err: Default::default(),
    };
    let seen = simulate(bench, |sim, mut x, seen: &mut Vec<Run>| {
        x.is_run.next = true;
        // RUN with a model, the core done 10 clocks after `run`; RUN with none; RUN
        // with a core that never finishes.
        for (loaded, done_after) in [(true, Some(10)), (false, None), (true, None)] {
            x.loaded.next = loaded;
            x.enter_done.next = true;
            x = tick(sim, x)?;
            x.enter_done.next = false;
            let mut run = Run::default();
            let mut since_run = None;
            for clock in 0..3000 {
                x = tick(sim, x)?;
                run.runs += x.engine.run.val() as u32;
                run.aborts += x.engine.abort.val() as u32;
                if x.engine.run.val() {
                    since_run = Some(0);
                }
                if let Some(n) = since_run.as_mut() {
                    *n += 1;
                }
                x.done.next = since_run.is_some() && since_run == done_after;
                if x.engine.respond.val() {
                    run.respond_after = Some(clock);
                    run.err_any = x.engine.err_any.val();
                    run.error = (
                        x.engine.error_code.val().index() as u8,
                        x.engine.error_detail.val().index() as u8,
                    );
                    x = tick(sim, x)?;
                    run.end_state = Some(x.state.val());
                    break;
                }
            }
            x.done.next = false;
            seen.push(run);
        }
        Ok(x)
    });
    let [ok, not_loaded, watchdog] = &seen[..] else {
        panic!("{seen:?}");
    };
    assert_eq!((ok.runs, ok.aborts, ok.err_any), (1, 0, false), "{ok:?}");
    assert_eq!(ok.end_state, Some(RxState::Header), "{ok:?}");
    assert_eq!(
        (not_loaded.runs, not_loaded.err_any, not_loaded.error),
        (0, true, (6, 0)),
        "{not_loaded:?}"
    );
    // Stopped after the watchdog's 200 clocks, answered after the abort's ~1000.
    assert_eq!(
        (
            watchdog.runs,
            watchdog.aborts,
            watchdog.err_any,
            watchdog.error
        ),
        (1, 1, true, (7, 0x80)),
        "{watchdog:?}"
    );
    let after = watchdog.respond_after.unwrap();
    assert!((1200..1300).contains(&after), "{watchdog:?}");
    assert!(ok.respond_after.unwrap() < 30, "{ok:?}");
}

/// The frame receiver with the blocks it parses for: the SLIP decoder's FIFO in front,
/// the header and payload decoders and the receive CRC beside it. The command engine
/// is the test: it holds Done and, to go on, moves to Header with a frame reset (as
/// Post does).
#[derive(LogicBlock, Default)]
struct ReceiverBench {
    clock: Signal<In, Clock>,
    in_byte: Signal<In, Bits<8>>,
    in_valid: Signal<In, Bit>,
    exec_next: Signal<In, RxState>,
    exec_frame_reset: Signal<In, Bit>,
    srx: SlipRx,
    frame: FrameReceiver,
    header: HeaderDecoder,
    payload: PayloadDecoder,
    rcrc: Crc16,
}

impl Logic for ReceiverBench {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, srx, frame, header, payload, rcrc);
        self.srx.in_byte.next = self.in_byte.val();
        self.srx.in_valid.next = self.in_valid.val();
        self.srx.lost_hdr_clear.next = false;
        self.frame.head_valid.next = self.srx.out_valid.val();
        self.frame.head_end.next = self.srx.out_end.val();
        self.frame.head_byte.next = self.srx.out_byte.val();
        self.frame.head_lost.next = self.srx.out_lost.val();
        self.frame.lost_pending.next = self.srx.lost_pending.val();
        self.srx.pop.next = self.frame.pop.val();
        self.frame.crc.next = self.rcrc.crc.val();
        self.rcrc.init.next = self.frame.crc_init.val();
        self.rcrc.strobe.next = self.frame.crc_strobe.val();
        self.rcrc.data.next = self.frame.crc_data.val();
        self.frame.exec_next.next = self.exec_next.val();
        self.frame.exec_frame_reset.next = self.exec_frame_reset.val();
        self.frame.stall.next = self.payload.stall.val();
        self.frame.length.next = self.header.length.val();
        self.frame.oversize.next = self.header.oversize.val();
        self.frame.args_valid.next = self.header.args_valid.val();
        self.frame.length_field.next = self.header.length_field.val();
        self.frame.is_input.next = self.header.is_input.val();
        self.frame.in_ok.next = self.header.in_ok.val();
        self.frame.pending_error.next = self.header.pending_error.val();
        self.frame.bad_range.next = self.payload.bad_range.val();
        self.frame.busy_q.next = false;
        self.frame.close_input.next = false;
        self.frame.timeout.next = false;
        self.frame.watchdog.next = false;
        self.frame.err_set.next = false;
        self.frame.err_next.next = 0.into();
        self.header.header_byte.next = self.frame.header_byte.val();
        self.header.header_index.next = self.frame.header_index.val();
        self.header.head_byte.next = self.srx.out_byte.val();
        self.header.take_lost.next = false;
        self.header.lost_cmd.next = 0.into();
        self.header.lost_seq.next = 0.into();
        self.header.bad_input.next = self.payload.bad_input.val();
        self.header.frame_reset.next = self.frame.frame_reset.val();
        self.header.loaded.next = true;
        self.header.dirty.next = false;
        self.payload.take.next = self.frame.payload_byte.val();
        self.payload.head_byte.next = self.srx.out_byte.val();
        self.payload.index.next = self.frame.index.val();
        self.payload.last.next = self.frame.last.val();
        self.payload.started.next = self.frame.started.val();
        self.payload.frame_reset.next = self.frame.frame_reset.val();
        self.payload.busy_q.next = false;
        self.payload.length.next = self.header.length.val();
        self.payload.is_addressed.next = self.header.is_addressed.val();
        self.payload.is_write.next = self.header.is_write.val();
        self.payload.is_read.next = self.header.is_read.val();
        self.payload.is_rewind.next = self.header.is_rewind.val();
        self.payload.is_packed.next = self.header.is_packed.val();
        self.payload.count_down.next = false;
    }
}

#[derive(Default, Debug)]
struct FramesSeen {
    /// Per frame: the state it ended in, its error code, command and sequence.
    ends: Vec<(RxState, u8, u8, u8)>,
    writes: Vec<(u32, u16)>,
}

#[test]
fn frame_receiver_parses_frames_and_latches_their_errors() {
    let write = frame_body(0x02, 0x11, &[0x10, 0, 0, 0, 0x34, 0x12, 0x78, 0x56]);
    let mut bad_crc = frame_body(0x02, 0x12, &[0x20, 0, 0, 0, 0xCD, 0xAB]);
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0x40;
    // The length field says 8, the payload is 4 bytes: the CRC is taken for the
    // first word, then END comes in the payload.
    let mut short = vec![0x02, 0x13, 8, 0, 0x30, 0, 0, 0];
    let crc = crc16(&short);
    short.extend_from_slice(&crc.to_le_bytes());
    let mut oversize = frame_body(0x02, 0x14, &[0; 6]);
    oversize[2..4].copy_from_slice(&4101u16.to_le_bytes());
    // A READ whose payload holds a SLIP special; an INFER_PACKED ending in a token.
    let read = frame_body(0x03, 0xC0, &[0xDB, 0, 0, 0, 1, 0]);
    let frames: Vec<Vec<u8>> = [write, bad_crc, short, oversize, read]
        .iter()
        .map(|b| slip_encode(b))
        .collect();
    let seen = simulate(
        ReceiverBench::default(),
        move |sim, mut x, seen: &mut FramesSeen| {
            macro_rules! step {
                () => {
                    x = tick(sim, x)?;
                    if x.payload.we.val() {
                        seen.writes.push((
                            x.payload.addr.val().index() as u32,
                            word(x.payload.wdata.val()),
                        ));
                    }
                };
            }
            x.exec_next.next = RxState::Done;
            for wire in &frames {
                for &b in wire {
                    x.in_byte.next = b8(b);
                    x.in_valid.next = true;
                    step!();
                    x.in_valid.next = false;
                    // About a byte time at 12 Mbaud.
                    for _ in 0..6 {
                        step!();
                    }
                }
                for _ in 0..20 {
                    step!();
                }
                seen.ends.push((
                    x.frame.state.val(),
                    x.frame.error.val().index() as u8,
                    x.header.command.val().index() as u8,
                    x.header.frame_seq.val().index() as u8,
                ));
                // Post: back to Header, a new frame.
                x.exec_next.next = RxState::Header;
                x.exec_frame_reset.next = true;
                x = tick(sim, x)?;
                x.exec_next.next = RxState::Done;
                x.exec_frame_reset.next = false;
                x = tick(sim, x)?;
            }
            Ok(x)
        },
    );
    assert_eq!(
        seen.ends,
        vec![
            (RxState::Done, 0, 0x02, 0x11),
            (RxState::Done, 1, 0x02, 0x12),
            (RxState::Done, 2, 0x02, 0x13),
            (RxState::Done, 3, 0x02, 0x14),
            (RxState::Done, 0, 0x03, 0xC0),
        ]
    );
    // The good WRITE's words, then the bad-CRC frame's (written as they arrive; the
    // error marks the memory dirty), then the short frame's CRC, taken for its
    // first word.
    assert_eq!(
        seen.writes,
        vec![(0x10, 0x1234), (0x11, 0x5678), (0x20, 0xABCD), (0x30, crc)]
    );
}

/// The response engine with the transmit CRC, a SLIP encoder that takes a byte every
/// other clock at most, a host port that answers `addr[15:0] + addr[19:16] << 12`
/// three clocks after its address, and link word i = `i << 8 | 0xAA`.
#[derive(LogicBlock)]
struct ResponseBench {
    clock: Signal<In, Clock>,
    respond: Signal<In, Bit>,
    command: Signal<In, Bits<8>>,
    frame_seq: Signal<In, Bits<8>>,
    err_any: Signal<In, Bit>,
    addr: Signal<In, Bits<20>>,
    count: Signal<In, Bits<16>>,
    is_identify: Signal<In, Bit>,
    is_read: Signal<In, Bit>,
    is_run: Signal<In, Bit>,
    is_status: Signal<In, Bit>,
    taken: Signal<Out, Bit>,
    response: ResponseEngine,
    tcrc: Crc16,
    port1: DFF<Bits<16>>,
    port2: DFF<Bits<16>>,
    port3: DFF<Bits<16>>,
    tx_busy: DFF<Bit>,
}

impl Logic for ResponseBench {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, port1, port2, port3, tx_busy);
        clock!(self, clock, response, tcrc);
        self.response.respond.next = self.respond.val();
        self.response.command.next = self.command.val();
        self.response.frame_seq.next = self.frame_seq.val();
        self.response.err_any.next = self.err_any.val();
        self.response.addr.next = self.addr.val();
        self.response.count.next = self.count.val();
        self.response.is_identify.next = self.is_identify.val();
        self.response.is_read.next = self.is_read.val();
        self.response.is_input_only.next = false;
        self.response.is_run.next = self.is_run.val();
        self.response.is_infer.next = false;
        self.response.is_rewind.next = false;
        self.response.is_status.next = self.is_status.val();
        self.response.is_load_end.next = false;
        self.port1.d.next = self.response.raddr.val().get_bits::<16>(0)
            + (bit_cast::<16, 4>(self.response.raddr.val().get_bits::<4>(16)) << 12);
        self.port2.d.next = self.port1.q.val();
        self.port3.d.next = self.port2.q.val();
        self.response.rdata.next = self.port3.q.val();
        self.response.link_word.next =
            (bit_cast::<16, 3>(self.response.link_addr.val()) << 8) | 0xAA;
        self.response.ready.next = !self.tx_busy.q.val();
        self.taken.next = self.response.tx_valid.val() && !self.tx_busy.q.val();
        self.tx_busy.d.next = self.taken.val();
        self.response.crc.next = self.tcrc.crc.val();
        self.tcrc.init.next = self.response.crc_init.val();
        self.tcrc.strobe.next = self.response.crc_strobe.val();
        self.tcrc.data.next = self.response.crc_data.val();
    }
}

#[derive(Default, Debug)]
struct Responses {
    /// Each response as the SLIP encoder took it: `None` for END.
    frames: Vec<Vec<Option<u8>>>,
    activity: Vec<bool>,
}

#[test]
fn response_engine_streams_frames_from_the_host_port_link_words_and_rom() {
    let info = LinkConfig::from_build(&CU.info()).unwrap().build_info;
    let bench = ResponseBench {
        clock: Default::default(),
        respond: Default::default(),
        command: Default::default(),
        frame_seq: Default::default(),
        err_any: Default::default(),
        addr: Default::default(),
        count: Default::default(),
        is_identify: Default::default(),
        is_read: Default::default(),
        is_run: Default::default(),
        is_status: Default::default(),
        taken: Default::default(),
        response: ResponseEngine::new(&info).unwrap(),
        tcrc: Default::default(),
        port1: Default::default(),
        port2: Default::default(),
        port3: Default::default(),
        tx_busy: Default::default(),
    };
    // (command, sequence, error frame, READ address and count, flag)
    let asks: Vec<(u8, u8, bool, u32, u16, &str)> = vec![
        (0x01, 0x41, false, 0, 0, "identify"),
        (0x03, 0x42, false, 0x00123, 3, "read"),
        (0x05, 0x43, false, 0, 0, "run"),
        (0x09, 0x44, false, 0, 0, "status"),
        (0x02, 0x45, true, 0, 0, ""),
    ];
    let seen = simulate(bench, move |sim, mut x, seen: &mut Responses| {
        for (command, seq, err, addr, count, flag) in &asks {
            x.command.next = b8(*command);
            x.frame_seq.next = b8(*seq);
            x.err_any.next = *err;
            x.addr.next = (*addr as u64).into();
            x.count.next = (*count as u64).into();
            x.is_identify.next = *flag == "identify";
            x.is_read.next = *flag == "read";
            x.is_run.next = *flag == "run";
            x.is_status.next = *flag == "status";
            x.respond.next = true;
            x = tick(sim, x)?;
            x.respond.next = false;
            let mut frame = Vec::new();
            for _ in 0..2000 {
                x = tick(sim, x)?;
                if x.taken.val() {
                    let r = &x.response;
                    frame.push((!r.tx_end.val()).then(|| r.tx_data.val().index() as u8));
                }
                if x.response.idle.val() {
                    break;
                }
            }
            seen.frames.push(frame);
            seen.activity.push(x.response.led_activity.val());
        }
        Ok(x)
    });
    let words = |w: &[u16]| -> Vec<u8> { w.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let framed = |cmd: u8, seq: u8, payload: &[u8]| -> Vec<Option<u8>> {
        let mut f = vec![None];
        f.extend(frame_body(cmd, seq, payload).into_iter().map(Some));
        f.push(None);
        f
    };
    let status: Vec<u16> = (0..5).map(|i| 0x4000 + i).collect();
    // RUN: the status words, then 2 x classes words of logits, classes being the low
    // byte of configuration register 3 (0x1003 here: 3).
    let mut run = status.clone();
    run.extend((0..6).map(|i| 0x3000 + i));
    let mut stat = status.clone();
    stat.extend((0..5).map(|i| (i << 8) | 0xAA));
    let want = vec![
        framed(0x81, 0x41, &info),
        framed(0x83, 0x42, &words(&[0x0123, 0x0124, 0x0125])),
        framed(0x85, 0x43, &words(&run)),
        framed(0x89, 0x44, &words(&stat)),
        framed(0x7F, 0x45, &words(&[0x05AA, 0x06AA])),
    ];
    for (got, want) in seen.frames.iter().zip(&want) {
        assert_eq!(got, want);
    }
    assert_eq!(seen.frames.len(), want.len());
    // The activity LED toggles with every response.
    assert_eq!(seen.activity, vec![true, false, true, false, true]);
}
