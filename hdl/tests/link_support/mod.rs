//! Test bench for the link: the link, a mock core and a behavioural host UART,
//! driven through `revspike_proto::protocol::Transport` so the same scenarios run
//! here, in Verilator and on a board.

#![allow(dead_code)]

pub mod synth;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use revspike_hdl::host_port::HostPortDriver;
use revspike_hdl::link::{Link, LinkConfig};
use revspike_hdl::mock_core::MockCore;
use revspike_proto::protocol::{
    BitTiming, BuildInfo, Client, Transport, MAX_PAYLOAD, PROTOCOL_VERSION, RX_FIFO_DEPTH, SLIP_END,
};
use rust_hdl::prelude::*;

/// One thing the host UART model puts on the line.
#[derive(Clone, Debug)]
pub enum WireEvent {
    /// A well-formed 8N1 byte, at the host's bit period.
    Byte(u8),
    /// The line held low for this many clocks, then high for one bit.
    Glitch(u32),
    /// A byte whose stop bit is low, then one idle bit.
    BadStop(u8),
    /// The line idle (high) for this many clocks.
    Idle(u32),
}

/// Behavioural host-side UART: plays `queue` onto `tx`, records bytes seen on `rx`.
#[derive(LogicBlock, Default)]
pub struct HostUart {
    pub clock: Signal<In, Clock>,
    pub tx: Signal<Out, Bit>,
    pub rx: Signal<In, Bit>,
    pub _h: HostState,
}

#[derive(Default)]
pub struct HostState {
    /// Nominal clocks per bit (glitch and break lengths are given in clocks).
    pub cpb: u32,
    /// The host's bit period when it sends: `tx_num / tx_den` clocks (a rate off by a
    /// few per cent is a different fraction); 0 means `cpb`.
    pub tx_num: u64,
    pub tx_den: u64,
    tx_frac: u64,
    /// The bit period the host samples the device's output at, `rx_num / rx_den`
    /// clocks; 0 means `cpb`.
    pub rx_num: u64,
    pub rx_den: u64,
    /// Clock at which each start bit the host sent began (for timing tests).
    pub starts: Vec<u64>,
    pub queue: VecDeque<WireEvent>,
    levels: VecDeque<(bool, u32)>,
    pub clocks: u64,
    pub rx_log: Vec<u8>,
    pub rx_framing: u32,
    pub last_activity: u64,
    rx_busy: bool,
    rx_t: u32,
    rx_k: u32,
    rx_shift: u16,
}

impl HostState {
    pub fn tx_idle(&self) -> bool {
        self.queue.is_empty() && self.levels.is_empty()
    }

    /// A complete frame (END, at least one byte, END) sits in the receive log.
    pub fn frame_ready(&self) -> bool {
        let mut seen_data = false;
        let mut open = false;
        for &b in &self.rx_log {
            if b == SLIP_END {
                if open && seen_data {
                    return true;
                }
                open = true;
                seen_data = false;
            } else {
                seen_data = true;
            }
        }
        false
    }

    /// Sets the host's bit period to `timing`, off by `ppm` parts per million in rate
    /// when sending (positive: the host is faster).
    pub fn set_timing(&mut self, timing: BitTiming, tx_rate_ppm: i64) {
        self.cpb = (timing.clocks / timing.bits).max(1);
        self.rx_num = timing.clocks as u64;
        self.rx_den = timing.bits as u64;
        self.tx_num = timing.clocks as u64 * 1_000_000;
        self.tx_den = timing.bits as u64 * (1_000_000 + tx_rate_ppm) as u64;
    }

    /// Clocks of the next bit sent: the fractional period, with the remainder carried.
    fn tx_bit(&mut self) -> u32 {
        if self.tx_num == 0 {
            return self.cpb;
        }
        let total = self.tx_frac + self.tx_num;
        self.tx_frac = total % self.tx_den;
        (total / self.tx_den) as u32
    }

    fn expand(&mut self, ev: WireEvent) {
        let c = self.cpb;
        let byte = |h: &mut HostState, b: u8, stop: bool| {
            let d = h.tx_bit();
            h.levels.push_back((false, d));
            for i in 0..8 {
                let d = h.tx_bit();
                h.levels.push_back(((b >> i) & 1 == 1, d));
            }
            let d = h.tx_bit();
            h.levels.push_back((stop, d));
        };
        match ev {
            WireEvent::Byte(b) => byte(self, b, true),
            WireEvent::BadStop(b) => {
                byte(self, b, false);
                let d = self.tx_bit();
                self.levels.push_back((true, d));
            }
            WireEvent::Glitch(n) => {
                self.levels.push_back((false, n.max(1)));
                self.levels.push_back((true, c));
            }
            WireEvent::Idle(n) => self.levels.push_back((true, n.max(1))),
        }
    }
}

impl Logic for HostUart {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let h = &mut self._h;
            h.clocks += 1;
            if h.levels.is_empty() {
                if let Some(ev) = h.queue.pop_front() {
                    let is_byte = matches!(ev, WireEvent::Byte(_) | WireEvent::BadStop(_));
                    h.expand(ev);
                    if is_byte {
                        h.starts.push(h.clocks);
                    }
                }
            }
            let level = match h.levels.front_mut() {
                Some(front) => {
                    let l = front.0;
                    front.1 -= 1;
                    if front.1 == 0 {
                        h.levels.pop_front();
                    }
                    l
                }
                None => true,
            };
            self.tx.next = level;
            // Receiver: sample mid-bit.
            let line = self.rx.val();
            if !h.rx_busy {
                if !line {
                    h.rx_busy = true;
                    h.rx_t = 0;
                    h.rx_k = 0;
                    h.rx_shift = 0;
                }
            } else {
                h.rx_t += 1;
                let (num, den) = if h.rx_num == 0 {
                    (h.cpb as u64, 1)
                } else {
                    (h.rx_num, h.rx_den)
                };
                // Sample k at (k + 1/2) bit periods after the falling edge, rounded down.
                let at = ((2 * h.rx_k as u64 + 1) * num / (2 * den)) as u32;
                if h.rx_t == at {
                    let k = h.rx_k;
                    h.rx_k += 1;
                    if k == 0 {
                        if line {
                            h.rx_busy = false;
                        }
                    } else if k <= 8 {
                        if line {
                            h.rx_shift |= 1 << (k - 1);
                        }
                    } else {
                        if line {
                            h.rx_log.push(h.rx_shift as u8);
                        } else {
                            h.rx_framing += 1;
                        }
                        h.last_activity = h.clocks;
                        h.rx_busy = false;
                    }
                }
            }
        } else if self._h.clocks == 0 {
            self.tx.next = true;
        }
    }

    fn connect(&mut self) {
        self.tx.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Empty
    }
}

#[derive(LogicBlock)]
pub struct Bench {
    pub clock: Signal<In, Clock>,
    pub link: Link,
    pub core: MockCore,
    pub host: HostUart,
}

impl Logic for Bench {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, link, core, host);
        self.link.uart_rx.next = self.host.tx.val();
        self.host.rx.next = self.link.uart_tx.val();
        HostPortDriver::join(&mut self.link.host, &mut self.core.host);
        self.link.board_clear.next = false;
        self.core.abort.next = self.link.abort.val();
    }
}

/// Build information of the test builds, at `baud` on a 100 MHz clock.
pub fn test_info(baud: u32) -> BuildInfo {
    BuildInfo {
        protocol_version: PROTOCOL_VERSION,
        name: "linktest".into(),
        lanes: 16,
        row_bits: 64,
        rows: 256,
        max_width: 256,
        max_classes: 10,
        max_stages: 4,
        max_blocks: 4,
        max_timesteps: 8,
        input_entries: 1024,
        state_entries: 64,
        rx_fifo: RX_FIFO_DEPTH as u16,
        max_payload: MAX_PAYLOAD as u16,
        clock_hz: 100_000_000,
        baud,
    }
}

/// Bench parameters.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub baud: u32,
    pub timing: BitTiming,
    pub timeout_clocks: u32,
    pub run_cycles: u32,
    pub watchdog_cycles: u32,
    /// The host's sending rate off by this many parts per million.
    pub host_rate_ppm: i64,
}

impl BenchConfig {
    /// A bench at `baud` on a 100 MHz clock.
    pub fn new(baud: u32) -> Self {
        let timing = BitTiming::from_rates(100_000_000, baud).unwrap();
        BenchConfig {
            baud,
            timing,
            timeout_clocks: timing.clocks_for_bits(600) as u32,
            run_cycles: 200,
            watchdog_cycles: 20_000,
            host_rate_ppm: 0,
        }
    }
    /// Clocks per bit, rounded down (glitch lengths, patience).
    pub fn cpb(&self) -> u32 {
        self.timing.clocks / self.timing.bits
    }
    pub fn link_config(&self) -> LinkConfig {
        LinkConfig {
            build_info: test_info(self.baud).to_bytes().unwrap(),
            timing: self.timing,
            timeout_clocks: self.timeout_clocks,
            watchdog_cycles: self.watchdog_cycles,
        }
    }
}

/// `Transport` over the bench's host UART, inside a rust-hdl testbench.
pub struct SimTransport {
    pub sim: Sim<Bench>,
    pub x: Option<Box<Bench>>,
    /// Clocks of line silence after which `recv` gives up.
    pub idle_clocks: u64,
    pub clocks_per_bit: u32,
}

fn se(e: SimError) -> String {
    format!("simulation: {e:?}")
}

impl SimTransport {
    pub fn bench(&mut self) -> Result<&mut Bench, String> {
        self.x
            .as_deref_mut()
            .ok_or_else(|| "simulation ended".to_string())
    }

    /// Put arbitrary line events on the wire and wait until they are sent.
    pub fn send_events(&mut self, events: &[WireEvent]) -> Result<(), String> {
        let mut x = self.x.take().ok_or("simulation ended")?;
        x.host._h.queue.extend(events.iter().cloned());
        let x = self.sim.watch(|x| x.host._h.tx_idle(), x).map_err(se)?;
        self.x = Some(x);
        Ok(())
    }

    /// Let `clocks` clocks pass.
    pub fn wait_clocks(&mut self, clocks: u64) -> Result<(), String> {
        let x = self.x.take().ok_or("simulation ended")?;
        let x = self.sim.wait(10 * clocks, x).map_err(se)?;
        self.x = Some(x);
        Ok(())
    }
}

impl Transport for SimTransport {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let ev: Vec<WireEvent> = bytes.iter().map(|&b| WireEvent::Byte(b)).collect();
        self.send_events(&ev)
    }

    fn recv(&mut self) -> Result<Vec<u8>, String> {
        let mut x = self.x.take().ok_or("simulation ended")?;
        let start = x.host._h.clocks;
        let idle = self.idle_clocks;
        if !x.host._h.frame_ready() {
            x = self
                .sim
                .watch(
                    move |x| {
                        let h = &x.host._h;
                        h.frame_ready()
                            || h.clocks.saturating_sub(h.last_activity.max(start)) > idle
                    },
                    x,
                )
                .map_err(se)?;
        }
        let out = std::mem::take(&mut x.host._h.rx_log);
        self.x = Some(x);
        Ok(out)
    }

    fn pause(&mut self, micros: u64) -> Result<(), String> {
        // The bench clock is 100 MHz.
        self.wait_clocks(micros * 100)
    }
}

/// Run `scenario` against a fresh bench; returns its outcome.
pub fn run_bench<F>(cfg: BenchConfig, scenario: F) -> Result<(), String>
where
    F: FnOnce(&mut Client<SimTransport>) -> Result<(), String> + Send + 'static,
{
    let mut uut = Bench {
        clock: Default::default(),
        link: Link::new(&cfg.link_config()).map_err(|e| e.to_string())?,
        core: MockCore::new(cfg.run_cycles),
        host: HostUart::default(),
    };
    uut.host._h.set_timing(cfg.timing, cfg.host_rate_ppm);
    uut.connect_all();
    let outcome = Arc::new(Mutex::new(Err::<(), String>(
        "scenario did not finish".into(),
    )));
    let result = outcome.clone();
    let cpb = cfg.cpb();
    // The scenario only runs on the testbench thread; a panic there fails the test anyway.
    let scenario = Arc::new(Mutex::new(Some(std::panic::AssertUnwindSafe(scenario))));
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<Bench>| x.clock.next = !x.clock.val());
    sim.add_testbench(move |mut sim: Sim<Bench>| {
        let x = sim.init()?;
        let x = sim.wait(100, x)?;
        let t = SimTransport {
            sim,
            x: Some(x),
            idle_clocks: 40 * cpb as u64 + 2000,
            clocks_per_bit: cpb,
        };
        let mut client = Client::new(t);
        client.patience = 2;
        let r = match scenario.lock().unwrap().take() {
            Some(run) => (run.0)(&mut client),
            None => Err("scenario already ran".into()),
        };
        let failed = r.is_err();
        *result.lock().unwrap() = r;
        let t = client.transport;
        match t.x {
            Some(x) => {
                if failed {
                    t.sim.halt(x)
                } else {
                    // The mock core must never see a command while busy.
                    let v = x.core._m.violations;
                    if v != 0 {
                        *result.lock().unwrap() = Err(format!("{v} host-port violations"));
                    }
                    t.sim.done(x)
                }
            }
            None => Err(SimError::SimHalted),
        }
    });
    let sim_result = sim.run(Box::new(uut), 1 << 40);
    let out = outcome.lock().unwrap().clone();
    out?;
    sim_result.map_err(|e| format!("simulation: {e:?}"))
}
