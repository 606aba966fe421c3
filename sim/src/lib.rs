//! revspike-sim
