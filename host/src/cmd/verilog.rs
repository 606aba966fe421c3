//! `revspike verilog --build NAME [--top|--core] [-o FILE]`: the Verilog of a named
//! build, exactly as the bitstream flow and the virtual board emit it: the board
//! top level (UART link in front of the core, on the Alchitry Cu's pins) or the
//! spiking core alone (its host port as the top level, as the core co-simulation
//! drives it).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use revspike_proto::build;

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("part").args(["top", "core"])))]
pub struct VerilogArgs {
    /// Build to emit: cu (the Alchitry Cu), cu-4m, or the simulation builds small and wide.
    #[arg(long, default_value = "cu", value_name = "NAME")]
    pub build: String,
    /// The board top level: UART link and core (the default).
    #[arg(long)]
    pub top: bool,
    /// The spiking core alone, its host port as the top level.
    #[arg(long)]
    pub core: bool,
    /// Output file (default: stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(a: &VerilogArgs) -> Result<()> {
    let build = build::named(&a.build)?;
    let text = if a.core {
        revspike_hdl::builds::core_verilog(build)
    } else {
        revspike_hdl::top::top_verilog(build)
    };
    let what = if a.core { "core" } else { "top level" };
    let text = text.with_context(|| format!("emitting the {} {what}", build.name))?;
    super::write_out(a.output.as_deref(), &text)
}
