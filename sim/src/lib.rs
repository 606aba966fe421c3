//! revspike-sim: Verilator co-simulation of revspike's emitted Verilog.
//!
//! - [`Model`]: a Verilator model of a Verilog text whose top module is `top`, with
//!   ports read from the text and accessed by name ([`Model::set`], [`Model::get`],
//!   [`Model::tick`], VCD tracing). Builds are cached on disk, keyed by a hash of the
//!   text, the shim and the Verilator version.
//! - [`mod@lint`]: `verilator --lint-only -Wall` as a library call for hardware tests.
//! - [`UartBridge`]: drives a UART receive pin and decodes a transmit pin, bit by bit,
//!   at a given number of clocks per bit.
//! - [`vboard::VirtualBoard`]: a pseudo-terminal bridged to a simulated design's UART
//!   pins, which the host opens exactly like the board's serial port.
//!
//! Why not the `verilator` crate: see docs/sim.md.

mod build;
pub mod lint;
pub mod model;
pub mod ports;
mod tool;
pub mod uart;
pub mod vboard;

pub use build::{cache_root, Design, ModelOptions};
pub use lint::{lint, LintMessage, LintReport};
pub use model::{Model, PortId};
pub use ports::{parse_top_ports, Direction, Port};
pub use tool::verilator_version;
pub use uart::UartBridge;

use std::path::PathBuf;

/// Everything that can go wrong in co-simulation, each as a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("verilator not found: run scripts/setup.sh (looked for `{0}`)")]
    VerilatorNotFound(String),
    #[error("cannot read the top-level ports: {0}")]
    Ports(String),
    #[error("port `{name}` is {width} bits wide; co-simulation ports carry at most 64 bits")]
    PortTooWide { name: String, width: u32 },
    #[error("no port named `{name}` on module top (ports: {available})")]
    UnknownPort { name: String, available: String },
    #[error("port `{name}` is an {direction}; it cannot be {action}")]
    WrongDirection {
        name: String,
        direction: Direction,
        action: &'static str,
    },
    #[error("value {value:#x} does not fit the {width}-bit port `{name}`")]
    ValueTooWide {
        name: String,
        width: u32,
        value: u64,
    },
    #[error("verilator build failed ({step}): {summary} (full log: {log})", log = .log.display())]
    Build {
        step: &'static str,
        summary: String,
        log: PathBuf,
    },
    #[error("cannot load the built model {path}: {reason}", path = .path.display())]
    Load { path: PathBuf, reason: String },
    #[error("the model was built without tracing: set ModelOptions::trace to write a VCD")]
    TraceNotBuilt,
    #[error("verilator lint found {count} error(s); first: {first}")]
    Lint { count: usize, first: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Uart(String),
    #[error("virtual board: {0}")]
    Board(String),
}

/// Result of co-simulation calls.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
