//! Reaching the devices of a command: serial ports (the board's `/dev/ttyUSB1`, or a
//! virtual board started elsewhere) or virtual boards this host starts itself.
//! Plain data in, [`Boards`] out; the command line fills [`ConnectOptions`] from its
//! arguments (`cmd::connect`), a program can fill it directly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use revspike_golden::Model;
use revspike_proto::build;
use revspike_sim::vboard::VboardStats;

use super::board::VirtualDevice;
use super::{serial, Device, Faults, InputEncoding, LinkOptions, LinkTransport};

/// Response timeout on a serial port when none is given: a board answers within
/// microseconds, so this only has to cover USB latency and a loaded host.
pub const PORT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Response timeout on a virtual board this host started: Verilator simulates the
/// board a few hundred times slower than it runs, and shares the CPU with the host.
pub const VIRTUAL_TIMEOUT: Duration = Duration::from_millis(20_000);

/// How to reach the devices of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Serial ports, one per board: a board's UART or the pty of a virtual board
    /// started elsewhere (`revspike-vboard`). Empty: start virtual boards.
    pub ports: Vec<PathBuf>,
    /// Virtual boards to start when `ports` is empty (at least one is started).
    pub virtual_boards: usize,
    /// Build the virtual boards simulate (cu, cu-4m, small, wide).
    pub board_build: String,
    /// Baud rate the ports are opened at (a pty ignores it); `None`: the rates of the
    /// named builds in turn (12 Mbaud, then 4 Mbaud) until the device answers.
    pub baud: Option<u32>,
    /// Response timeout; `None`: [`PORT_TIMEOUT`] on a port, [`VIRTUAL_TIMEOUT`] on a
    /// virtual board this host started. Decided by what the host started, not by the
    /// port's path: a pty can be anything.
    pub timeout: Option<Duration>,
    /// Attempts per request (and per input) after the first.
    pub retries: usize,
    /// INFER frames kept in flight.
    pub window: usize,
    /// How INFER frames carry inputs.
    pub encoding: InputEncoding,
    /// Deliberate link damage, for tests of the recovery paths.
    pub faults: Faults,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            ports: Vec::new(),
            virtual_boards: 1,
            board_build: build::CU.name.to_string(),
            baud: None,
            timeout: None,
            retries: 8,
            window: 4,
            encoding: InputEncoding::Smallest,
            faults: Faults::default(),
        }
    }
}

impl ConnectOptions {
    /// The boards these options reach: one per port, else the virtual boards.
    pub fn board_count(&self) -> usize {
        if self.ports.is_empty() {
            self.virtual_boards.max(1)
        } else {
            self.ports.len()
        }
    }

    fn link_options(&self, started_here: bool) -> LinkOptions {
        let default = if started_here {
            VIRTUAL_TIMEOUT
        } else {
            PORT_TIMEOUT
        };
        LinkOptions {
            timeout: self.timeout.unwrap_or(default),
            retries: self.retries,
            window: self.window.max(1),
            encoding: self.encoding,
        }
    }
}

/// One device, its port, and the virtual board behind it when this host started it.
pub struct Board {
    pub port: PathBuf,
    pub device: Device,
    pub virtual_board: Option<VirtualDevice>,
    /// Why the board dropped out of an earlier batch of this command: later ones
    /// (verify's rewinds after its results) leave it out.
    pub failed: Option<String>,
    /// The figures of the virtual board, once stopped ([`Board::stop_virtual`]).
    pub stopped: Option<VboardStats>,
}

impl Board {
    /// The port, for messages.
    pub fn name(&self) -> String {
        self.port.display().to_string()
    }

    /// Stops the virtual board now, if this host started it, keeping its figures
    /// for [`Board::finish`]: its clock stops counting (the device answers nothing
    /// more).
    pub fn stop_virtual(&mut self) -> Result<()> {
        if let Some(b) = self.virtual_board.take() {
            self.stopped = Some(b.stop()?);
        }
        Ok(())
    }

    /// Closes the port and stops the virtual board, if this host started it;
    /// returns its figures.
    pub fn finish(mut self) -> Result<Option<VboardStats>> {
        self.stop_virtual()?;
        drop(self.device);
        Ok(self.stopped)
    }
}

/// Opens `path` as a device, at `opts.baud` or, without one, at each named build's
/// rate in turn until the device answers IDENTIFY (which reports its rate).
fn open(path: &Path, opts: &ConnectOptions, started_here: bool) -> Result<Device> {
    let mut bauds: Vec<u32> = Vec::new();
    match opts.baud {
        Some(b) => bauds.push(b),
        None => {
            for b in build::BUILDS {
                if !bauds.contains(&b.baud) {
                    bauds.push(b.baud);
                }
            }
        }
    }
    // A pseudo-terminal (a virtual board's, or one with nothing behind it) ignores the
    // rate, so another rate cannot help: one try, and one error line.
    if std::fs::canonicalize(path)
        .is_ok_and(|p| p.starts_with("/dev/pts") || p == Path::new("/dev/ptmx"))
    {
        bauds.truncate(1);
    }
    let label = path.display().to_string();
    for (k, &baud) in bauds.iter().enumerate() {
        let (mut serial, latency) = serial::SerialTransport::open(path, baud)?;
        // Answers a previous host left unread would otherwise be taken for ours.
        serial.discard_input();
        if k == 0 && !started_here && latency != serial::Latency::NotUsbSerial {
            crate::note!("revspike: {}: {latency}", path.display());
        }
        let transport = LinkTransport::new(Box::new(serial), opts.faults);
        match Device::connect(transport, opts.link_options(started_here), &label) {
            Ok(d) => {
                if k > 0 {
                    crate::note!(
                        "revspike: {label}: no answer at {} baud; the device answers at \
                         {baud} baud",
                        bauds[0]
                    );
                }
                return Ok(d);
            }
            // Said only if a later rate answers: a port where nothing answers fails with
            // one error line.
            Err(_) if k + 1 < bauds.len() => {}
            Err(e) => return Err(e.context(label)),
        }
    }
    unreachable!("at least one baud rate is tried")
}

/// The devices of one command, in the order given.
pub struct Boards {
    pub boards: Vec<Board>,
}

impl Boards {
    /// Opens every port in `opts.ports`, or starts `opts.virtual_boards` virtual
    /// boards and opens their ptys. Fails, naming the port, if any device cannot be
    /// opened or does not identify itself.
    pub fn connect(opts: &ConnectOptions) -> Result<Boards> {
        let mut boards = Vec::new();
        if opts.ports.is_empty() {
            let b = build::named(&opts.board_build)?;
            for vb in VirtualDevice::start_many(b, opts.virtual_boards.max(1))? {
                crate::note!(
                    "revspike: virtual board ({} build) on {}",
                    b.name,
                    vb.path().display()
                );
                let port = vb.path().to_path_buf();
                let device = open(&port, opts, true)?;
                boards.push(Board {
                    port,
                    device,
                    virtual_board: Some(vb),
                    failed: None,
                    stopped: None,
                });
            }
        } else {
            for (k, p) in opts.ports.iter().enumerate() {
                if opts.ports[..k].contains(p) {
                    bail!("{}: given twice (one --port per board)", p.display());
                }
            }
            for p in &opts.ports {
                let device = open(p, opts, false)?;
                boards.push(Board {
                    port: p.clone(),
                    device,
                    virtual_board: None,
                    failed: None,
                    stopped: None,
                });
            }
        }
        Ok(Boards { boards })
    }

    /// Connects the one board of a command that works on one device (`what`
    /// names it in the error); more than one is refused before anything is opened.
    pub fn connect_single(opts: &ConnectOptions, what: &str) -> Result<Board> {
        let n = opts.board_count();
        if n != 1 {
            bail!("{what} works on one board, {n} were given (one --port, or --virtual 1)");
        }
        Ok(Self::connect(opts)?.boards.remove(0))
    }

    pub fn len(&self) -> usize {
        self.boards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.boards.is_empty()
    }

    /// Checks the model against every device's build; nothing is sent.
    pub fn check(&self, model: &Model) -> Result<()> {
        for b in &self.boards {
            b.device.check(model).with_context(|| b.name())?;
        }
        Ok(())
    }

    /// Checks the model against every device's build, then loads it on all of them
    /// at once (one thread each). The first failure is returned, naming its port.
    pub fn load(&mut self, model: &Model) -> Result<()> {
        self.check(model)?;
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .boards
                .iter_mut()
                .map(|b| {
                    s.spawn(move || {
                        let name = b.name();
                        b.device.load(model).with_context(|| name)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("loading panicked")))
                })
                .collect()
        });
        results.into_iter().collect()
    }

    /// Closes every port and stops the virtual boards this host started; returns
    /// each board's figures (None for a port).
    pub fn finish(self) -> Result<Vec<Option<VboardStats>>> {
        self.boards.into_iter().map(Board::finish).collect()
    }
}
