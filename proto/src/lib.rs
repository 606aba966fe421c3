//! revspike-proto: what the host and the hardware must agree on, defined once.
//!
//! - [`contract`]: the descriptor and parameter-row formats, their codes and the host
//!   port's address map, bit by bit;
//! - [`board`]: the boards (device, package, pins, clock, programmer), as data;
//! - [`build`]: the named builds and their capacity;
//! - [`bit_timing`]: the UART bit period as an exact fraction of the clock;
//! - [`image`]: the compiler from a model to the core's memory image;
//! - [`cycle_model`]: the cycles a run takes, exactly as the sequencer spends them;
//! - [`protocol`]: the link's frames and commands;
//! - [`stem_plan`]: the conv stem's memory plan, row schedule and executable model.

pub mod bit_timing;
pub mod board;
pub mod build;
pub mod contract;
pub mod core_port;
pub mod cycle_model;
pub mod image;
pub mod protocol;
pub mod stem_plan;

pub use build::Build;
