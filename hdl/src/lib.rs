//! revspike-hdl
pub mod flow;
