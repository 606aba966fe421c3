//! revspike-golden
