//! Emitting Verilog: the one helper every build, the bitstream flow and the tests go
//! through.
//!
//! It connects the block and runs rust-hdl's design checks (open inputs,
//! combinational loops, writes to inputs) before it writes the Verilog, so a design
//! error is an error naming the signals, never a panic inside rust-hdl or a netlist
//! with a hole in it.

use rust_hdl::core::check_error::{check_all, CheckError, PathedName};
use rust_hdl::prelude::*;
use sha2::{Digest, Sha256};

use revspike_proto::protocol::ProtocolError;

#[derive(Debug, thiserror::Error)]
pub enum HdlError {
    #[error("design check: {0}")]
    DesignCheck(String),
    #[error("build `{build}` is {shape}; cores exist for {known}")]
    UnsupportedBuild {
        build: String,
        /// The build's lanes, row width and stem unit, as `known` names each core.
        shape: String,
        known: String,
    },
    #[error(transparent)]
    Link(#[from] ProtocolError),
}

/// The Verilog of a block (connected and checked first).
pub fn verilog<B: Block>(mut block: B) -> Result<String, HdlError> {
    verilog_of_connected(&mut block)
}

/// Like [`verilog`], leaving the block for more (the flow reads its pin constraints).
pub fn verilog_of_connected<B: Block>(block: &mut B) -> Result<String, HdlError> {
    block.connect_all();
    check_all(block).map_err(|e| HdlError::DesignCheck(describe_check_error(&e)))?;
    Ok(generate_verilog_unchecked(block))
}

/// The hash a bitstream report records for the Verilog it was made from: compare it
/// with the current design's ([`crate::top::top_verilog`]) to know whether a
/// committed bitstream is still this design's.
pub fn netlist_sha256(verilog: &str) -> String {
    hex_sha256(verilog.as_bytes())
}

/// SHA-256 as lower-case hex.
pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// rust-hdl's check error as one line naming the signals (`uut$neuron.d`).
pub fn describe_check_error(e: &CheckError) -> String {
    let names = |list: Vec<&PathedName>| {
        let mut v: Vec<String> = list
            .into_iter()
            .map(|p| format!("{}.{}", p.path, p.name))
            .collect();
        v.sort();
        v.join(", ")
    };
    match e {
        CheckError::OpenSignal(map) => format!(
            "signals read but never driven: {}",
            names(map.values().collect())
        ),
        CheckError::LogicLoops(list) => format!(
            "combinational loops through: {}",
            names(list.iter().collect())
        ),
        CheckError::WritesToInputs(list) => format!(
            "inputs written inside their own block: {}",
            names(list.iter().collect())
        ),
    }
}
