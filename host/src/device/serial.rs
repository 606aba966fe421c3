//! The serial-port transport: the board's FTDI UART (`/dev/ttyUSB1`) and the virtual
//! board's pseudo-terminal are opened by the same code.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use revspike_proto::protocol::Transport;
use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits};

/// How long one `recv` waits for the first byte. Short, so the caller's overall
/// timeout is counted in small steps and a response is picked up as soon as it lands.
pub const READ_SLICE: Duration = Duration::from_millis(10);

/// A serial port in 8N1 raw mode.
pub struct SerialTransport {
    port: Box<dyn SerialPort>,
    buf: Vec<u8>,
}

/// What became of the FTDI latency timer when a port was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Latency {
    /// Set to 1 ms through this sysfs file.
    Set(String),
    /// Already 1 ms.
    AlreadyLow(String),
    /// The file exists but cannot be written (permissions): the driver default stays.
    NotWritable(String),
    /// Not a USB serial device (a pseudo-terminal, a built-in UART).
    NotUsbSerial,
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Latency::Set(p) => write!(f, "FTDI latency timer set to 1 ms ({p})"),
            Latency::AlreadyLow(p) => write!(f, "FTDI latency timer already 1 ms ({p})"),
            Latency::NotWritable(p) => write!(
                f,
                "FTDI latency timer left at the driver default: {p} is not writable \
                 (request/response traffic is slower; run as root or add a udev rule)"
            ),
            Latency::NotUsbSerial => write!(f, "not a USB serial device: no latency timer"),
        }
    }
}

/// Sets the FTDI latency timer of `path` (e.g. `/dev/ttyUSB1`) to 1 ms through
/// `/sys/bus/usb-serial/devices/<ttyUSBn>/latency_timer`. The driver default of 16 ms
/// holds every short response back that long; 1 ms makes ping-pong traffic several
/// times faster. Never fails: what happened is returned for the caller to report.
pub fn set_latency_timer(path: &Path) -> Latency {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(name) = real.file_name().and_then(|n| n.to_str()) else {
        return Latency::NotUsbSerial;
    };
    let sys = format!("/sys/bus/usb-serial/devices/{name}/latency_timer");
    let Ok(current) = std::fs::read_to_string(&sys) else {
        return Latency::NotUsbSerial;
    };
    if current.trim() == "1" {
        return Latency::AlreadyLow(sys);
    }
    match std::fs::write(&sys, "1") {
        Ok(()) => Latency::Set(sys),
        Err(_) => Latency::NotWritable(sys),
    }
}

impl SerialTransport {
    /// Opens `path` at `baud`, 8N1, no flow control. A pseudo-terminal ignores the
    /// baud; if the driver refuses a rate it cannot set on a pty, the port is opened
    /// at a standard rate instead, which a pty ignores just the same.
    pub fn open(path: &Path, baud: u32) -> Result<(SerialTransport, Latency)> {
        let name = path.to_string_lossy().into_owned();
        let builder = |b: u32| {
            serialport::new(name.clone(), b)
                .data_bits(DataBits::Eight)
                .parity(Parity::None)
                .stop_bits(StopBits::One)
                .flow_control(FlowControl::None)
                .timeout(READ_SLICE)
        };
        let port = match builder(baud).open() {
            Ok(p) => p,
            Err(first) => {
                if !is_pty(path) {
                    return Err(first)
                        .with_context(|| format!("cannot open {name} at {baud} baud"));
                }
                builder(115_200)
                    .open()
                    .with_context(|| format!("cannot open {name}"))?
            }
        };
        let latency = set_latency_timer(path);
        let t = SerialTransport {
            port,
            buf: vec![0; 8192],
        };
        Ok((t, latency))
    }

    /// Drops whatever the port has received and not yet read.
    pub fn discard_input(&mut self) {
        let _ = self.port.clear(serialport::ClearBuffer::Input);
    }
}

fn is_pty(path: &Path) -> bool {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    real.starts_with("/dev/pts") || real.to_string_lossy().contains("pty")
}

impl Transport for SerialTransport {
    fn send(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        self.port
            .write_all(bytes)
            .and_then(|_| self.port.flush())
            .map_err(|e| format!("writing the serial port: {e}"))
    }

    fn recv(&mut self) -> std::result::Result<Vec<u8>, String> {
        match self.port.read(&mut self.buf) {
            Ok(n) => Ok(self.buf[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(Vec::new()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Vec::new()),
            Err(e) => Err(format!("reading the serial port: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_of_a_non_usb_path_is_reported_not_failed() {
        assert_eq!(
            set_latency_timer(Path::new("/dev/null")),
            Latency::NotUsbSerial
        );
        assert_eq!(
            set_latency_timer(Path::new("/nonexistent/ttyUSB9")),
            Latency::NotUsbSerial
        );
    }

    #[test]
    fn opening_a_missing_port_names_it() {
        let e = SerialTransport::open(Path::new("/dev/revspike-no-such-port"), 4_000_000)
            .err()
            .expect("a missing port does not open");
        assert!(
            format!("{e:#}").contains("/dev/revspike-no-such-port"),
            "{e:#}"
        );
    }
}
