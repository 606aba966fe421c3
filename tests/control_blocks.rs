//! The core's control blocks on their own, each in rust-hdl's simulator and on its
//! emitted Verilog in Verilator, driven by the same test through its ports by name:
//! the host register file against the contract's address map, and the sequencer
//! against a datapath the test stands in for (descriptor programs, event counts,
//! a neuron unit that stays busy a while after each drain).

use revspike_hdl::host_registers::HostRegisters;
use revspike_hdl::sequencer::{Sequencer, SequencerLayout};
use revspike_proto::contract::{logit_address, ConfigReg, CoreStatus, Region, StatusReg};
use revspike_tests::{block_pins, rust_hdl_pins};

block_pins!();

rust_hdl_pins!(
    HostRegisters<64>,
    in: [idle, we, addr, wdata, raddr, t_done, prediction, cycles, status, entries, row_data,
        state_data, logit_data],
    out: [rdata, cfg_t, cfg_g, cfg_repeat, cfg_sum, cfg_classes, cfg_fwd, cfg_rev, cfg_stride,
        row_we, row_waddr, row_wword, row_wdata, rd_row_addr, rd_state, rd_state_addr,
        rd_logit, rd_logit_addr]
);

rust_hdl_pins!(
    Sequencer<0>,
    in: [run, rewind, clear, input_commit, input_abort, input_ok, input_status, cfg_t,
        cfg_repeat, cfg_classes, cfg_fwd, cfg_rev, cfg_stride, last, skip_first_step,
        src_input, tile, param_base, last_channel, src_base, src_count, list_data,
        neuron_busy],
    out: [busy, idle, done, status, t, t_done, first_step, cycles, push_base, rev_base, pc,
        fetch, decode, tile_start, retire, list_read, list_addr, ev_ptr, ev_fetch, draining, ch,
        param_read, param_addr, state_clear, argmax, index]
);

// ---------------------------------------------------------------------------------
// The host register file
// ---------------------------------------------------------------------------------

/// Bits the core keeps of each configuration register.
const CONFIG_BITS: [(ConfigReg, u32); 8] = [
    (ConfigReg::T, 5),
    (ConfigReg::G, 11),
    (ConfigReg::Flags, 2),
    (ConfigReg::Classes, 9),
    (ConfigReg::ForwardProgram, 12),
    (ConfigReg::RewindProgram, 12),
    (ConfigReg::Stride, 12),
    (ConfigReg::Stages, 3),
];

/// Stand-in memories: a word of each, one cycle after its address (as a block RAM).
fn row_word(row: u64) -> u64 {
    row.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn state_word(a: u64) -> u64 {
    (a * 7 + 3) & 0xFFFF
}

fn logit_word(a: u64) -> u64 {
    (a * 0x0101_0001 + 0x8000_0000) & 0xFFFF_FFFF
}

/// One cycle of the register file with its memories.
fn regs_tick(p: &mut impl Pins) {
    let (row, state, logit) = (
        p.get("rd_row_addr"),
        p.get("rd_state_addr"),
        p.get("rd_logit_addr"),
    );
    p.tick();
    p.set("row_data", row_word(row));
    p.set("state_data", state_word(state));
    p.set("logit_data", logit_word(logit));
}

/// A write, and the cycle it takes to land.
fn regs_write(p: &mut impl Pins, addr: u32, v: u16) {
    p.set("we", 1);
    p.set("addr", addr as u64);
    p.set("wdata", v as u64);
    regs_tick(p);
    p.set("we", 0);
    regs_tick(p);
}

/// The word at `addr`, three cycles after the address.
fn regs_read(p: &mut impl Pins, addr: u32) -> u64 {
    p.set("raddr", addr as u64);
    for _ in 0..3 {
        regs_tick(p);
    }
    p.get("rdata")
}

fn host_registers_follow_the_address_map(mut p: impl Pins) {
    p.set("idle", 1);
    for (k, &(reg, bits)) in CONFIG_BITS.iter().enumerate() {
        let v = 0xA5C3u16.rotate_left(k as u32);
        regs_write(&mut p, reg.address(), v);
        assert_eq!(
            regs_read(&mut p, reg.address()),
            v as u64 & ((1 << bits) - 1),
            "{reg:?}"
        );
    }
    regs_write(&mut p, ConfigReg::Flags.address(), 0b10);
    assert_eq!((p.get("cfg_repeat"), p.get("cfg_sum")), (0, 1));
    regs_write(&mut p, ConfigReg::T.address(), 9);
    regs_write(&mut p, ConfigReg::RewindProgram.address(), 345);
    assert_eq!((p.get("cfg_t"), p.get("cfg_rev")), (9, 345));
    // Not idle: writes are dropped and the memories are the sequencer's.
    p.set("idle", 0);
    regs_write(&mut p, ConfigReg::T.address(), 3);
    p.set("raddr", Region::State.base() as u64);
    assert_eq!((p.get("cfg_t"), p.get("rd_state")), (9, 0));
    p.set("idle", 1);
    // Row words: word k of row r is at r * 4 + k; the write lands the cycle after.
    p.set("we", 1);
    p.set("addr", (Region::Rows.base() + 37 * 4 + 2) as u64);
    p.set("wdata", 0xBEEF);
    regs_tick(&mut p);
    p.set("we", 0);
    assert_eq!(
        (
            p.get("row_we"),
            p.get("row_waddr"),
            p.get("row_wword"),
            p.get("row_wdata")
        ),
        (1, 37, 2, 0xBEEF)
    );
    regs_tick(&mut p);
    assert_eq!(p.get("row_we"), 0);
    for k in 0..4 {
        let got = regs_read(&mut p, Region::Rows.base() + 11 * 4 + k);
        assert_eq!(got, (row_word(11) >> (16 * k)) & 0xFFFF, "row word {k}");
    }
    assert_eq!(regs_read(&mut p, Region::State.base() + 70), state_word(70));
    for half in 0..2 {
        let got = regs_read(&mut p, logit_address(5, half));
        assert_eq!(
            got,
            (logit_word(5) >> (16 * half)) & 0xFFFF,
            "logit half {half}"
        );
    }
    // Status registers show their sources.
    for (name, v) in [
        ("t_done", 7),
        ("prediction", 3),
        ("cycles", 0x1234_5678),
        ("status", CoreStatus::InputTooLarge.code() as u64),
        ("entries", 1000),
    ] {
        p.set(name, v);
    }
    for (reg, want) in [
        (StatusReg::TimestepsDone, 7),
        (StatusReg::Prediction, 3),
        (StatusReg::CyclesLo, 0x5678),
        (StatusReg::CyclesHi, 0x1234),
        (StatusReg::Code, CoreStatus::InputTooLarge.code() as u64),
        (StatusReg::Entries, 1000),
    ] {
        assert_eq!(regs_read(&mut p, reg.address()), want, "{reg:?}");
    }
    // Unmapped regions and registers read as 0.
    assert_eq!(regs_read(&mut p, 0x5_0000), 0);
    assert_eq!(regs_read(&mut p, Region::Config.base() + 9), 0);
    assert_eq!(regs_read(&mut p, Region::Status.base() + 6), 0);
}

#[test]
fn host_registers_in_rust_hdl_sim() {
    host_registers_follow_the_address_map(RustHdl::new(HostRegisters::<64>::default()));
}

#[test]
fn host_registers_in_verilator() {
    host_registers_follow_the_address_map(Verilated::new(HostRegisters::<64>::default()));
}

// ---------------------------------------------------------------------------------
// The sequencer
// ---------------------------------------------------------------------------------

const LAYOUT: SequencerLayout = SequencerLayout {
    lanes: 8,
    group_table: 96,
    state_entries: 64,
};
/// Events each tile streams and outputs each drains.
const EVENTS: u64 = 5;
const OUTPUTS: u64 = 4;
/// Cycles the stand-in neuron unit stays busy after a drain.
const NEURON_TAIL: u32 = 12;

fn sequencer() -> Sequencer<0> {
    Sequencer::new(LAYOUT)
}

/// What the sequencer did during one command.
#[derive(Debug, Default, PartialEq, Eq)]
struct Trace {
    /// Rows of the descriptors it decoded, in order.
    decoded: Vec<u64>,
    fetched: u64,
    drained: Vec<u64>,
    cleared: Vec<u64>,
    argmax_cycles: u64,
    dones: u64,
    busy_cycles: u64,
    cycles: u64,
}

/// A datapath around the sequencer: `program(row)` says whether the descriptor at
/// `row` is a program's last. Pulses `command` and runs until `done` or `limit`.
fn command(p: &mut impl Pins, command: &str, program: &dyn Fn(u64) -> bool, limit: u64) -> Trace {
    let mut tr = Trace::default();
    let mut neuron = 0u32;
    let mut last = false;
    let mut fetched_row = None;
    p.set(command, 1);
    for _ in 0..limit {
        // What the datapath sees of this cycle's outputs.
        if p.get("decode") == 1 {
            // The row memory answers the cycle after its address: the descriptor row
            // must have been read (`fetch`) at this `pc` the cycle before.
            assert_eq!(fetched_row, Some(p.get("pc")), "decode without its fetch");
            tr.decoded.push(p.get("pc"));
            last = program(p.get("pc"));
        }
        fetched_row = (p.get("fetch") == 1).then(|| p.get("pc"));
        // A parameter row is read exactly while the lanes drain.
        assert_eq!(p.get("param_read"), p.get("draining"));
        tr.fetched += p.get("ev_fetch");
        if p.get("draining") == 1 {
            tr.drained.push(p.get("ch"));
            neuron = NEURON_TAIL;
        }
        if p.get("state_clear") == 1 {
            tr.cleared.push(p.get("index"));
        }
        tr.argmax_cycles += p.get("argmax");
        tr.busy_cycles += p.get("busy");
        let done = p.get("done") == 1;
        tr.dones += done as u64;
        p.tick();
        p.set(command, 0);
        p.set("last", last as u64);
        p.set("neuron_busy", (neuron > 0) as u64);
        neuron = neuron.saturating_sub(1);
        if done {
            break;
        }
    }
    // A second `done` would come within a few cycles.
    for _ in 0..8 {
        tr.dones += p.get("done");
        p.tick();
    }
    tr.cycles = p.get("cycles");
    tr
}

fn status(p: &mut impl Pins) -> Result<(), CoreStatus> {
    CoreStatus::check(p.get("status"))
}

/// The configuration and the decoded descriptor every test program runs with: `t`
/// timesteps, `classes` classes, a forward program from row 0 and a rewind program from
/// row 3, each descriptor streaming `events` events into `OUTPUTS` channels.
fn configure(p: &mut impl Pins, t: u64, classes: u64, events: u64) {
    for (name, v) in [
        ("cfg_t", t),
        ("cfg_classes", classes),
        ("cfg_fwd", 0),
        ("cfg_rev", 3),
        ("cfg_stride", 10),
        ("input_ok", 1),
        ("src_base", 20),
        ("src_count", events),
        ("last_channel", OUTPUTS - 1),
        ("param_base", 100),
    ] {
        p.set(name, v);
    }
    p.tick();
}

fn the_sequencer_runs_programs_and_every_command_ends(mut p: impl Pins) {
    let (t, classes) = (3u64, 4u64);
    configure(&mut p, t, classes, EVENTS);
    // Forward program rows 0..=2, rewind program rows 3..=5.
    let programs = |row: u64| row == 2 || row == 5;
    let run = command(&mut p, "run", &programs, 10_000);
    assert_eq!(status(&mut p), Ok(()));
    assert_eq!(run.decoded, [0, 1, 2].repeat(t as usize));
    assert_eq!(run.fetched, EVENTS * 3 * t);
    assert_eq!(
        run.drained,
        (0..OUTPUTS).collect::<Vec<_>>().repeat(3 * t as usize)
    );
    assert_eq!(run.argmax_cycles, 2 * classes + 2);
    assert_eq!(run.dones, 1);
    assert_eq!(run.cycles, run.busy_cycles, "cycles counts the busy cycles");
    assert_eq!((p.get("t_done"), p.get("busy")), (t, 0));
    // Rewinds: the rewind program per step, then clearing the state, then refused.
    for k in 1..t {
        let rw = command(&mut p, "rewind", &programs, 10_000);
        assert_eq!((rw.decoded, rw.dones), (vec![3, 4, 5], 1));
        assert_eq!((p.get("t_done"), status(&mut p)), (t - k, Ok(())));
    }
    let rw = command(&mut p, "rewind", &programs, 10_000);
    assert_eq!(
        rw.cleared,
        (0..LAYOUT.state_entries as u64).collect::<Vec<_>>()
    );
    assert_eq!((p.get("t_done"), rw.dones), (0, 1));
    let rw = command(&mut p, "rewind", &programs, 100);
    assert_eq!((rw.decoded.len(), rw.busy_cycles, rw.dones), (0, 0, 1));
    assert_eq!(status(&mut p), Err(CoreStatus::NothingToRewind));
    // No valid input: refused.
    p.set("input_ok", 0);
    let r = command(&mut p, "run", &programs, 100);
    assert_eq!(
        (r.decoded.len(), r.dones, status(&mut p)),
        (0, 1, Err(CoreStatus::NoInput))
    );
    p.set("input_ok", 1);
    let run2 = command(&mut p, "run", &programs, 10_000);
    assert_eq!((run2.decoded, run2.dones), (run.decoded, 1));
    // Input verdicts: the compactor's status a cycle after the commit; an input abort.
    p.set("input_status", CoreStatus::InputLength.code() as u64);
    p.set("input_commit", 1);
    p.tick();
    p.set("input_commit", 0);
    p.tick();
    assert_eq!(status(&mut p), Err(CoreStatus::InputLength));
    p.set("input_abort", 1);
    p.tick();
    p.set("input_abort", 0);
    assert_eq!(status(&mut p), Err(CoreStatus::NoInput));
}

#[test]
fn sequencer_in_rust_hdl_sim() {
    the_sequencer_runs_programs_and_every_command_ends(RustHdl::new(sequencer()));
}

#[test]
fn sequencer_in_verilator() {
    the_sequencer_runs_programs_and_every_command_ends(Verilated::new(sequencer()));
}

/// A run longer than 2^16 cycles: the 32-bit cycle count carries past its low half and
/// still counts every busy cycle (the host reads it as two 16-bit words).
fn the_cycle_count_goes_past_16_bits(mut p: impl Pins) {
    configure(&mut p, 4, 4, 511);
    // A forward program of 40 descriptors, each streaming 511 events (only `run` is
    // sent, so the rewind program's start inside it is never used).
    let programs = |row: u64| row == 39;
    let run = command(&mut p, "run", &programs, 200_000);
    assert_eq!((status(&mut p), run.dones), (Ok(()), 1));
    assert_eq!(run.decoded.len(), 40 * 4);
    assert!(
        run.busy_cycles > 1 << 16,
        "the run is long enough to carry: {} busy cycles",
        run.busy_cycles
    );
    assert_eq!(run.cycles, run.busy_cycles, "cycles counts the busy cycles");
}

#[test]
fn sequencer_cycle_count_in_rust_hdl_sim() {
    the_cycle_count_goes_past_16_bits(RustHdl::new(sequencer()));
}

#[test]
fn sequencer_cycle_count_in_verilator() {
    the_cycle_count_goes_past_16_bits(Verilated::new(sequencer()));
}
