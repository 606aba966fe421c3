//! Driving the spiking core's host port, cycle by cycle.
//!
//! The same driver runs the core in rust-hdl's simulator and its emitted Verilog in
//! Verilator (the co-simulation fast path): each only implements [`CorePort`]. The
//! link in hardware does the same sequence of port operations for each frame.

use crate::contract::{self, StatusReg};
use crate::image::Image;

/// Cycles from a read address on `raddr` to its word on `rdata` (docs/architecture.md).
pub const READ_LATENCY: usize = 3;

/// Host-port signals, named as the fields of the core's host-port interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    We,
    Addr,
    Wdata,
    Raddr,
    Rdata,
    InStart,
    InValid,
    InByte,
    InCommit,
    InAbort,
    Run,
    Rewind,
    Clear,
    Busy,
    Done,
    Status,
}

impl Pin {
    pub const ALL: [Pin; 16] = [
        Pin::We,
        Pin::Addr,
        Pin::Wdata,
        Pin::Raddr,
        Pin::Rdata,
        Pin::InStart,
        Pin::InValid,
        Pin::InByte,
        Pin::InCommit,
        Pin::InAbort,
        Pin::Run,
        Pin::Rewind,
        Pin::Clear,
        Pin::Busy,
        Pin::Done,
        Pin::Status,
    ];

    /// The pins the driver drives (the core's inputs).
    pub const INPUTS: [Pin; 12] = [
        Pin::We,
        Pin::Addr,
        Pin::Wdata,
        Pin::Raddr,
        Pin::InStart,
        Pin::InValid,
        Pin::InByte,
        Pin::InCommit,
        Pin::InAbort,
        Pin::Run,
        Pin::Rewind,
        Pin::Clear,
    ];

    /// The pins the core drives.
    pub const OUTPUTS: [Pin; 4] = [Pin::Rdata, Pin::Busy, Pin::Done, Pin::Status];

    /// Whether the core reads this pin (else it drives it).
    pub const fn is_input(self) -> bool {
        !matches!(self, Pin::Rdata | Pin::Busy | Pin::Done | Pin::Status)
    }

    /// The port's name in the core's Verilog: the core's host port is one interface
    /// (`revspike_hdl::host_port::HostPort`, field `host`), and rust-hdl names an
    /// interface's signals `FIELD$SIGNAL`.
    pub fn verilog_name(self) -> String {
        format!("host${}", self.name())
    }

    pub fn name(self) -> &'static str {
        match self {
            Pin::We => "we",
            Pin::Addr => "addr",
            Pin::Wdata => "wdata",
            Pin::Raddr => "raddr",
            Pin::Rdata => "rdata",
            Pin::InStart => "in_start",
            Pin::InValid => "in_valid",
            Pin::InByte => "in_byte",
            Pin::InCommit => "in_commit",
            Pin::InAbort => "in_abort",
            Pin::Run => "run",
            Pin::Rewind => "rewind",
            Pin::Clear => "clear",
            Pin::Busy => "busy",
            Pin::Done => "done",
            Pin::Status => "status",
        }
    }
}

/// A clocked model of the core: rust-hdl's simulator or a Verilated model.
pub trait CorePort {
    fn poke(&mut self, pin: Pin, value: u64);
    fn peek(&mut self, pin: Pin) -> u64;
    /// One rising clock edge with the poked inputs, then the outputs settle.
    fn tick(&mut self);
}

/// The core's failure status codes (`status` of the host port, status word 4, and the
/// detail of a link `CORE` error; docs/architecture.md), with their messages: the one
/// definition the driver, the protocol layer and the host read. 0 is success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoreStatus {
    #[error("no valid input sample was committed")]
    NoInput,
    #[error("nothing to rewind: the state is at t = 0")]
    NothingToRewind,
    #[error("the input sample has the wrong length")]
    InputLength,
    #[error("the input sample needs more entries than the input memory holds")]
    InputTooLarge,
    /// The link's own detail ([`crate::protocol::CORE_DETAIL_WATCHDOG`]): the
    /// command did not finish within the watchdog bound.
    #[error(
        "the run did not finish within the link's watchdog bound; the device stopped it \
         and dropped the model (reload it)"
    )]
    Watchdog,
    #[error("unknown core status {0}")]
    Other(u16),
}

impl CoreStatus {
    /// The status code of a command that succeeded.
    pub const SUCCESS: u16 = 0;

    /// Every named status, for tables and tests.
    pub const ALL: [CoreStatus; 5] = [
        CoreStatus::NoInput,
        CoreStatus::NothingToRewind,
        CoreStatus::InputLength,
        CoreStatus::InputTooLarge,
        CoreStatus::Watchdog,
    ];

    /// The status of a code: `None` for 0 (success).
    pub const fn from_code(code: u16) -> Option<CoreStatus> {
        Some(match code {
            CoreStatus::SUCCESS => return None,
            1 => CoreStatus::NoInput,
            2 => CoreStatus::NothingToRewind,
            3 => CoreStatus::InputLength,
            4 => CoreStatus::InputTooLarge,
            crate::protocol::CORE_DETAIL_WATCHDOG => CoreStatus::Watchdog,
            c => CoreStatus::Other(c),
        })
    }

    /// The code on the wire and the host port.
    pub const fn code(self) -> u16 {
        match self {
            CoreStatus::NoInput => 1,
            CoreStatus::NothingToRewind => 2,
            CoreStatus::InputLength => 3,
            CoreStatus::InputTooLarge => 4,
            CoreStatus::Watchdog => crate::protocol::CORE_DETAIL_WATCHDOG,
            CoreStatus::Other(c) => c,
        }
    }

    /// The host port's `status` output: success, or the failure it names.
    pub fn check(code: u64) -> Result<(), CoreStatus> {
        match u16::try_from(code) {
            Ok(c) => CoreStatus::from_code(c).map_or(Ok(()), Err),
            Err(_) => Err(CoreStatus::Other(u16::MAX)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("core: {0}")]
    Status(#[from] CoreStatus),
    #[error("core did not finish within {0} cycles")]
    Timeout(u64),
}

/// What a run leaves readable: the same result the link returns for RUN and INFER.
pub use crate::protocol::RunResult;

pub struct CoreDriver<C: CorePort> {
    pub port: C,
    /// Give up on a command after this many cycles.
    pub max_cycles: u64,
}

impl<C: CorePort> CoreDriver<C> {
    pub fn new(port: C) -> Self {
        let mut d = Self {
            port,
            max_cycles: 50_000_000,
        };
        for pin in Pin::INPUTS {
            d.port.poke(pin, 0);
        }
        d.port.tick();
        d
    }

    pub fn write(&mut self, addr: u32, words: &[u16]) {
        for (i, &w) in words.iter().enumerate() {
            self.port.poke(Pin::We, 1);
            self.port.poke(Pin::Addr, (addr + i as u32) as u64);
            self.port.poke(Pin::Wdata, w as u64);
            self.port.tick();
        }
        self.port.poke(Pin::We, 0);
    }

    /// Pipelined reads: one address per cycle; a word is on `rdata`
    /// [`READ_LATENCY`] edges after its address was presented.
    pub fn read(&mut self, addr: u32, n: usize) -> Vec<u16> {
        let mut out = Vec::with_capacity(n);
        for k in 0..n + READ_LATENCY - 1 {
            if k < n {
                self.port.poke(Pin::Raddr, (addr + k as u32) as u64);
            }
            self.port.tick();
            if k + 1 >= READ_LATENCY {
                out.push(self.port.peek(Pin::Rdata) as u16);
            }
        }
        out
    }

    pub fn load(&mut self, image: &Image) {
        for (addr, words) in image.writes() {
            self.write(addr, &words);
        }
    }

    fn pulse(&mut self, pin: Pin) {
        self.port.poke(pin, 1);
        self.port.tick();
        self.port.poke(pin, 0);
    }

    /// Streams one sample (raw values, group after group) and commits it.
    pub fn send_input(&mut self, bytes: &[u8]) -> Result<(), CoreStatus> {
        self.pulse(Pin::InStart);
        for &b in bytes {
            self.port.poke(Pin::InValid, 1);
            self.port.poke(Pin::InByte, b as u64);
            self.port.tick();
            self.port.poke(Pin::InValid, 0);
            self.port.tick();
        }
        self.port.tick();
        self.pulse(Pin::InCommit);
        for _ in 0..3 {
            self.port.tick();
        }
        CoreStatus::check(self.port.peek(Pin::Status))
    }

    fn command(&mut self, pin: Pin) -> Result<u64, DriveError> {
        self.pulse(pin);
        let mut n = 0;
        while self.port.peek(Pin::Done) == 0 {
            self.port.tick();
            n += 1;
            if n > self.max_cycles {
                return Err(DriveError::Timeout(self.max_cycles));
            }
        }
        self.port.tick();
        CoreStatus::check(self.port.peek(Pin::Status))?;
        Ok(n)
    }

    pub fn run(&mut self, classes: usize) -> Result<RunResult, DriveError> {
        self.command(Pin::Run)?;
        self.result(classes)
    }

    pub fn result(&mut self, classes: usize) -> Result<RunResult, DriveError> {
        let st = self.read(StatusReg::TimestepsDone.address(), 4);
        let raw = self.read(contract::logit_address(0, 0), 2 * classes);
        let logits = raw
            .chunks(2)
            .map(|w| (w[0] as u32 | (w[1] as u32) << 16) as i32)
            .collect();
        Ok(RunResult {
            timesteps: st[0],
            prediction: st[1],
            cycles: st[2] as u32 | (st[3] as u32) << 16,
            status: 0,
            logits,
        })
    }

    pub fn rewind(&mut self) -> Result<(), DriveError> {
        self.command(Pin::Rewind).map(|_| ())
    }

    pub fn clear(&mut self) -> Result<(), DriveError> {
        self.command(Pin::Clear).map(|_| ())
    }

    pub fn timesteps_done(&mut self) -> usize {
        self.read(StatusReg::TimestepsDone.address(), 1)[0] as usize
    }

    /// Turn-on membranes c_l of each stage (widths as given; region 2 holds
    /// `max_width` words per stage).
    pub fn state(&mut self, max_width: usize, widths: &[usize]) -> Vec<Vec<i16>> {
        widths
            .iter()
            .enumerate()
            .map(|(l, &w)| {
                self.read(contract::state_address(max_width, l, 0), w)
                    .into_iter()
                    .map(|v| v as i16)
                    .collect()
            })
            .collect()
    }
}

/// The first way a core's results differed from the golden model.
#[derive(Debug, thiserror::Error)]
pub enum Mismatch {
    #[error("the golden model refused the input: {0}")]
    Golden(String),
    #[error("the core failed: {0}")]
    Core(#[from] DriveError),
    #[error("the core refused the input: {0}")]
    Input(#[from] CoreStatus),
    #[error("{what}: core {core} != golden {golden}")]
    Value {
        what: String,
        core: String,
        golden: String,
    },
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, core: T, golden: T) -> Result<(), Mismatch> {
    if core == golden {
        Ok(())
    } else {
        Err(Mismatch::Value {
            what: what.to_string(),
            core: format!("{core:?}"),
            golden: format!("{golden:?}"),
        })
    }
}

/// Runs `input` on a loaded core and checks logits, prediction, timesteps and the
/// turn-on state against the golden model; with `rewinds`, then rewinds all the way
/// back to t = 0, checking the state and t after every step and that one more rewind
/// is refused. Returns the run's result.
pub fn check_against_golden<C: CorePort>(
    drv: &mut CoreDriver<C>,
    model: &revspike_golden::model::Model,
    max_width: usize,
    input: &[u8],
    rewinds: bool,
) -> Result<RunResult, Mismatch> {
    use revspike_golden::sim::{infer, Machine};
    let gold = infer(model, input).map_err(|e| Mismatch::Golden(e.to_string()))?;
    drv.send_input(input)?;
    let res = drv.run(model.classes)?;
    same("logits", &res.logits_i64(), &gold.logits)?;
    same("prediction", usize::from(res.prediction), gold.prediction)?;
    same(
        "timesteps done",
        usize::from(res.timesteps),
        model.timesteps,
    )?;
    let widths: Vec<usize> = model.stages.iter().map(|s| s.width).collect();
    let mut m = Machine::new(model, input).map_err(|e| Mismatch::Golden(e.to_string()))?;
    while m.step() {}
    same(
        "turn-on state after the forward pass",
        drv.state(max_width, &widths),
        m.state().to_vec(),
    )?;
    if rewinds {
        for k in 1..=model.timesteps {
            drv.rewind()?;
            m.rewind().map_err(|e| Mismatch::Golden(e.to_string()))?;
            let what = format!("turn-on state after rewind {k}");
            same(&what, drv.state(max_width, &widths), m.state().to_vec())?;
            same(&format!("t after rewind {k}"), drv.timesteps_done(), m.t())?;
        }
        match drv.rewind() {
            Err(DriveError::Status(CoreStatus::NothingToRewind)) => {}
            other => {
                return Err(Mismatch::Value {
                    what: "rewind past t = 0".into(),
                    core: format!("{other:?}"),
                    golden: "refused: nothing to rewind".into(),
                })
            }
        }
    }
    Ok(res)
}

/// Runs `input` on a loaded core (checked against the golden model), then sends
/// `sample`, which the core must accept or refuse as `accepted` says, and checks that
/// the new sample left nothing to rewind: timesteps done 0, REWIND refused as at t = 0,
/// and the turn-on state still the run's (a rewind would step back with another
/// sample's events: docs/architecture.md, Rewind).
pub fn check_nothing_to_rewind_after<C: CorePort>(
    drv: &mut CoreDriver<C>,
    model: &revspike_golden::model::Model,
    max_width: usize,
    input: &[u8],
    sample: &[u8],
    accepted: bool,
) -> Result<(), Mismatch> {
    use revspike_golden::sim::Machine;
    check_against_golden(drv, model, max_width, input, false)?;
    let sent = drv.send_input(sample);
    same(
        &format!("a sample of {} values accepted", sample.len()),
        sent.is_ok(),
        accepted,
    )?;
    same("timesteps done after a new sample", drv.timesteps_done(), 0)?;
    let widths: Vec<usize> = model.stages.iter().map(|s| s.width).collect();
    let mut m = Machine::new(model, input).map_err(|e| Mismatch::Golden(e.to_string()))?;
    while m.step() {}
    same(
        "turn-on state after a new sample",
        drv.state(max_width, &widths),
        m.state().to_vec(),
    )?;
    match drv.rewind() {
        Err(DriveError::Status(CoreStatus::NothingToRewind)) => Ok(()),
        other => Err(Mismatch::Value {
            what: "rewind after a new sample".into(),
            core: format!("{other:?}"),
            golden: "refused: nothing to rewind".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{core_status_message, CORE_DETAIL_WATCHDOG};

    #[test]
    fn every_pin_is_an_input_or_an_output_once() {
        for p in Pin::ALL {
            let inputs = Pin::INPUTS.iter().filter(|&&q| q == p).count();
            let outputs = Pin::OUTPUTS.iter().filter(|&&q| q == p).count();
            assert_eq!(
                (inputs, outputs),
                (p.is_input() as usize, !p.is_input() as usize)
            );
        }
    }

    #[test]
    fn status_codes_round_trip_and_carry_one_message_each() {
        let mut codes = Vec::new();
        for s in CoreStatus::ALL {
            assert_eq!(CoreStatus::from_code(s.code()), Some(s));
            assert_eq!(CoreStatus::check(u64::from(s.code())), Err(s));
            assert_eq!(core_status_message(s.code()), s.to_string());
            codes.push(s.code());
        }
        codes.sort();
        codes.dedup();
        assert_eq!(
            codes.len(),
            CoreStatus::ALL.len(),
            "two statuses share a code"
        );
        assert_eq!(CoreStatus::from_code(0), None);
        assert_eq!(CoreStatus::check(0), Ok(()));
        assert_eq!(core_status_message(0), "ok");
        assert_eq!(CoreStatus::from_code(9), Some(CoreStatus::Other(9)));
        assert_eq!(CoreStatus::Other(9).code(), 9);
        assert_eq!(CoreStatus::Watchdog.code(), CORE_DETAIL_WATCHDOG);
        assert_eq!(CoreStatus::check(1 << 20), Err(CoreStatus::Other(u16::MAX)));
    }
}
