//! The device options every device subcommand takes (`--port`, `--virtual`, ...),
//! turned into the library's [`ConnectOptions`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::device::{Board, Boards, ConnectOptions, Faults, InputEncoding};
use anyhow::Result;
use clap::{ArgAction, Args};
use revspike_golden::Model;

/// How to reach the devices; shared by every subcommand that talks to one.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Serial port of a board (e.g. /dev/ttyUSB1) or of a running virtual board (the
    /// pty `revspike-vboard` prints). Give it once per board: a batch is shared by
    /// all of them. Without it a virtual board is started.
    #[arg(long, value_name = "PATH", action = ArgAction::Append)]
    pub port: Vec<PathBuf>,
    /// Start N virtual boards (the emitted Verilog in Verilator behind a pty each;
    /// N = 1 when only --virtual is given) for this command and stop them at the
    /// end; one is the default when --port is not given.
    #[arg(
        long = "virtual",
        value_name = "N",
        num_args = 0..=1,
        default_missing_value = "1",
        value_parser = clap::value_parser!(u16).range(1..=64),
        conflicts_with = "port"
    )]
    pub virtual_boards: Option<u16>,
    /// Build the virtual boards simulate (cu, cu-4m, small, wide).
    #[arg(long = "board-build", value_name = "NAME", default_value = "cu")]
    pub board_build: String,
    /// Baud rate to open --port at (a pty ignores it). Default: the rate of the build
    /// behind the port, found by trying the named builds' rates (12 Mbaud, then
    /// 4 Mbaud) until the device answers IDENTIFY.
    #[arg(long)]
    pub baud: Option<u32>,
    /// How long to wait for a response before resynchronizing, in milliseconds
    /// (default 2000 on --port, 20000 on a virtual board this command starts, which
    /// simulates slowly).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Attempts per request (and per input) after the first before giving up.
    #[arg(long, default_value_t = 8)]
    pub retries: usize,
    /// How INFER frames carry inputs: the shorter of raw and zero-run packed per input
    /// (INFER_PACKED, docs/protocol.md), or always one of them.
    #[arg(long, default_value = InputEncoding::Smallest.name(), value_parser = encoding_parser())]
    pub encoding: InputEncoding,
    /// INFER frames kept in flight per board (1 = ping-pong); docs/protocol.md, flow
    /// control.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub window: u16,
    /// Testing: flip a bit in every Nth frame sent (exercises recovery).
    #[arg(long, hide = true, default_value_t = 0)]
    pub corrupt_sent_every: u32,
    /// Testing: flip a bit in every Nth chunk received (exercises recovery).
    #[arg(long, hide = true, default_value_t = 0)]
    pub corrupt_received_every: u32,
}

impl ConnectArgs {
    /// The library's options.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            ports: self.port.clone(),
            virtual_boards: self.virtual_boards.unwrap_or(1) as usize,
            board_build: self.board_build.clone(),
            baud: self.baud,
            timeout: self.timeout_ms.map(Duration::from_millis),
            retries: self.retries,
            window: self.window as usize,
            encoding: self.encoding,
            faults: Faults {
                corrupt_sent_every: self.corrupt_sent_every,
                corrupt_received_every: self.corrupt_received_every,
            },
        }
    }
}

/// Reads the model and input files, then connects the one board and runs the
/// prelude on it ([`crate::state::prelude`]).
pub fn connect_and_prelude(
    what: &str,
    connect: &ConnectArgs,
    model: Option<&Path>,
    input: Option<&Path>,
) -> Result<(Board, Option<Model>, Option<Vec<u8>>)> {
    let model = model.map(super::load_model).transpose()?;
    let input = match (input, &model) {
        (Some(p), Some(m)) => {
            let x = crate::input::read_input(p)?;
            revspike_golden::check_input(m, &x)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(x)
        }
        _ => None,
    };
    let mut board = Boards::connect_single(&connect.options(), what)?;
    if let Some(m) = &model {
        crate::state::prelude(&mut board.device, m, input.as_deref())?;
    }
    Ok((board, model, input))
}

/// `--encoding`'s values, from the device layer's own names (it knows no clap).
fn encoding_parser() -> impl clap::builder::TypedValueParser<Value = InputEncoding> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(InputEncoding::ALL.map(|e| e.name()))
        .try_map(|s: String| s.parse::<InputEncoding>())
}
