//! revspike-proto: what the host and the hardware must agree on, defined once.
//!
//! - [`build`]: the named builds and their capacity;
//! - [`image`]: the compiler from a model to the core's memory image;
//! - [`protocol`]: the link's frames and commands.

pub mod build;
pub mod core_port;
pub mod image;
pub mod protocol;

pub use build::Build;
