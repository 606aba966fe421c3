//! A behavioural stand-in for the spiking core's host port, for the link's tests.
//!
//! It keeps regions 0..2 in a map, answers reads 3 cycles after `raddr`, counts
//! input bytes, and fakes run/rewind/clear with a few busy cycles and simple,
//! checkable results: after a RUN with a valid input of byte sum `s`, logit `j` is
//! `s * (j + 1) - 1000 * j` (as i32), the prediction is the first arg-max, the
//! timesteps done are config register 0 (T). It also counts host-port protocol
//! violations (anything issued while `busy`, input values on consecutive cycles),
//! which the tests assert to be zero. With config register 9 nonzero its runs never
//! finish (for the link's watchdog): until `abort` when it is 1 (an aborted command
//! ends with status 5), at all when it is 2.
//! Simulation only: its Verilog is empty.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

use revspike_proto::contract::{ConfigReg, CoreStatus, Region, StatusReg};

use crate::host_port::HostPort;

/// Input length the mock expects, from config register 8 (0 = any length 1..=4096).
pub const MOCK_INPUT_LEN_REG: u32 = Region::Config.base() + 8;
/// Runs never finish (until `abort`) while this config register is nonzero.
pub const MOCK_HANG_REG: u32 = Region::Config.base() + 9;
/// The status of a command the link aborted (the mock's own; the core has none).
const MOCK_ABORTED: u8 = 5;

/// A core status code as the mock's 8-bit status register holds it.
const fn code(s: CoreStatus) -> u8 {
    s.code() as u8
}

#[derive(LogicBlock, Default)]
pub struct MockCore {
    pub clock: Signal<In, Clock>,
    /// The core's host port, as the spiking core has it.
    pub host: HostPort,
    /// The link's abort pulse (the spiking core has none: its commands always end).
    pub abort: Signal<In, Bit>,
    /// Behavioural state, inspected by tests.
    pub _m: MockState,
}

/// Inspectable state of [`MockCore`].
#[derive(Clone, Debug, Default)]
pub struct MockState {
    /// Regions 0..2.
    pub mem: BTreeMap<u32, u16>,
    /// Logits of the last run.
    pub logits: Vec<i32>,
    pub timesteps: u16,
    pub prediction: u16,
    pub cycles: u32,
    pub status: u8,
    pub input_count: u32,
    pub input_sum: u64,
    pub input_valid: bool,
    /// Committed input entries.
    pub entries: u16,
    /// Busy cycles left of the current command; 0 = idle.
    pub busy_left: u32,
    /// 1 run, 2 rewind, 3 clear.
    pub pending: u8,
    read_pipe: [u32; 2],
    /// Writes, input bytes or commands issued while busy.
    pub violations: u32,
    /// Commands seen: runs, rewinds, clears, commits, aborts.
    pub runs: u32,
    pub rewinds: u32,
    pub clears: u32,
    pub commits: u32,
    pub aborts: u32,
    /// Words written (while idle).
    pub writes: u32,
    /// Busy cycles of a run (plus the input length).
    pub run_cycles: u32,
    /// Abort pulses seen, and commands they stopped.
    pub abort_pulses: u32,
    pub aborted: u32,
    last_in_valid: bool,
}

impl MockState {
    fn read(&self, a: u32) -> u16 {
        let reg = |r: StatusReg| a == r.address();
        match Region::of(a) {
            Some(Region::Rows | Region::Config | Region::State) => *self.mem.get(&a).unwrap_or(&0),
            Some(Region::Logits) => {
                let j = ((a & 0xFFFF) / 2) as usize;
                let v = *self.logits.get(j).unwrap_or(&0) as u32;
                if a & 1 == 0 {
                    v as u16
                } else {
                    (v >> 16) as u16
                }
            }
            Some(Region::Status) => {
                if reg(StatusReg::TimestepsDone) {
                    self.timesteps
                } else if reg(StatusReg::Prediction) {
                    self.prediction
                } else if reg(StatusReg::CyclesLo) {
                    self.cycles as u16
                } else if reg(StatusReg::CyclesHi) {
                    (self.cycles >> 16) as u16
                } else if reg(StatusReg::Code) {
                    self.status as u16
                } else if reg(StatusReg::Entries) {
                    self.entries
                } else {
                    0
                }
            }
            None => 0,
        }
    }

    fn finish(&mut self) {
        match self.pending {
            1 => {
                if !self.input_valid {
                    self.status = code(CoreStatus::NoInput);
                } else {
                    let classes =
                        *self.mem.get(&ConfigReg::Classes.address()).unwrap_or(&0) as usize;
                    let s = self.input_sum as i64;
                    self.logits = (0..classes)
                        .map(|j| (s * (j as i64 + 1) - 1000 * j as i64) as i32)
                        .collect();
                    let mut best = 0;
                    for (j, &l) in self.logits.iter().enumerate() {
                        if l > self.logits[best] {
                            best = j;
                        }
                    }
                    self.prediction = best as u16;
                    self.timesteps = *self.mem.get(&ConfigReg::T.address()).unwrap_or(&0);
                    self.cycles = self.run_cycles + self.input_count;
                    self.status = 0;
                }
            }
            2 => {
                if self.timesteps == 0 {
                    self.status = code(CoreStatus::NothingToRewind);
                } else {
                    self.timesteps -= 1;
                    self.status = 0;
                }
            }
            3 => {
                self.timesteps = 0;
                self.mem
                    .retain(|&a, _| Region::of(a) != Some(Region::State));
                self.status = 0;
            }
            4 => self.status = MOCK_ABORTED,
            _ => {}
        }
        self.pending = 0;
    }
}

impl MockCore {
    /// A mock whose runs take `run_cycles` busy cycles (plus one per input byte).
    pub fn new(run_cycles: u32) -> Self {
        let mut m = MockCore::default();
        m._m.run_cycles = run_cycles.max(1);
        m
    }
}

impl Logic for MockCore {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let m = &mut self._m;
            // The edge that takes raddr, then two register stages: data 3 cycles after
            // raddr, as the core's.
            self.host.rdata.next = (m.read(m.read_pipe[1]) as u64).into();
            m.read_pipe[1] = m.read_pipe[0];
            m.read_pipe[0] = self.host.raddr.val().to_u32();
            self.host.done.next = false;
            let busy = m.busy_left > 0;
            let issued = self.host.we.val()
                || self.host.in_valid.val()
                || self.host.in_start.val()
                || self.host.in_commit.val()
                || self.host.run.val()
                || self.host.rewind.val()
                || self.host.clear.val();
            if self.host.in_valid.val() && m.last_in_valid {
                m.violations += 1;
            }
            m.last_in_valid = self.host.in_valid.val();
            let hang = *m.mem.get(&MOCK_HANG_REG).unwrap_or(&0);
            if self.abort.val() {
                m.abort_pulses += 1;
                if busy && hang != 2 {
                    m.aborted += 1;
                    m.pending = 4;
                    m.busy_left = m.busy_left.min(2);
                }
            }
            if busy {
                if issued {
                    m.violations += 1;
                }
                if !(m.pending == 1 && hang != 0) {
                    m.busy_left -= 1;
                }
                if m.busy_left == 0 {
                    m.finish();
                    self.host.done.next = true;
                }
            } else {
                if self.host.we.val() {
                    let a = self.host.addr.val().to_u32();
                    if a >> 16 <= 2 {
                        m.mem.insert(a, self.host.wdata.val().to_u16());
                    }
                    m.writes += 1;
                }
                if self.host.in_start.val() {
                    m.input_count = 0;
                    m.input_sum = 0;
                    m.input_valid = false;
                }
                if self.host.in_valid.val() {
                    m.input_count += 1;
                    m.input_sum += self.host.in_byte.val().to_u64();
                }
                if self.host.in_commit.val() {
                    m.commits += 1;
                    let want = *m.mem.get(&MOCK_INPUT_LEN_REG).unwrap_or(&0) as u32;
                    m.status = if m.input_count > 4096 {
                        code(CoreStatus::InputTooLarge)
                    } else if (want != 0 && m.input_count != want) || m.input_count == 0 {
                        code(CoreStatus::InputLength)
                    } else {
                        0
                    };
                    m.input_valid = m.status == 0;
                    m.entries = if m.input_valid {
                        m.input_count as u16
                    } else {
                        0
                    };
                }
                if self.host.in_abort.val() {
                    m.aborts += 1;
                    m.input_valid = false;
                }
                if self.host.run.val() {
                    m.runs += 1;
                    m.pending = 1;
                    m.busy_left = m.run_cycles + m.input_count;
                } else if self.host.rewind.val() {
                    m.rewinds += 1;
                    m.pending = 2;
                    m.busy_left = 5;
                } else if self.host.clear.val() {
                    m.clears += 1;
                    m.pending = 3;
                    m.busy_left = 3;
                }
            }
            self.host.busy.next = m.busy_left > 0;
            self.host.status.next = (m.status as u64).into();
        }
    }

    fn connect(&mut self) {
        self.host.rdata.connect();
        self.host.busy.connect();
        self.host.done.connect();
        self.host.status.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Empty
    }
}
