//! `revspike verilog --build NAME [--top|--core] [-o FILE]`: the Verilog of a named
//! build, exactly as the bitstream flow and the virtual board emit it: the board
//! top level (UART link in front of the core, on the Alchitry Cu's pins) or the
//! spiking core alone (its host port as the top level, as the core co-simulation
//! drives it).

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use revspike_proto::build::{self, Build};

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("part").args(["top", "core"])))]
pub struct VerilogArgs {
    /// Build to emit: cu (the Alchitry Cu), small or wide (simulation builds).
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

/// The named build, or an error listing the known ones.
pub fn build_named(name: &str) -> Result<&'static Build> {
    build::by_name(name).ok_or_else(|| {
        let names: Vec<&str> = build::BUILDS.iter().map(|b| b.name).collect();
        anyhow!("unknown build '{name}' (builds: {})", names.join(", "))
    })
}

/// The board top level's Verilog of `build`. rust-hdl reports some design errors
/// (logic loops) by panicking while it emits: that becomes an error naming the build.
pub fn top_verilog(build: &Build) -> Result<String> {
    emit(build, "top level", || {
        revspike_hdl::top::top_verilog(build).map_err(|e| anyhow!(e))
    })
}

/// The core's Verilog of `build`.
pub fn core_verilog(build: &Build) -> Result<String> {
    emit(build, "core", || {
        Ok(revspike_hdl::builds::core_verilog(build))
    })
}

fn emit(build: &Build, what: &str, f: impl FnOnce() -> Result<String>) -> Result<String> {
    let emitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        anyhow!("emitting the {} {what} failed: {why}", build.name)
    })?;
    emitted.with_context(|| format!("emitting the {} {what}", build.name))
}

pub fn run(a: &VerilogArgs) -> Result<()> {
    let build = build_named(&a.build)?;
    let text = if a.core {
        core_verilog(build)?
    } else {
        top_verilog(build)?
    };
    super::write_out(a.output.as_deref(), &text)
}
