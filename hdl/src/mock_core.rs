//! A behavioural stand-in for the spiking core's host port, for the link's tests.
//!
//! It keeps regions 0..2 in a map, answers reads 3 cycles after `raddr`, counts
//! input bytes, and fakes run/rewind/clear with a few busy cycles and simple,
//! checkable results: after a RUN with a valid input of byte sum `s`, logit `j` is
//! `s * (j + 1) - 1000 * j` (as i32), the prediction is the first arg-max, the
//! timesteps done are config register 0 (T). It also counts host-port protocol
//! violations (anything issued while `busy`), which the tests assert to be zero.
//! Simulation only: its Verilog is empty.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

use revspike_proto::contract::{addr, ConfigReg, Region, StatusCode, StatusReg};

use crate::host_port::HostPort;

/// Input length the mock expects, from config register 8 (0 = any length 1..=4096).
pub const MOCK_INPUT_LEN_REG: u32 = 0x10008;

#[derive(LogicBlock, Default)]
pub struct MockCore {
    pub clock: Signal<In, Clock>,
    pub host: HostPort,
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
    /// Commands seen: runs, rewinds, clears, commits, input aborts, aborts.
    pub runs: u32,
    pub rewinds: u32,
    pub clears: u32,
    pub commits: u32,
    pub aborts: u32,
    pub command_aborts: u32,
    /// Words written (while idle).
    pub writes: u32,
    /// Busy cycles of a run (plus the input length).
    pub run_cycles: u32,
}

impl MockState {
    fn read(&self, a: u32) -> u16 {
        let offset = addr::OFFSET.get(a as u64);
        match Region::of(a) {
            Some(Region::Rows | Region::Config | Region::State) => *self.mem.get(&a).unwrap_or(&0),
            Some(Region::Logits) => {
                let j = (offset / 2) as usize;
                let v = *self.logits.get(j).unwrap_or(&0) as u32;
                if addr::LOGIT_HALF.get(offset) == 0 {
                    v as u16
                } else {
                    (v >> 16) as u16
                }
            }
            Some(Region::Status) => {
                match StatusReg::ALL.into_iter().find(|r| r.index() == offset) {
                    Some(StatusReg::TimestepsDone) => self.timesteps,
                    Some(StatusReg::Prediction) => self.prediction,
                    Some(StatusReg::CyclesLo) => self.cycles as u16,
                    Some(StatusReg::CyclesHi) => (self.cycles >> 16) as u16,
                    Some(StatusReg::Code) => self.status as u16,
                    Some(StatusReg::Entries) => self.entries,
                    None => 0,
                }
            }
            None => 0,
        }
    }

    fn config(&self, r: ConfigReg) -> u16 {
        *self.mem.get(&r.address()).unwrap_or(&0)
    }

    fn finish(&mut self) {
        match self.pending {
            1 => {
                if !self.input_valid {
                    self.status = StatusCode::NoInput.code();
                } else {
                    let classes = self.config(ConfigReg::Classes) as usize;
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
                    self.timesteps = self.config(ConfigReg::T);
                    self.cycles = self.run_cycles + self.input_count;
                    self.status = StatusCode::Ok.code();
                }
            }
            2 => {
                if self.timesteps == 0 {
                    self.status = StatusCode::NothingToRewind.code();
                } else {
                    self.timesteps -= 1;
                    self.status = StatusCode::Ok.code();
                }
            }
            3 => {
                self.timesteps = 0;
                self.mem
                    .retain(|&a, _| Region::of(a) != Some(Region::State));
                self.status = StatusCode::Ok.code();
            }
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
            let h = &mut self.host;
            let m = &mut self._m;
            // The edge that takes raddr, then two register stages: data 3 cycles after
            // raddr, as the core's.
            h.rdata.next = (m.read(m.read_pipe[1]) as u64).into();
            m.read_pipe[1] = m.read_pipe[0];
            m.read_pipe[0] = h.raddr.val().to_u32();
            h.done.next = false;
            let busy = m.busy_left > 0;
            let issued = h.we.val()
                || h.in_valid.val()
                || h.in_start.val()
                || h.in_commit.val()
                || h.run.val()
                || h.rewind.val()
                || h.clear.val();
            if h.abort.val() {
                // As the core: the running command stops and `done` answers the abort.
                m.command_aborts += 1;
                if busy {
                    m.busy_left = 0;
                    m.pending = 0;
                    m.timesteps = 0;
                    m.status = StatusCode::Aborted.code();
                }
                h.done.next = true;
            } else if busy {
                if issued {
                    m.violations += 1;
                }
                m.busy_left -= 1;
                if m.busy_left == 0 {
                    m.finish();
                    h.done.next = true;
                }
            } else {
                if h.we.val() {
                    let a = h.addr.val().to_u32();
                    if matches!(
                        Region::of(a),
                        Some(Region::Rows | Region::Config | Region::State)
                    ) {
                        m.mem.insert(a, h.wdata.val().to_u16());
                    }
                    m.writes += 1;
                }
                if h.in_start.val() {
                    m.input_count = 0;
                    m.input_sum = 0;
                    m.input_valid = false;
                }
                if h.in_valid.val() {
                    m.input_count += 1;
                    m.input_sum += h.in_byte.val().to_u64();
                }
                if h.in_commit.val() {
                    m.commits += 1;
                    let want = *m.mem.get(&MOCK_INPUT_LEN_REG).unwrap_or(&0) as u32;
                    m.status = if m.input_count > 4096 {
                        StatusCode::InputTooLarge
                    } else if (want != 0 && m.input_count != want) || m.input_count == 0 {
                        StatusCode::InputLength
                    } else {
                        StatusCode::Ok
                    }
                    .code();
                    m.input_valid = m.status == StatusCode::Ok.code();
                    m.entries = if m.input_valid {
                        m.input_count as u16
                    } else {
                        0
                    };
                }
                if h.in_abort.val() {
                    m.aborts += 1;
                    m.input_valid = false;
                }
                if h.run.val() {
                    m.runs += 1;
                    m.pending = 1;
                    m.busy_left = m.run_cycles + m.input_count;
                } else if h.rewind.val() {
                    m.rewinds += 1;
                    m.pending = 2;
                    m.busy_left = 5;
                } else if h.clear.val() {
                    m.clears += 1;
                    m.pending = 3;
                    m.busy_left = 3;
                }
            }
            h.busy.next = m.busy_left > 0;
            h.status.next = (m.status as u64).into();
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
