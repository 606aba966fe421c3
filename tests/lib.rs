//! Integration tests of revspike live in this folder.
