//! Contract values as rust-hdl `Constant` fields.
//!
//! A `#[hdl_gen]` kernel cannot name a Rust constant, so a block that unpacks a field
//! or compares a code of `revspike_proto::contract` holds it as a `Constant` field; these
//! build them from the one definition, so no block writes a field offset or a code as a
//! number of its own.

use rust_hdl::prelude::*;

use revspike_proto::contract::{CoreStatus, Field};
use revspike_proto::protocol::ErrorCode;

use crate::host_port::STATUS_BITS;

/// A field's bit offset (for `get_bits` / `get_bit`).
pub fn offset(f: Field) -> Constant<Bits<8>> {
    Constant::new((f.offset as u64).into())
}

/// A code or number, `N` bits wide.
pub fn value<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.into())
}

/// A core status code; `None` is success.
pub fn core_status(s: Option<CoreStatus>) -> Constant<Bits<STATUS_BITS>> {
    value(u64::from(s.map_or(CoreStatus::SUCCESS, CoreStatus::code)))
}

/// Width of the link's error-code registers and ports.
pub const ERROR_BITS: usize = 4;

const _: () = {
    let mut i = 0;
    while i < ErrorCode::ALL.len() {
        assert!((ErrorCode::ALL[i] as u64) < 1 << ERROR_BITS);
        i += 1;
    }
};

/// A link error code (an error frame's code byte).
pub fn error_code(e: ErrorCode) -> Constant<Bits<ERROR_BITS>> {
    value(u64::from(e.code()))
}
