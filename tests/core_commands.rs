//! The core's commands ending however they are given: a descriptor program without a
//! last descriptor ends with BAD_PROGRAM instead of running forever, and `abort` stops
//! any command within a few cycles with ABORTED. Each in rust-hdl's simulator and on
//! the emitted Verilog in Verilator; every wait has a cycle limit, so a core that
//! never finishes fails the test instead of hanging it.

use revspike_golden::gen::{gen_input, gen_model};
use revspike_golden::model::Model;
use revspike_hdl::builds::{memories, SmallCore};
use revspike_hdl::core_sim::RustHdlCore;
use revspike_proto::build::SMALL;
use revspike_proto::contract::{ConfigReg, Region, StatusCode};
use revspike_proto::core_port::{check_against_golden, CoreDriver, CorePort, DriveError};
use revspike_proto::image::compile;
use revspike_tests::VerilatedCore;

/// Longest a command may take on the small build: every row a descriptor of one
/// output and an empty source (about 30 cycles each), for one timestep.
const BOUND: u64 = 30 * SMALL.rows as u64 + 1_000;
/// An abort answers within this many cycles (the neuron unit's pipeline drains first).
const ABORT_CYCLES: u64 = 20;

fn rust_hdl_core() -> CoreDriver<RustHdlCore<8, 64>> {
    CoreDriver::new(RustHdlCore::new(SmallCore::new(memories(&SMALL))))
}

fn verilated_core() -> CoreDriver<VerilatedCore> {
    VerilatedCore::new(&SMALL)
        .expect("verilator builds the core")
        .driver()
}

/// A model that fits the small build and runs a few thousand cycles.
fn model() -> (Model, Vec<u8>) {
    let opts = SMALL.small_gen_options();
    (0..)
        .map(|seed| gen_model(seed, &opts))
        .find(|m| SMALL.check(m).is_ok() && m.timesteps >= 2)
        .map(|m| {
            let input = gen_input(&m, 7);
            (m, input)
        })
        .expect("a generated model fits")
}

/// 2,048 zero words at row 0 (descriptors without a last bit everywhere), then the
/// model's configuration with both programs starting at row 0.
fn load_program_without_last<C: CorePort>(drv: &mut CoreDriver<C>, model: &Model) {
    drv.write(Region::Rows.base(), &[0; 2048]);
    for (reg, v) in compile(model, &SMALL).config {
        let v = match reg {
            ConfigReg::ForwardProgram | ConfigReg::RewindProgram => 0,
            _ => v,
        };
        drv.write(reg.address(), &[v]);
    }
}

fn a_program_without_last_descriptor_ends<C: CorePort>(mut drv: CoreDriver<C>) {
    let (model, input) = model();
    drv.max_cycles = BOUND;
    load_program_without_last(&mut drv, &model);
    drv.send_input(&input).expect("the input fits");
    match drv.run(model.classes) {
        Err(DriveError::Status(StatusCode::BadProgram)) => {}
        other => panic!("a program without a last descriptor: {other:?}"),
    }
    assert_eq!(
        drv.timesteps_done(),
        0,
        "nothing to rewind after a bad program"
    );
    // The core is still usable: a good image runs bit-exact afterwards.
    drv.max_cycles = 50_000_000;
    drv.load(&compile(&model, &SMALL));
    check_against_golden(&mut drv, &model, SMALL.max_width, &input, true)
        .unwrap_or_else(|e| panic!("after a bad program: {e}"));
}

fn abort_stops_every_command<C: CorePort>(mut drv: CoreDriver<C>) {
    let (model, input) = model();
    drv.load(&compile(&model, &SMALL));
    // Idle: `done` answers, the status stays.
    let (n, s) = drv.abort().expect("an idle abort answers");
    assert!(n <= ABORT_CYCLES, "idle abort took {n} cycles");
    assert_eq!(s, StatusCode::Ok);
    // A run, stopped early, in its middle and late.
    let full = {
        drv.send_input(&input).unwrap();
        drv.run(model.classes).unwrap().cycles as u64
    };
    for after in [3, full / 2, full * 9 / 10] {
        drv.send_input(&input).unwrap();
        drv.start_run();
        for _ in 0..after {
            drv.port.tick();
        }
        let (n, s) = drv.abort().expect("the abort answers");
        assert_eq!(s, StatusCode::Aborted, "run aborted after {after} cycles");
        assert!(n <= ABORT_CYCLES, "abort after {after} cycles took {n}");
        assert_eq!(drv.timesteps_done(), 0);
        assert!(matches!(
            drv.rewind(),
            Err(DriveError::Status(StatusCode::NothingToRewind))
        ));
    }
    // A bad program, aborted long before it would end on its own.
    drv.max_cycles = BOUND;
    load_program_without_last(&mut drv, &model);
    drv.send_input(&input).unwrap();
    drv.start_run();
    for _ in 0..1_000 {
        drv.port.tick();
    }
    let (n, s) = drv.abort().expect("the abort answers");
    assert_eq!(
        (s, n <= ABORT_CYCLES),
        (StatusCode::Aborted, true),
        "{n} cycles"
    );
    // After any of these, the core runs a model bit-exact.
    drv.max_cycles = 50_000_000;
    drv.load(&compile(&model, &SMALL));
    check_against_golden(&mut drv, &model, SMALL.max_width, &input, true)
        .unwrap_or_else(|e| panic!("after the aborts: {e}"));
}

#[test]
fn a_program_without_last_descriptor_ends_in_rust_hdl_sim() {
    a_program_without_last_descriptor_ends(rust_hdl_core());
}

#[test]
fn a_program_without_last_descriptor_ends_in_verilator() {
    a_program_without_last_descriptor_ends(verilated_core());
}

#[test]
fn abort_stops_every_command_in_rust_hdl_sim() {
    abort_stops_every_command(rust_hdl_core());
}

#[test]
fn abort_stops_every_command_in_verilator() {
    abort_stops_every_command(verilated_core());
}
