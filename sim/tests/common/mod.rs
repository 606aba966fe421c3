#![allow(dead_code)]

pub mod blocks;

use rust_hdl::prelude::*;

/// One clock period of a rust-hdl block in rust-hdl's own simulator: the same
/// rising-then-falling edge as `Model::tick`.
pub fn hdl_tick<B: Block>(uut: &mut B, clock: impl Fn(&mut B, bool)) {
    clock(uut, true);
    assert!(simulate(uut, 1000), "rust-hdl simulation did not settle");
    clock(uut, false);
    assert!(simulate(uut, 1000), "rust-hdl simulation did not settle");
}

/// Bit levels of an 8N1 frame for `byte`, one entry per clock at `cpb` clocks per bit.
pub fn uart_levels(bytes: &[u8], cpb: usize, idle_bits: usize) -> Vec<bool> {
    let mut v = vec![true; cpb * 3];
    for &b in bytes {
        let mut bits = vec![false];
        bits.extend((0..8).map(|k| (b >> k) & 1 == 1));
        bits.push(true);
        bits.resize(bits.len() + idle_bits, true);
        for bit in bits {
            v.resize(v.len() + cpb, bit);
        }
    }
    v
}
