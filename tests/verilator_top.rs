//! The emitted Verilog of the whole board top level (UART, link, core), Verilated and
//! driven over its UART pins exactly as the host drives the board: every link
//! conformance scenario (bad CRCs, truncated and oversized frames, garbage between
//! frames, a reset in the middle of a load, a half frame timing out), then generated
//! models loaded and run end to end against the golden model; and the shipped Cu
//! build's top level (the bitstream's design) running the shipped model on
//! Fashion-MNIST test images.

use revspike_golden::gen::{gen_input, gen_model};
use revspike_golden::sim::infer;
use revspike_proto::build::{CU, SMALL};
use revspike_proto::image::compile;
use revspike_proto::protocol::{conformance, Client, Command, Response, MAX_WRITE_WORDS};
use revspike_tests::BridgeTransport;

fn client() -> Client<BridgeTransport> {
    Client::new(BridgeTransport::new(&SMALL).expect("verilator builds the small top level"))
}

#[test]
fn link_conformance_on_the_verilated_top_level() {
    let mut c = client();
    let info = SMALL.info();
    if let Err(e) = conformance::all(&mut c, &info, 2_000) {
        panic!("{e}");
    }
}

#[test]
fn generated_models_over_the_uart_match_golden() {
    let mut c = client();
    let opts = SMALL.small_gen_options();
    let mut checked = 0;
    for seed in 7000..7400 {
        let model = gen_model(seed, &opts);
        if SMALL.check(&model).is_err() {
            continue;
        }
        let image = compile(&model, &SMALL);
        assert!(
            c.load(&image.writes(), 3).expect("load"),
            "seed {seed}: model not loaded"
        );
        for k in 0..3 {
            let input = gen_input(&model, seed * 10 + k);
            let gold = infer(&model, &input).unwrap();
            match c
                .request(&Command::Infer {
                    bytes: input.clone(),
                })
                .expect("infer")
            {
                Response::Run(r) => {
                    let logits = r.logits_i64();
                    assert_eq!(logits, gold.logits, "seed {seed} input {k}: logits");
                    assert_eq!(
                        r.prediction as usize, gold.prediction,
                        "seed {seed}: prediction"
                    );
                    assert_eq!(
                        r.timesteps as usize, model.timesteps,
                        "seed {seed}: timesteps"
                    );
                }
                r => panic!("seed {seed}: unexpected response {r:?}"),
            }
        }
        checked += 1;
        if checked == 8 {
            break;
        }
    }
    assert_eq!(checked, 8);
}

/// The first `n` Fashion-MNIST test images (generated inputs where the dataset is
/// not installed, so the check still runs).
fn test_images(model: &revspike_golden::Model, n: usize) -> Vec<Vec<u8>> {
    use std::io::Read;
    let path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    let Ok(f) = std::fs::File::open(path) else {
        eprintln!("{path} not installed: generated inputs instead");
        return (0..n as u64).map(|k| gen_input(model, k)).collect();
    };
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f)
        .take(16 + 784 * n as u64)
        .read_to_end(&mut raw)
        .expect("the dataset unpacks");
    raw[16..].chunks(784).map(|c| c.to_vec()).collect()
}

#[test]
fn the_shipped_model_on_the_cu_top_level_matches_golden() {
    let model = revspike_golden::Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion-cu.json"
    ))
    .expect("the shipped model loads");
    let mut c = Client::new(BridgeTransport::new(&CU).expect("verilator builds the Cu top level"));
    assert_eq!(c.identify().expect("identify"), CU.info());
    // WRITE frames of at most MAX_WRITE_WORDS, as the host sends them.
    let chunks: Vec<(u32, Vec<u16>)> = compile(&model, &CU)
        .writes()
        .into_iter()
        .flat_map(|(addr, words)| {
            let n = MAX_WRITE_WORDS;
            (0..words.len().div_ceil(n))
                .map(|k| {
                    let end = words.len().min((k + 1) * n);
                    (addr + (k * n) as u32, words[k * n..end].to_vec())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(c.load(&chunks, 3).expect("load"), "model not loaded");
    for (k, input) in test_images(&model, 3).into_iter().enumerate() {
        let gold = infer(&model, &input).unwrap();
        match c.request(&Command::Infer { bytes: input }).expect("infer") {
            Response::Run(r) => {
                let logits = r.logits_i64();
                assert_eq!(logits, gold.logits, "image {k}: logits");
                assert_eq!(r.prediction as usize, gold.prediction, "image {k}");
                assert_eq!(r.timesteps as usize, model.timesteps, "image {k}");
                assert!(r.cycles > 0, "image {k}: no cycles counted");
            }
            r => panic!("image {k}: unexpected response {r:?}"),
        }
    }
}

// ---- Hardening (issue #17, device and link items 1-3) ----------------------------

use revspike_proto::protocol::{
    addr, encode_frame, CommandCode, ErrorCode, ProtocolError, RunResult, Transport, SLIP_END,
};

/// A generated model that fits the small build, its image writes, and one input.
fn small_model(seed: u64) -> (revspike_golden::Model, Vec<(u32, Vec<u16>)>) {
    let opts = SMALL.small_gen_options();
    let model = (seed..seed + 400)
        .map(|s| gen_model(s, &opts))
        .find(|m| SMALL.check(m).is_ok())
        .expect("a generated model fits the small build");
    let writes = compile(&model, &SMALL).writes();
    (model, writes)
}

fn device_error(r: Result<Response, revspike_proto::protocol::ClientError>) -> (ErrorCode, u16) {
    match r {
        Err(revspike_proto::protocol::ClientError::Protocol(ProtocolError::Device {
            code,
            detail,
            ..
        })) => (code, detail),
        other => panic!("expected a device error, got {other:?}"),
    }
}

fn run_result(r: Response) -> RunResult {
    match r {
        Response::Run(r) => r,
        other => panic!("expected a run result, got {other:?}"),
    }
}

fn assert_golden(model: &revspike_golden::Model, input: &[u8], r: &RunResult) {
    let gold = infer(model, input).unwrap();
    let logits = r.logits_i64();
    assert_eq!(logits, gold.logits, "logits");
    assert_eq!(r.prediction as usize, gold.prediction, "prediction");
}

#[test]
fn infer_without_a_model_is_not_loaded_and_leaves_the_input_alone() {
    let mut c = client();
    let (model, writes) = small_model(7100);
    let x = gen_input(&model, 1);
    // Nothing loaded yet: RUN and INFER answer NOT_LOADED, not CORE.
    assert_eq!(
        device_error(c.request(&Command::Run)).0,
        ErrorCode::NotLoaded
    );
    assert_eq!(
        device_error(c.request(&Command::Infer { bytes: x.clone() })).0,
        ErrorCode::NotLoaded
    );
    assert!(c.load(&writes, 0).unwrap());
    match c.request(&Command::Input { bytes: x.clone() }).unwrap() {
        Response::InputAccepted { status: 0, .. } => {}
        r => panic!("INPUT answered {r:?}"),
    }
    // A load in progress: INFER of another input is refused before its bytes reach
    // the core, so the committed input survives it.
    c.request(&Command::LoadBegin).unwrap();
    let y: Vec<u8> = x.iter().map(|v| v.wrapping_add(1)).collect();
    assert_eq!(
        device_error(c.request(&Command::Infer { bytes: y })).0,
        ErrorCode::NotLoaded
    );
    assert!(
        c.status().unwrap().input_valid,
        "the refused INFER touched the input"
    );
    assert!(c.load(&writes, 0).unwrap());
    let r = run_result(c.request(&Command::Run).unwrap());
    assert_golden(&model, &x, &r);
}

#[test]
fn write_after_load_end_clears_loaded_and_bad_addresses_are_refused() {
    let mut c = client();
    let (model, writes) = small_model(7200);
    let x = gen_input(&model, 2);
    assert!(c.load(&writes, 0).unwrap());
    let first = c.read(addr::MEMORY, 2).unwrap();
    // Region 2 (turn-on state) is not part of the model: loaded stays.
    c.write(addr::STATE, &[0]).unwrap();
    assert!(c.status().unwrap().loaded);
    // Unmapped regions, read-only regions and ranges that leave their region.
    for (a, n) in [
        (0xF_FFFEu32, 4usize),
        (0x5_0000, 1),
        (0xF_0000, 1),
        (addr::LOGITS, 1),
        (addr::STATUS, 1),
        (0x0_FFFF, 2),
        (0x1_FFFF, 2),
    ] {
        let mut p = a.to_le_bytes().to_vec();
        p.extend(std::iter::repeat_n(0xA5, 2 * n));
        c.send_raw(&encode_frame(CommandCode::Write.code(), 0x40, &p))
            .unwrap();
        match c.recv_response(0x40).unwrap() {
            Response::Error { cmd: 2, code, .. } if code == ErrorCode::BadArguments.code() => {}
            r => panic!("WRITE at 0x{a:05x} of {n} words answered {r:?}"),
        }
    }
    for (a, n) in [(0x5_0000u32, 1u16), (0xF_0000, 1), (0x0_FFFF, 2)] {
        let mut p = a.to_le_bytes().to_vec();
        p.extend(n.to_le_bytes());
        c.send_raw(&encode_frame(CommandCode::Read.code(), 0x41, &p))
            .unwrap();
        match c.recv_response(0x41).unwrap() {
            Response::Error { cmd: 3, code, .. } if code == ErrorCode::BadArguments.code() => {}
            r => panic!("READ at 0x{a:05x} of {n} words answered {r:?}"),
        }
    }
    // Nothing wrapped onto region 0. A refused WRITE marks the load dirty, as every
    // failed WRITE does (docs/protocol.md): the host reloads.
    assert_eq!(c.read(addr::MEMORY, 2).unwrap(), first);
    let s = c.status().unwrap();
    assert!(
        s.dirty && s.last_error == ErrorCode::BadArguments.code(),
        "{s:?}"
    );
    assert!(c.load(&writes, 0).unwrap());
    let r = run_result(c.request(&Command::Infer { bytes: x.clone() }).unwrap());
    assert_golden(&model, &x, &r);
    // A WRITE to the model after LOAD_END: no longer the model LOAD_END checked.
    c.write(addr::MEMORY, &first[..1]).unwrap();
    assert!(!c.status().unwrap().loaded);
    assert_eq!(
        device_error(c.request(&Command::Infer { bytes: x.clone() })).0,
        ErrorCode::NotLoaded
    );
    c.write(addr::CONFIG, &[model.timesteps as u16]).unwrap();
    assert!(c.load(&writes, 0).unwrap());
    let r = run_result(c.request(&Command::Infer { bytes: x.clone() }).unwrap());
    assert_golden(&model, &x, &r);
}

#[test]
fn receive_fifo_overflow_answers_overrun_and_keeps_the_next_frame() {
    let mut c = client();
    let read = |seq: u8| {
        Command::Read {
            addr: 0x2_0011,
            count: 2048,
        }
        .to_frame(seq)
        .unwrap()
    };
    // Two long READs, a STATUS and an IDENTIFY back to back: the IDENTIFY arrives
    // while the receive FIFO is full.
    let mut wire = read(0x10);
    wire.extend(read(0x11));
    wire.extend(Command::Status.to_frame(0x12).unwrap());
    wire.extend(Command::Identify.to_frame(0x13).unwrap());
    c.send_raw(&wire).unwrap();
    for seq in [0x10, 0x11] {
        match c.recv_response(seq).unwrap() {
            Response::Read(w) if w.len() == 2048 => {}
            r => panic!("READ {seq} answered {r:?}"),
        }
    }
    match c.recv_response(0x12).unwrap() {
        Response::Status(_) => {}
        r => panic!("STATUS answered {r:?}"),
    }
    match c.recv_response(0x13).unwrap() {
        Response::Error { cmd: 1, code, .. } if code == ErrorCode::Overrun.code() => {}
        r => panic!("the frame cut by the overflow answered {r:?}"),
    }
    // Later, a clean frame is answered.
    c.transport.pause(3_000).unwrap();
    let s = c.status().unwrap();
    assert!(s.overruns > 0, "{s:?}");
    assert_eq!(c.identify().unwrap(), SMALL.info());
    let _ = SLIP_END;
}

// ---- Bit timing on the emitted Verilog (issue #16) -------------------------------

/// 256 words covering every byte value (and so every SLIP special), written and read
/// back, then IDENTIFY: what a host whose rate is off would break first.
fn every_byte_round_trip(c: &mut Client<BridgeTransport>) -> Result<(), String> {
    let words: Vec<u16> = (0..256u16).map(|i| i | ((255 - i) << 8)).collect();
    c.write(0x100, &words).map_err(|e| e.to_string())?;
    let back = c.read(0x100, 256).map_err(|e| e.to_string())?;
    if back != words {
        return Err("read back differs".into());
    }
    match c.identify() {
        Ok(i) if i == SMALL.info() => Ok(()),
        r => Err(format!("IDENTIFY gave {r:?}")),
    }
}

#[test]
fn the_verilated_uart_takes_a_host_2_and_3_percent_off_at_12_mbaud() {
    assert_eq!(SMALL.baud, 12_000_000);
    for ppm in [0, -20_000, 20_000, -30_000, 30_000] {
        let mut c = client();
        c.transport.bridge.set_send_rate_ppm(ppm);
        if let Err(e) = every_byte_round_trip(&mut c) {
            panic!("host off by {ppm} ppm: {e}");
        }
        assert_eq!(c.status().unwrap().framing_errors, 0, "{ppm} ppm");
    }
    // 7 % off is beyond what any receiver can take: the check can tell.
    for ppm in [-70_000, 70_000] {
        let mut c = client();
        c.transport.bridge.set_send_rate_ppm(ppm);
        c.transport.patience_cycles = 1_000_000;
        c.patience = 1;
        assert!(
            every_byte_round_trip(&mut c).is_err(),
            "a host {ppm} ppm off went unnoticed"
        );
    }
}

#[test]
fn infer_packed_over_the_uart_matches_golden() {
    let mut c = client();
    let (model, writes) = small_model(7300);
    assert!(c.load(&writes, 0).unwrap());
    for k in 0..6u64 {
        let mut x = gen_input(&model, 40 + k);
        // Sparse inputs (zero runs of every length), as real images are.
        for (i, v) in x.iter_mut().enumerate() {
            if !(i as u64 + k).is_multiple_of(3) {
                *v = 0;
            }
        }
        let packed = revspike_proto::protocol::zero_run::encode(&x);
        let r = run_result(c.request(&Command::InferPacked { packed }).unwrap());
        assert_golden(&model, &x, &r);
        let r = run_result(c.request(&Command::infer_smallest(&x)).unwrap());
        assert_golden(&model, &x, &r);
    }
}

/// The watchdog bound against the longest runs the generator finds: big models that
/// fit the small build (every stage, block and timestep it allows) with every input
/// value nonzero, run on the Verilated core.
#[test]
fn the_watchdog_bound_is_far_above_the_longest_runs() {
    use revspike_hdl::link::{watchdog_cycles, worst_run_cycles};
    use revspike_proto::core_port::CoreDriver;
    let info = SMALL.info();
    let bound = worst_run_cycles(&info);
    let watchdog = watchdog_cycles(&info);
    assert!(watchdog >= 4 * bound && watchdog.is_power_of_two());
    let opts = revspike_golden::GenOptions {
        max_width: SMALL.max_width,
        max_classes: SMALL.max_width,
        max_group_len: 256,
        ..revspike_golden::GenOptions::default()
    };
    let mut drv: CoreDriver<revspike_tests::VerilatedCore> =
        revspike_tests::VerilatedCore::new(&SMALL)
            .expect("verilator builds the core")
            .driver();
    let (mut longest, mut runs) = (0u64, 0);
    for seed in 0..400u64 {
        let model = gen_model(seed, &opts);
        if SMALL.check(&model).is_err() || model.timesteps * model.stages.len() < 24 {
            continue;
        }
        drv.load(&compile(&model, &SMALL));
        let n = gen_input(&model, seed).len();
        drv.send_input(&vec![255; n]).expect("input accepted");
        let r = drv.run(model.classes).expect("run");
        longest = longest.max(u64::from(r.cycles));
        runs += 1;
        if runs == 12 {
            break;
        }
    }
    assert!(runs >= 4, "only {runs} big models fit");
    println!(
        "longest of {runs} big runs: {longest} clocks; bound {bound}, watchdog {watchdog} \
         ({:.0}x the longest)",
        watchdog as f64 / longest as f64
    );
    assert!(longest <= bound, "{longest} > {bound}");
}
