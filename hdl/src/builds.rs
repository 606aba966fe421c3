//! The named builds: one parameterized core, instantiated per `revspike_proto::Build`.

use rust_hdl::prelude::*;

use revspike_proto::build::Build;

use crate::spiking_core::{CoreMemories, SpikingCore};

/// Alchitry Cu: 32 lanes (64 channels in two tiles).
pub type CuCore = SpikingCore<32, 64>;
/// Small build for fast simulation tests: 8 lanes, small memories.
pub type SmallCore = SpikingCore<8, 64>;
/// Simulation-only build with 128 lanes and large memories, for cycle benchmarks.
pub type WideCore = SpikingCore<128, 128>;

pub fn memories(build: &Build) -> CoreMemories {
    CoreMemories {
        rows: build.rows,
        input_entries: build.input_entries,
        state_buffer_entries: build.state_buffer_entries,
        channels: build.max_width,
    }
}

/// Emits the Verilog of a named build's core alone (its host port is the top level).
pub fn core_verilog(build: &Build) -> String {
    match build.lanes {
        8 => verilog_of(SmallCore::new(memories(build))),
        32 => verilog_of(CuCore::new(memories(build))),
        _ => verilog_of(WideCore::new(memories(build))),
    }
}

fn verilog_of<B: Block>(mut block: B) -> String {
    block.connect_all();
    generate_verilog(&block)
}
