//! revspike-hdl: the spiking core, its link and the Alchitry Cu top-level, in rust-hdl.
//!
//! One block per file, named after what it is. Every block has a simulation test in
//! rust-hdl's simulator and its emitted Verilog is also checked by yosys and run in
//! Verilator (see `sim/`).

pub mod argmax;
pub mod board_io;
pub mod builds;
pub mod cell_usage;
pub mod command_engine;
pub mod contract_constants;
pub mod core_sim;
pub mod crc16;
pub mod descriptor_decoder;
pub mod emit;
pub mod event_lists;
pub mod flow;
pub mod frame_receiver;
pub mod frame_timer;
pub mod header_decoder;
pub mod host_port;
pub mod host_registers;
pub mod input_compactor;
pub mod link;
pub mod link_registers;
pub mod logic_depth;
pub mod mock_core;
pub mod neuron_unit;
pub mod payload_decoder;
pub mod pe_array;
pub mod pe_lane;
pub mod response_engine;
pub mod routed_timing;
pub mod row_memory;
pub mod row_writer;
pub mod seed_sweep;
pub mod sequencer;
pub mod slip_rx;
pub mod slip_tx;
pub mod spiking_core;
pub mod state_buffer;
pub mod stem_unit;
pub mod sync_ram;
pub mod top;
pub mod uart_rx;
pub mod uart_tx;
pub mod window_gather;
pub mod window_walker;
