//! Every block of the core and of the link, emitted as Verilog: a synthesis sanity
//! check (yosys `synth_ice40`: no latches, no undriven or implicitly declared wires)
//! and Verilator `--lint-only` with no errors. The simulation half of each pair is in
//! hdl/tests and in the Verilator co-simulation tests.

use rust_hdl::prelude::*;

use revspike_hdl::command_engine::CommandEngine;
use revspike_hdl::flow::synth_check;
use revspike_hdl::frame_receiver::FrameReceiver;
use revspike_hdl::frame_timer::FrameTimer;
use revspike_hdl::header_decoder::HeaderDecoder;
use revspike_hdl::input_compactor::InputCompactor;
use revspike_hdl::link::LinkConfig;
use revspike_hdl::link_registers::LinkRegisters;
use revspike_hdl::neuron_unit::NeuronUnit;
use revspike_hdl::payload_decoder::PayloadDecoder;
use revspike_hdl::pe_array::PeArray;
use revspike_hdl::pe_lane::PeLane;
use revspike_hdl::response_engine::ResponseEngine;
use revspike_hdl::row_memory::RowMemory;
use revspike_hdl::row_writer::RowWriter;
use revspike_hdl::state_buffer::StateBuffer;
use revspike_hdl::sync_ram::SyncRam;
use revspike_hdl::window_gather::WindowGather;
use revspike_hdl::window_walker::WindowWalker;
use revspike_proto::build::{CU, SMALL};

/// rust-hdl's own design checks (open inputs, combinational loops, writes to inputs),
/// then the Verilog.
fn emit<B: Block>(b: B) -> String {
    revspike_hdl::emit::verilog(b).unwrap_or_else(|e| panic!("{e}"))
}

fn check(name: &str, verilog: &str) {
    let stats = synth_check(verilog).unwrap_or_else(|e| panic!("{name}: synthesis check: {e}"));
    assert!(stats.cells > 0, "{name}: synthesized to nothing");
    // Errors fail the lint call; width and unused-signal warnings are rust-hdl's style.
    if let Err(e) = revspike_sim::lint(verilog) {
        panic!("{name}: verilator lint: {e}");
    }
}

#[test]
fn pe_lane() {
    check("pe_lane", &emit(PeLane::default()));
}

#[test]
fn pe_array() {
    check("pe_array", &emit(PeArray::<8, 64>::default()));
}

#[test]
fn neuron_unit() {
    check("neuron_unit", &emit(NeuronUnit::default()));
}

#[test]
fn window_gather() {
    check("window_gather", &emit(WindowGather::default()));
}

#[test]
fn window_walker() {
    check("window_walker", &emit(WindowWalker::default()));
}

#[test]
fn stem_unit() {
    check(
        "stem_unit",
        &emit(revspike_hdl::stem_unit::StemUnit::new(SMALL.max_width)),
    );
}

#[test]
fn row_writer() {
    check("row_writer", &emit(RowWriter::default()));
}

#[test]
fn input_compactor() {
    check("input_compactor", &emit(InputCompactor::default()));
}

#[test]
fn state_buffer() {
    check("state_buffer", &emit(StateBuffer::new(256)));
}

#[test]
fn memories() {
    check("sync_ram", &emit(SyncRam::<Bits<16>>::new(256)));
    check("row_memory", &emit(RowMemory::<64>::new(320)));
}

/// The Cu build's link parameters (bit timing, timeout, watchdog, build information).
fn cu_link() -> LinkConfig {
    LinkConfig::from_build(&CU.info()).unwrap()
}

#[test]
fn frame_receiver() {
    check("frame_receiver", &emit(FrameReceiver::default()));
}

#[test]
fn frame_timer() {
    check(
        "frame_timer",
        &emit(FrameTimer::new(cu_link().timeout_clocks)),
    );
}

#[test]
fn header_decoder() {
    check("header_decoder", &emit(HeaderDecoder::default()));
}

#[test]
fn payload_decoder() {
    check("payload_decoder", &emit(PayloadDecoder::default()));
}

#[test]
fn command_engine() {
    check(
        "command_engine",
        &emit(CommandEngine::new(cu_link().watchdog_cycles)),
    );
}

#[test]
fn link_registers() {
    check("link_registers", &emit(LinkRegisters::default()));
}

#[test]
fn response_engine() {
    check(
        "response_engine",
        &emit(ResponseEngine::new(&cu_link().build_info).unwrap()),
    );
}

#[test]
fn control_blocks() {
    use revspike_hdl::sequencer::{Sequencer, SequencerLayout};
    let layout = SequencerLayout {
        lanes: 8,
        group_table: 96,
        state_entries: 64,
    };
    check("sequencer", &emit(Sequencer::<0>::new(layout)));
    // With a stem unit's two inputs (array ports).
    check("sequencer_with_stem", &emit(Sequencer::<1>::new(layout)));
    check(
        "descriptor_decoder",
        &emit(revspike_hdl::descriptor_decoder::DescriptorDecoder::default()),
    );
    check(
        "host_registers",
        &emit(revspike_hdl::host_registers::HostRegisters::<64>::default()),
    );
    check(
        "event_lists",
        &emit(revspike_hdl::event_lists::EventLists::new(16)),
    );
    check("argmax", &emit(revspike_hdl::argmax::Argmax::default()));
}

#[test]
fn spiking_core_small_build() {
    check(
        "spiking_core",
        &emit(revspike_hdl::builds::SmallCore::new(
            revspike_hdl::builds::memories(&SMALL),
        )),
    );
}

#[test]
fn board_top_small_build() {
    check("top", &emit(revspike_hdl::top::small_top()));
}

/// The memories tell yosys that a read and a write of the same address in one cycle
/// never happen where the read matters (`no_rw_check`, so no bypass logic is built
/// around the EBRs). Verilator enforces it: such a read returns the stored word
/// inverted, so every Verilator test of the core and the top level fails if the
/// design ever used one. This checks the enforcement itself.
#[test]
fn colliding_reads_are_poisoned_in_verilator() {
    for verilog in [
        emit(SyncRam::<Bits<16>>::new(256)),
        emit(RowMemory::<64>::new(320)),
    ] {
        let mut m = revspike_sim::Model::new(&verilog, &Default::default()).unwrap();
        let wide = verilog.contains("write_word");
        // Write 0x1234 at address 5, then read 5 while writing 0x5678 to 5 and
        // read 6 while writing 0x9ABC to 7.
        m.set("write_enable", 1).unwrap();
        m.set("write_address", 5).unwrap();
        m.set("write_data", 0x1234).unwrap();
        if wide {
            m.set("write_word", 0).unwrap();
        }
        m.tick().unwrap();
        m.set("write_address", 6).unwrap();
        m.set("write_data", 0x0F0F).unwrap();
        m.tick().unwrap();
        m.set("read_address", 5).unwrap();
        m.set("write_address", 5).unwrap();
        m.set("write_data", 0x5678).unwrap();
        m.tick().unwrap();
        let mask = if wide { u64::MAX } else { 0xFFFF };
        assert_eq!(m.get("read_data").unwrap(), !0x1234u64 & mask);
        m.set("read_address", 6).unwrap();
        m.set("write_address", 7).unwrap();
        m.set("write_data", 0x9ABC).unwrap();
        m.tick().unwrap();
        assert_eq!(m.get("read_data").unwrap(), 0x0F0F);
        m.set("write_enable", 0).unwrap();
        m.set("read_address", 5).unwrap();
        m.tick().unwrap();
        assert_eq!(m.get("read_data").unwrap(), 0x5678);
    }
}
