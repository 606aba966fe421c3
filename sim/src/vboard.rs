//! The virtual board: a pseudo-terminal bridged to a simulated design's UART pins.
//!
//! The host opens the pty's slave path with the serialport crate exactly as it opens
//! `/dev/ttyUSB1` on the real Alchitry Cu. Bytes it writes are fed to the design's
//! receive pin bit by bit at the build's exact fractional bit timing (12 Mbaud on the
//! Cu: 25/3 clocks per bit, see [`UartBridge`]); bytes the design transmits are
//! decoded mid-bit and written back. Simulated time only moves with the clock: when the host
//! has sent nothing and the design has been quiet for `idle_cycles`, the clock stops
//! and the board sleeps on the pty until the host writes again (the design is then
//! exactly as it was, as if the host had simply written later).

use crate::build::{Design, ModelOptions};
use crate::ports::Port;
use crate::uart::UartBridge;
use crate::{io_err, Error, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use revspike_proto::bit_timing::BitTiming;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The reset input the board holds asserted for a few cycles at power-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reset {
    /// `reset_n` or `rst_n` (active low), else `reset` or `rst` (active high), else none.
    Auto,
    /// No reset pulse.
    None,
    /// This port, asserted low when `active_low`.
    Port { name: String, active_low: bool },
}

/// Cycles the reset is held at power-up.
pub const RESET_CYCLES: u64 = 16;

impl Reset {
    /// The port and its polarity, if any, for a design's port list.
    pub fn resolve(&self, ports: &[Port]) -> Result<Option<(String, bool)>> {
        let has = |n: &str| ports.iter().any(|p| p.name == n && p.direction.is_input());
        Ok(match self {
            Reset::None => None,
            Reset::Port { name, active_low } => {
                if !has(name) {
                    return Err(Error::Board(format!(
                        "no input port `{name}` to use as reset"
                    )));
                }
                Some((name.clone(), *active_low))
            }
            Reset::Auto => [
                ("reset_n", true),
                ("rst_n", true),
                ("reset", false),
                ("rst", false),
            ]
            .into_iter()
            .find(|(n, _)| has(n))
            .map(|(n, low)| (n.to_string(), low)),
        })
    }
}

/// How the virtual board runs.
#[derive(Clone, Debug)]
pub struct VirtualBoardOptions {
    /// The design's UART input pin (FPGA receive).
    pub rx_pin: String,
    /// The design's UART output pin (FPGA transmit).
    pub tx_pin: String,
    /// The UART bit period: 25/3 clocks for 12 Mbaud at 100 MHz.
    pub timing: BitTiming,
    /// Write a VCD trace of the whole run here (builds the model with tracing).
    pub vcd: Option<PathBuf>,
    /// Quiet cycles (no UART traffic either way) after which the clock stops until
    /// the host writes again.
    pub idle_cycles: u64,
    /// Stop after this much wall-clock time.
    pub run_for: Option<Duration>,
    /// Power-up reset.
    pub reset: Reset,
    /// Model build options (`trace` is turned on when `vcd` is set).
    pub model: ModelOptions,
    /// Power-cycle the design once, when the host has written this many bytes (see
    /// [`VirtualBoard::power_cycle`]); for tests of the host's recovery. Those bytes
    /// reach the design before the power cycle; what it was still sending is lost.
    /// A VCD trace restarts with each power cycle.
    pub power_cycle_after_bytes: Option<u64>,
    /// A design output and its bit that is 1 while the board works (a busy light):
    /// with it, [`VboardStats::busy_cycles`] counts the board's own time apart from
    /// the time it waits for its host.
    pub busy_light: Option<(String, u32)>,
}

impl Default for VirtualBoardOptions {
    fn default() -> Self {
        VirtualBoardOptions {
            rx_pin: "usb_rx".into(),
            tx_pin: "usb_tx".into(),
            timing: BitTiming {
                clocks: 25,
                bits: 3,
            },
            vcd: None,
            idle_cycles: 2_000_000,
            run_for: None,
            reset: Reset::Auto,
            model: ModelOptions::default(),
            power_cycle_after_bytes: None,
            busy_light: None,
        }
    }
}

/// What a finished run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VboardStats {
    /// Clock cycles simulated.
    pub cycles: u64,
    /// Bytes the host sent that were fully shifted into the design.
    pub bytes_to_design: u64,
    /// Bytes decoded from the design's transmit pin.
    pub bytes_from_design: u64,
    /// Frames from the design with a low stop bit.
    pub framing_errors: u64,
    /// With a busy light: cycles in which a byte moved either way on the UART or
    /// the light was lit. Unlike `cycles`, these do not grow while the simulated
    /// board waits for a slow host, so they are what the board itself took.
    pub busy_cycles: Option<u64>,
}

/// A running virtual board. Dropping it stops the simulation.
pub struct VirtualBoard {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    power_cycle: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<VboardStats>>>,
}

impl std::fmt::Debug for VirtualBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualBoard")
            .field("path", &self.path)
            .finish()
    }
}

struct Pty {
    master: File,
    // Held open so the master never sees a hang-up while the host has the port closed.
    _slave: OwnedFd,
    path: PathBuf,
}

fn open_pty() -> Result<Pty> {
    let errno = |what: &str| {
        let what = what.to_string();
        move |e: nix::Error| Error::Board(format!("{what}: {e}"))
    };
    let pty = nix::pty::openpty(None, None).map_err(errno("cannot open a pseudo-terminal"))?;
    // Raw from the start, so a host that does not configure the port still gets
    // bytes through unaltered (no echo, no line editing, no CR/LF mapping).
    let mut t = tcgetattr(pty.slave.as_fd()).map_err(errno("cannot read the pty settings"))?;
    cfmakeraw(&mut t);
    tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &t)
        .map_err(errno("cannot set the pty to raw mode"))?;
    let path = nix::unistd::ttyname(pty.slave.as_fd()).map_err(errno("cannot name the pty"))?;
    fcntl(pty.master.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(errno("cannot make the pty non-blocking"))?;
    Ok(Pty {
        master: File::from(pty.master),
        _slave: pty.slave,
        path,
    })
}

impl VirtualBoard {
    /// Builds `verilog` (top module `top`), opens a pseudo-terminal and starts
    /// bridging it to the design's UART pins on a thread of its own. Returns once
    /// the model is running; [`VirtualBoard::path`] is the port to open.
    pub fn start(verilog: &str, options: VirtualBoardOptions) -> Result<VirtualBoard> {
        let mut model_options = options.model.clone();
        if options.vcd.is_some() {
            model_options.trace = true;
        }
        let design = Design::build(verilog, &model_options)?;
        Self::start_design(&design, options)
    }

    /// As [`VirtualBoard::start`], for a design already built.
    pub fn start_design(design: &Design, options: VirtualBoardOptions) -> Result<VirtualBoard> {
        if options.vcd.is_some() && !design.options().trace {
            return Err(Error::TraceNotBuilt);
        }
        let reset = options.reset.resolve(design.ports())?;
        let pty = open_pty()?;
        let path = pty.path.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let design = design.clone();
        let stop_flag = stop.clone();
        let power_cycle = Arc::new(AtomicBool::new(false));
        let cycle_flag = power_cycle.clone();
        let thread = std::thread::Builder::new()
            .name("revspike-vboard".into())
            .spawn(move || -> Result<VboardStats> {
                // The model is created on the thread that runs it.
                let power_up = || -> Result<UartBridge> {
                    let mut model = design.instantiate()?;
                    if let Some(vcd) = &options.vcd {
                        model.trace_vcd(vcd)?;
                    }
                    if let Some((name, active_low)) = &reset {
                        model.set(name, u64::from(!*active_low))?;
                        // The clock may be absent in a purely combinational design.
                        let _ = model.ticks(RESET_CYCLES);
                        model.set(name, u64::from(*active_low))?;
                    }
                    let mut bridge =
                        UartBridge::new(model, &options.rx_pin, &options.tx_pin, options.timing)?;
                    if let Some((pin, bit)) = &options.busy_light {
                        bridge.watch_busy(pin, *bit)?;
                    }
                    Ok(bridge)
                };
                let setup = power_up();
                let bridge = match setup {
                    Ok(b) => {
                        let _ = ready_tx.send(Ok(()));
                        b
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        let _ = ready_tx.send(Err(e));
                        return Err(Error::Board(msg));
                    }
                };
                run_board(pty, bridge, &options, &stop_flag, &cycle_flag, &power_up)
            })
            .map_err(io_err("cannot start the virtual board thread"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(VirtualBoard {
                path,
                stop,
                power_cycle,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::Board(
                    "the simulation thread ended during start-up".into(),
                ))
            }
        }
    }

    /// The pseudo-terminal to open, e.g. `/dev/pts/3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A flag that stops the board when set (for signal handlers, stdin watchers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Power-cycles the simulated design as soon as the board thread notices: a
    /// fresh model (memories cleared, as after unplugging the real board), the
    /// power-up reset, and bytes on the wire lost. The pty stays open.
    pub fn power_cycle(&self) {
        self.power_cycle.store(true, Ordering::SeqCst);
    }

    /// Whether the simulation is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the simulation and returns what it did.
    pub fn stop(mut self) -> Result<VboardStats> {
        self.stop.store(true, Ordering::SeqCst);
        self.join()
    }

    /// Waits until the board stops by itself (its `run_for` limit, or the stop flag).
    pub fn wait(mut self) -> Result<VboardStats> {
        self.join()
    }

    fn join(&mut self) -> Result<VboardStats> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(Error::Board("the simulation thread panicked".into()))),
            None => Err(Error::Board("the board was already stopped".into())),
        }
    }
}

/// What [`serve`] watches besides SIGINT and SIGTERM.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeOptions {
    /// Stop when stdin reaches end of file (a parent that dies closes it).
    pub stop_on_stdin_eof: bool,
}

/// Runs a started board as a standing service, as `revspike vboard` and
/// `revspike-vboard` do: writes `revspike virtual board on PATH` to `announce`
/// (flushed, for the tool that starts it to read), then runs until SIGINT or
/// SIGTERM (a second SIGINT while stopping ends the process), the board's own
/// time limit, or, with [`ServeOptions::stop_on_stdin_eof`], the end of stdin.
pub fn serve(
    board: VirtualBoard,
    announce: &mut dyn Write,
    options: ServeOptions,
) -> Result<VboardStats> {
    let stop = board.stop_flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered before the flag handler: a second signal once the flag is set
        // ends the process (a stop that hangs can still be interrupted).
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .map_err(io_err("cannot install the signal handlers"))?;
    }
    writeln!(
        announce,
        "revspike virtual board on {}",
        board.path().display()
    )
    .and_then(|_| announce.flush())
    .map_err(io_err("cannot print the board's pty"))?;
    if options.stop_on_stdin_eof {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            stop.store(true, Ordering::SeqCst);
        });
    }
    board.wait()
}

impl Drop for VirtualBoard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long the board sleeps on the pty per wait, so the stop flag and the time
/// limit are noticed promptly.
const POLL_MS: u16 = 20;

fn run_board(
    mut pty: Pty,
    mut bridge: UartBridge,
    options: &VirtualBoardOptions,
    stop: &AtomicBool,
    power_cycle: &AtomicBool,
    power_up: &dyn Fn() -> Result<UartBridge>,
) -> Result<VboardStats> {
    // Figures of the designs before power cycles.
    let mut before = VboardStats::default();
    let mut host_bytes: u64 = 0;
    let mut cycle_at = options.power_cycle_after_bytes;
    let deadline = options.run_for.map(|d| Instant::now() + d);
    // Run in slices of a few bytes' time, checking the pty between slices.
    let slice = options.timing.clocks_for_bits(10 * 16);
    let mut buf = vec![0u8; 4096];
    let mut out: Vec<u8> = Vec::new();
    let mut host_gone = false;
    loop {
        if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if power_cycle.swap(false, Ordering::SeqCst) {
            power_cycle_bridge(&mut bridge, &mut before, &mut out, power_up)?;
        }
        // Host to design.
        match pty.master.read(&mut buf) {
            Ok(n) if n > 0 => {
                let mut chunk = &buf[..n];
                if let Some(at) = cycle_at.filter(|&at| host_bytes + n as u64 > at) {
                    // The design before the power cycle gets the bytes up to the
                    // threshold (shifted in completely), the fresh one the rest.
                    let k = at.saturating_sub(host_bytes) as usize;
                    bridge.send(&chunk[..k]);
                    let frame = options.timing.clocks_for_bits(10);
                    bridge.flush(frame * (bridge.pending_send() as u64 + 1))?;
                    power_cycle_bridge(&mut bridge, &mut before, &mut out, power_up)?;
                    chunk = &chunk[k..];
                    cycle_at = None;
                }
                host_bytes += n as u64;
                bridge.send(chunk);
                host_gone = false;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // EIO: no process has the slave open (cannot last, we hold it); wait.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => host_gone = true,
            Err(e) => return Err(Error::Board(format!("reading the pty: {e}"))),
        }
        let active = !bridge.is_idle() || bridge.quiet_cycles() < options.idle_cycles;
        if active {
            let run = if bridge.is_idle() {
                // Quiet: run in larger steps up to the idle limit.
                (options.idle_cycles - bridge.quiet_cycles()).clamp(1, slice * 16)
            } else {
                slice
            };
            bridge.run(run)?;
        }
        out.extend(bridge.take_received());
        // Design to host.
        while !out.is_empty() {
            match pty.master.write(&out) {
                Ok(n) => {
                    out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break,
                Err(e) => return Err(Error::Board(format!("writing the pty: {e}"))),
            }
        }
        if !active || host_gone {
            // Nothing to simulate: sleep until the host writes (or can take output).
            let mut flags = PollFlags::POLLIN;
            if !out.is_empty() {
                flags |= PollFlags::POLLOUT;
            }
            let mut fds = [PollFd::new(pty.master.as_fd(), flags)];
            match poll(&mut fds, PollTimeout::from(POLL_MS)) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => {}
                Err(e) => return Err(Error::Board(format!("waiting on the pty: {e}"))),
            }
            if host_gone {
                std::thread::sleep(Duration::from_millis(u64::from(POLL_MS)));
            }
        }
    }
    let (sent, received) = bridge.totals();
    let framing_errors = bridge.framing_errors();
    let cycles = bridge.model().cycles();
    let busy = bridge.busy_cycles();
    let mut model = bridge.into_model();
    model.close_trace();
    let _ = pty.master.flush();
    Ok(VboardStats {
        cycles: before.cycles + cycles,
        bytes_to_design: before.bytes_to_design + sent,
        bytes_from_design: before.bytes_from_design + received,
        framing_errors: before.framing_errors + framing_errors,
        busy_cycles: options
            .busy_light
            .as_ref()
            .map(|_| before.busy_cycles.unwrap_or(0) + busy),
    })
}

/// Replaces the running design by a freshly powered-up one, keeping its figures
/// and the bytes it had fully sent.
fn power_cycle_bridge(
    bridge: &mut UartBridge,
    before: &mut VboardStats,
    out: &mut Vec<u8>,
    power_up: &dyn Fn() -> Result<UartBridge>,
) -> Result<()> {
    out.extend(bridge.take_received());
    let (sent, received) = bridge.totals();
    before.cycles += bridge.model().cycles();
    before.busy_cycles = Some(before.busy_cycles.unwrap_or(0) + bridge.busy_cycles());
    before.bytes_to_design += sent;
    before.bytes_from_design += received;
    before.framing_errors += bridge.framing_errors();
    bridge.model_mut().close_trace();
    *bridge = power_up()?;
    Ok(())
}
