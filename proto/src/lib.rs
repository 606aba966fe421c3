//! revspike-proto
