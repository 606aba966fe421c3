//! A virtual board started by the host itself: the build's top-level Verilog in
//! Verilator behind a pseudo-terminal (revspike-sim's `VirtualBoard`), opened with
//! the same serial-port code as the real board.

use std::path::Path;

use anyhow::{Context, Result};
use revspike_proto::build::Build;
use revspike_sim::vboard::{VboardStats, VirtualBoard, VirtualBoardOptions};
use revspike_sim::{Design, ModelOptions};

/// A running virtual board; dropping it stops the simulation.
pub struct VirtualDevice {
    board: VirtualBoard,
    pub build: &'static Build,
}

impl VirtualDevice {
    /// Emits the board top level for `build`, builds it with Verilator (cached
    /// after the first time) and starts it.
    pub fn start(build: &'static Build) -> Result<VirtualDevice> {
        Ok(Self::start_many(build, 1)?.remove(0))
    }

    /// Starts `n` independent boards of `build`, each its own simulation on its own
    /// thread behind its own pty; the Verilog is emitted and built once.
    pub fn start_many(build: &'static Build, n: usize) -> Result<Vec<VirtualDevice>> {
        let verilog = revspike_hdl::top::top_verilog(build)
            .with_context(|| format!("emitting the {} top level", build.name))?;
        let design = Design::build(&verilog, &ModelOptions::default())
            .with_context(|| format!("building the virtual {} board", build.name))?;
        (0..n)
            .map(|_| {
                let options = VirtualBoardOptions {
                    timing: build.bit_timing()?,
                    busy_light: Some(("leds".into(), revspike_hdl::top::BUSY_LED)),
                    ..Default::default()
                };
                let board = VirtualBoard::start_design(&design, options)
                    .with_context(|| format!("starting the virtual {} board", build.name))?;
                Ok(VirtualDevice { board, build })
            })
            .collect()
    }

    /// The pseudo-terminal to open.
    pub fn path(&self) -> &Path {
        self.board.path()
    }

    /// Stops the simulation; returns its cycle and byte counts.
    pub fn stop(self) -> Result<VboardStats> {
        Ok(self.board.stop()?)
    }
}
