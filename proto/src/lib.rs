//! revspike-proto

pub mod protocol;
