//! The link in rust-hdl's simulator: the protocol scenarios of
//! `revspike_proto::protocol::conformance`, the core-facing commands against the
//! mock core, line noise, pipelining and overrun, and a synthesis check.

mod link_support;

use link_support::*;
use revspike_hdl::link::Link;
use revspike_proto::protocol::*;
use rust_hdl::prelude::*;

/// A model the mock core can "run": T = 4, 10 classes, `input_len`-byte inputs.
fn load_mock_model<T: Transport>(c: &mut Client<T>, input_len: u16) -> Result<(), String> {
    let mut config = vec![0u16; 9];
    config[0] = 4; // T
    config[3] = 10; // classes
    config[8] = input_len; // mock: input length
    let chunks = vec![(0x10000, config), (0x0, (0..32).collect())];
    match c.load(&chunks, 1) {
        Ok(true) => Ok(()),
        Ok(false) => Err("load not accepted".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn expected_logits(input: &[u8]) -> Vec<i32> {
    let s: i64 = input.iter().map(|&b| b as i64).sum();
    (0..10).map(|j| (s * (j + 1) - 1000 * j) as i32).collect()
}

fn check_run(r: &RunResult, input: &[u8]) -> Result<(), String> {
    let want = expected_logits(input);
    let best = (0..want.len()).fold(0, |b, j| if want[j] > want[b] { j } else { b });
    if r.logits != want || r.prediction as usize != best || r.timesteps != 4 || r.status != 0 {
        return Err(format!(
            "run result {r:?}, expected logits {want:?} prediction {best}"
        ));
    }
    Ok(())
}

fn err_of(e: &ClientError) -> Option<(ErrorCode, u16)> {
    match e {
        ClientError::Protocol(ProtocolError::Device { code, detail, .. }) => Some((*code, *detail)),
        _ => None,
    }
}

#[test]
fn link_conformance_at_12_mbaud() {
    let cfg = BenchConfig::new(12_000_000);
    let info = test_info(12_000_000);
    let timeout_us = (cfg.timeout_clocks as u64).div_ceil(100);
    run_bench(cfg, move |c| conformance::all(c, &info, timeout_us)).unwrap();
}

#[test]
fn link_input_run_infer_rewind_reset_on_mock_core() {
    run_bench(BenchConfig::new(12_000_000), |c| {
        let ce = |e: ClientError| e.to_string();
        load_mock_model(c, 16)?;
        let input: Vec<u8> = (0..16).map(|i| (i * 13 + 0xB0) as u8).collect();
        match c
            .request(&Command::Input {
                bytes: input.clone(),
            })
            .map_err(ce)?
        {
            Response::InputAccepted {
                status: 0,
                entries: 16,
            } => {}
            r => return Err(format!("INPUT answered {r:?}")),
        }
        let s = c.status().map_err(ce)?;
        if !s.input_valid || !s.loaded {
            return Err(format!("STATUS after INPUT: {s:?}"));
        }
        match c.request(&Command::Run).map_err(ce)? {
            Response::Run(r) => check_run(&r, &input)?,
            r => return Err(format!("RUN answered {r:?}")),
        }
        // INFER with a sample full of SLIP specials.
        let input2: Vec<u8> = (0..16)
            .map(|i| if i % 2 == 0 { 0xC0 } else { 0xDB })
            .collect();
        match c
            .request(&Command::Infer {
                bytes: input2.clone(),
            })
            .map_err(ce)?
        {
            Response::Run(r) => check_run(&r, &input2)?,
            r => return Err(format!("INFER answered {r:?}")),
        }
        match c.request(&Command::Rewind { steps: 3 }).map_err(ce)? {
            Response::Rewound { timesteps: 1 } => {}
            r => return Err(format!("REWIND 3 answered {r:?}")),
        }
        match c.request(&Command::Rewind { steps: 2 }) {
            Err(e) => match err_of(&e) {
                Some((ErrorCode::Core, 2)) => {}
                other => return Err(format!("REWIND past t=0 gave {other:?}")),
            },
            Ok(r) => return Err(format!("REWIND past t=0 answered {r:?}")),
        }
        // Wrong input length: the core refuses at commit.
        match c.request(&Command::Infer { bytes: vec![1; 15] }) {
            Err(e) => match err_of(&e) {
                Some((ErrorCode::Core, 3)) => {}
                other => return Err(format!("short INFER gave {other:?}")),
            },
            Ok(r) => return Err(format!("short INFER answered {r:?}")),
        }
        // And now there is no valid input.
        match c.request(&Command::Run) {
            Err(e) => match err_of(&e) {
                Some((ErrorCode::Core, 1)) => {}
                other => return Err(format!("RUN without input gave {other:?}")),
            },
            Ok(r) => return Err(format!("RUN without input answered {r:?}")),
        }
        // A corrupted INFER is aborted, not run.
        let runs_before = c.transport.bench()?.core._m.runs;
        let mut body = frame_body(CommandCode::Infer.code(), 0x21, &input);
        body[7] ^= 0x40;
        c.send_raw(&slip_encode(&body)).map_err(ce)?;
        match c.recv_response(0x21).map_err(ce)? {
            Response::Error { code, .. } if code == ErrorCode::BadCrc.code() => {}
            r => return Err(format!("corrupted INFER answered {r:?}")),
        }
        let m = &c.transport.bench()?.core._m;
        if m.runs != runs_before || m.aborts == 0 || m.input_valid {
            return Err(format!(
                "corrupted INFER reached the core: runs {} aborts {}",
                m.runs, m.aborts
            ));
        }
        // RESET clears the state and keeps the model.
        match c.request(&Command::Reset).map_err(ce)? {
            Response::ResetDone => {}
            r => return Err(format!("RESET answered {r:?}")),
        }
        let s = c.status().map_err(ce)?;
        if !s.loaded || s.core.timesteps != 0 || s.crc_errors != 0 {
            return Err(format!("STATUS after RESET: {s:?}"));
        }
        match c
            .request(&Command::Infer {
                bytes: input.clone(),
            })
            .map_err(ce)?
        {
            Response::Run(r) => check_run(&r, &input)?,
            r => return Err(format!("INFER after RESET answered {r:?}")),
        }
        // The turn-on state region reads through READ (STATE is READ of region 2).
        c.write(addr::STATE, &[5, 6, 7]).map_err(ce)?;
        let st = c.read(addr::STATE, 3).map_err(ce)?;
        if st != [5, 6, 7] {
            return Err(format!("state read {st:?}"));
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn link_survives_glitches_framing_errors_and_breaks() {
    run_bench(BenchConfig::new(12_000_000), |c| {
        let ce = |e: ClientError| e.to_string();
        let info = test_info(12_000_000);
        let before = c.status().map_err(ce)?;
        c.transport.send_events(&[
            WireEvent::Glitch(2),
            WireEvent::Idle(100),
            WireEvent::Glitch(3),
            WireEvent::Idle(100),
            WireEvent::BadStop(0x55),
            WireEvent::Idle(50),
            WireEvent::Glitch(250), // a break of 30 bit times
            WireEvent::Idle(100),
            WireEvent::BadStop(0xC0),
        ])?;
        conformance::still_alive(c, &info)?;
        let after = c.status().map_err(ce)?;
        let framing = after.framing_errors.wrapping_sub(before.framing_errors);
        if framing != 3 {
            return Err(format!(
                "expected 3 framing errors (2 bad stops, 1 break), counted {framing}"
            ));
        }
        // Noise inside a frame: the frame fails its CRC or length, the next one works.
        let wire = Command::Read { addr: 0, count: 4 }
            .to_frame(0x50)
            .map_err(|e| e.to_string())?;
        // Byte 6 of the frame arrives with a bad stop bit and is dropped.
        let mut ev: Vec<WireEvent> = wire[..6].iter().map(|&b| WireEvent::Byte(b)).collect();
        ev.push(WireEvent::BadStop(wire[6]));
        ev.extend(wire[7..].iter().map(|&b| WireEvent::Byte(b)));
        c.transport.send_events(&ev)?;
        match c.recv_response(0x50).map_err(ce)? {
            Response::Error { code, .. }
                if code == ErrorCode::Length.code() || code == ErrorCode::BadCrc.code() => {}
            r => return Err(format!("frame with a dropped byte answered {r:?}")),
        }
        conformance::still_alive(c, &info)
    })
    .unwrap();
}

#[test]
fn link_pipelines_infer_frames_with_padding_and_reports_overrun() {
    let mut cfg = BenchConfig::new(12_000_000);
    cfg.run_cycles = 3000; // 36 byte times: more than the FIFO holds
    run_bench(cfg, |c| {
        let ce = |e: ClientError| e.to_string();
        // Each INFER frame is longer on the wire than the previous frame's response
        // (flow-control rule 2), so only the execution time needs padding.
        load_mock_model(c, 80)?;
        let inputs: Vec<Vec<u8>> = (0..3u8)
            .map(|k| {
                (0..80u8)
                    .map(|i| i.wrapping_mul(7).wrapping_add(k * 40))
                    .collect()
            })
            .collect();
        // First INFER alone: learn the cycle count.
        let cycles = match c
            .request(&Command::Infer {
                bytes: inputs[0].clone(),
            })
            .map_err(ce)?
        {
            Response::Run(r) => {
                check_run(&r, &inputs[0])?;
                r.cycles as u64
            }
            r => return Err(format!("INFER answered {r:?}")),
        };
        // Three frames back to back, each followed by END padding.
        let pad = padding_ends(cycles + 100, BenchConfig::new(12_000_000).timing);
        let mut wire = Vec::new();
        let mut seqs = Vec::new();
        for (k, input) in inputs.iter().enumerate() {
            let seq = 0x60 + k as u8;
            seqs.push(seq);
            wire.extend(encode_frame(CommandCode::Infer.code(), seq, input));
            wire.extend(std::iter::repeat_n(SLIP_END, pad));
        }
        c.send_raw(&wire).map_err(ce)?;
        for (k, seq) in seqs.iter().enumerate() {
            match c.recv_response(*seq).map_err(ce)? {
                Response::Run(r) => check_run(&r, &inputs[k])?,
                r => return Err(format!("pipelined INFER {k} answered {r:?}")),
            }
        }
        // Without padding, bytes arriving during the run overflow the FIFO.
        let mut wire = encode_frame(CommandCode::Infer.code(), 0x70, &inputs[1]);
        wire.extend(encode_frame(
            CommandCode::Read.code(),
            0x71,
            &Command::Read { addr: 0, count: 30 }.payload(),
        ));
        c.send_raw(&wire).map_err(ce)?;
        match c.recv_response(0x70).map_err(ce)? {
            Response::Run(r) => check_run(&r, &inputs[1])?,
            r => return Err(format!("INFER before overrun answered {r:?}")),
        }
        match c.recv_response(0x71).map_err(ce)? {
            Response::Error { code, .. } if code == ErrorCode::Overrun.code() => {}
            r => return Err(format!("frame sent into a full FIFO answered {r:?}")),
        }
        let s = c.status().map_err(ce)?;
        if s.overruns == 0 {
            return Err(format!("overrun not counted: {s:?}"));
        }
        conformance::still_alive(c, &test_info(12_000_000))
    })
    .unwrap();
}

#[test]
fn link_verilog_passes_yosys() {
    let uut = Link::new(&BenchConfig::new(12_000_000).link_config()).unwrap();
    let v = revspike_hdl::emit::verilog(uut).unwrap();
    yosys_validate("revspike_link", &v).unwrap();
    link_support::synth::verilator_lint("revspike_link", &v).unwrap();
    let stats = link_support::synth::ice40_stats("revspike_link_synth", &v).unwrap();
    println!("link + UART + SLIP + CRC on iCE40: {stats}");
    assert!(stats.latches == 0, "latches inferred: {stats}");
    assert!(stats.cells > 0);
}

/// As [`load_mock_model`], with the mock's runs hanging (1: until aborted, 2: for good).
fn load_hanging_mock_model<T: Transport>(
    c: &mut Client<T>,
    input_len: u16,
    hang: u16,
) -> Result<(), String> {
    let mut config = vec![0u16; 10];
    config[0] = 4;
    config[3] = 10;
    config[8] = input_len;
    config[9] = hang;
    match c.load(&[(0x10000, config)], 1) {
        Ok(true) => Ok(()),
        Ok(false) => Err("load not accepted".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn link_watchdog_aborts_a_runaway_run_and_reset_gets_through() {
    let mut cfg = BenchConfig::new(12_000_000);
    cfg.watchdog_cycles = 3000;
    run_bench(cfg, |c| {
        let ce = |e: ClientError| e.to_string();
        let input: Vec<u8> = (1..=16).collect();
        // A run that would never end: stopped by the watchdog, answered CORE with the
        // watchdog detail, and the model dropped.
        load_hanging_mock_model(c, 16, 1)?;
        match c.request(&Command::Infer {
            bytes: input.clone(),
        }) {
            Err(e) => match err_of(&e) {
                Some((ErrorCode::Core, CORE_DETAIL_WATCHDOG)) => {}
                other => return Err(format!("runaway INFER gave {other:?}")),
            },
            Ok(r) => return Err(format!("runaway INFER answered {r:?}")),
        }
        let m = &c.transport.bench()?.core._m;
        if m.aborted != 1 {
            return Err(format!("the core was aborted {} times", m.aborted));
        }
        let s = c.status().map_err(ce)?;
        if s.loaded || s.last_error != ErrorCode::Core.code() {
            return Err(format!("STATUS after the watchdog: {s:?}"));
        }
        match c.request(&Command::Run) {
            Err(e) if err_of(&e) == Some((ErrorCode::NotLoaded, 0)) => {}
            r => return Err(format!("RUN after the watchdog answered {r:?}")),
        }
        // A runaway INFER and a RESET back to back: the RESET is answered once the
        // watchdog has stopped the run.
        load_hanging_mock_model(c, 16, 1)?;
        let mut wire = encode_frame(CommandCode::Infer.code(), 0x31, &input);
        wire.extend(encode_frame(CommandCode::Reset.code(), 0x32, &[]));
        c.send_raw(&wire).map_err(ce)?;
        match c.recv_response(0x31).map_err(ce)? {
            Response::Error {
                code: 7, detail, ..
            } if detail == CORE_DETAIL_WATCHDOG => {}
            r => return Err(format!("runaway INFER answered {r:?}")),
        }
        match c.recv_response(0x32).map_err(ce)? {
            Response::ResetDone => {}
            r => return Err(format!("RESET behind a runaway INFER answered {r:?}")),
        }
        // A core that ignores the abort: RESET still gets an answer (the watchdog's).
        load_hanging_mock_model(c, 16, 2)?;
        match c.request(&Command::Infer {
            bytes: input.clone(),
        }) {
            Err(e) if err_of(&e) == Some((ErrorCode::Core, CORE_DETAIL_WATCHDOG)) => {}
            r => return Err(format!("INFER on a stuck core answered {r:?}")),
        }
        match c.request(&Command::Reset) {
            Err(e) if err_of(&e) == Some((ErrorCode::Core, CORE_DETAIL_WATCHDOG)) => {}
            r => return Err(format!("RESET on a stuck core answered {r:?}")),
        }
        // Unstick the mock (as a power cycle would) and check the link works on.
        {
            let m = &mut c.transport.bench()?.core._m;
            m.mem.remove(&revspike_hdl::mock_core::MOCK_HANG_REG);
            m.busy_left = 1;
            m.violations = 0;
        }
        load_mock_model(c, 16)?;
        match c
            .request(&Command::Infer {
                bytes: input.clone(),
            })
            .map_err(ce)?
        {
            Response::Run(r) => check_run(&r, &input),
            r => Err(format!("INFER after recovery answered {r:?}")),
        }
    })
    .unwrap();
}

#[test]
fn link_expands_infer_packed_and_refuses_bad_encodings() {
    run_bench(BenchConfig::new(12_000_000), |c| {
        let ce = |e: ClientError| e.to_string();
        load_mock_model(c, 600)?;
        // Long and short zero runs and SLIP specials.
        let input: Vec<u8> = (0..600usize)
            .map(|i| match i {
                100..=399 => 0,
                _ if i % 7 == 3 => 0xC0,
                _ if i % 5 == 0 => 0,
                _ => (i as u8) | 1,
            })
            .collect();
        let packed = zero_run::encode(&input);
        if zero_run::decode(&packed) != Ok(input.clone()) || packed.len() >= input.len() {
            return Err(format!("{} packed bytes do not round-trip", packed.len()));
        }
        match c
            .request(&Command::InferPacked {
                packed: packed.clone(),
            })
            .map_err(ce)?
        {
            Response::Run(r) => check_run(&r, &input)?,
            r => return Err(format!("INFER_PACKED answered {r:?}")),
        }
        // Runs of 256 (longer than the host's encoder makes) expand too.
        let long = vec![0, 255, 0, 255, 5, 0, 86];
        let values = zero_run::decode(&long).unwrap();
        match c
            .request(&Command::InferPacked { packed: long })
            .map_err(ce)?
        {
            Response::Run(r) => check_run(&r, &values)?,
            r => return Err(format!("INFER_PACKED of long runs answered {r:?}")),
        }
        let runs = c.transport.bench()?.core._m.runs;
        // Ends inside a token; expands past MAX_PAYLOAD: refused, never run.
        // (A 0x00 after whole tokens: the last 0x00 of `packed` may be a count byte.)
        let mut truncated = zero_run::encode(&input[..500]);
        truncated.push(0);
        // Runs cut as the host's encoder cuts them, so the expansion keeps up with the
        // line and the length check, not the receive FIFO, refuses it.
        let too_long = zero_run::encode(&vec![0; MAX_PAYLOAD + 1]);
        if zero_run::decode(&truncated) != Err(zero_run::Error::Truncated)
            || zero_run::decode(&too_long) != Err(zero_run::Error::TooLong)
        {
            return Err("the malformed payloads are not malformed".into());
        }
        for (what, p) in [("truncated", truncated), ("too long", too_long)] {
            match c.request(&Command::InferPacked { packed: p }) {
                Err(e) if err_of(&e) == Some((ErrorCode::BadArguments, 0)) => {}
                r => return Err(format!("{what} INFER_PACKED answered {r:?}")),
            }
        }
        // One value short: the core refuses the length, as for a raw INFER.
        let mut short = input.clone();
        short.pop();
        match c.request(&Command::InferPacked {
            packed: zero_run::encode(&short),
        }) {
            Err(e) if err_of(&e) == Some((ErrorCode::Core, 3)) => {}
            r => return Err(format!("short INFER_PACKED answered {r:?}")),
        }
        if c.transport.bench()?.core._m.runs != runs {
            return Err("a refused INFER_PACKED ran".into());
        }
        // No clean model: NOT_LOADED, and the core's input untouched.
        let starts = c.transport.bench()?.core._m.commits;
        c.request(&Command::LoadBegin).map_err(ce)?;
        match c.request(&Command::InferPacked { packed }) {
            Err(e) if err_of(&e) == Some((ErrorCode::NotLoaded, 0)) => {}
            r => return Err(format!("INFER_PACKED without a model answered {r:?}")),
        }
        let m = &c.transport.bench()?.core._m;
        if m.commits != starts || m.input_count != 599 {
            return Err(format!(
                "the refused INFER_PACKED reached the core: {} commits, {} values",
                m.commits, m.input_count
            ));
        }
        Ok(())
    })
    .unwrap();
}
