//! revspike-hdl
