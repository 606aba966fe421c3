//! The row memory on its own, in rust-hdl's simulator and on its emitted Verilog in
//! Verilator: every row of a depth that is one array (512) and of depths built of
//! several (the Cu's 1,280 = 1,024 + 256, and 320 = 256 + 64) written a word at a time
//! and read back, with writes past the end dropped rather than landing in a row.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use revspike_hdl::row_memory::RowMemory;
use revspike_tests::{block_pins, rust_hdl_pins};

block_pins!();

rust_hdl_pins!(
    RowMemory<64>,
    in: [read_address, write_address, write_word, write_data, write_enable],
    out: [read_data]
);

fn check(p: &mut impl Pins, rows: usize, what: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(rows as u64);
    let mut want = vec![0u64; rows];
    p.set("write_enable", 1);
    for (row, w) in want.iter_mut().enumerate() {
        for word in 0..4 {
            let v: u16 = rng.gen();
            p.set("write_address", row as u64);
            p.set("write_word", word);
            p.set("write_data", u64::from(v));
            p.tick();
            *w |= u64::from(v) << (16 * word);
        }
    }
    // Past the end: every address up to the port's 4,096 that no row answers.
    for row in (rows..4096).step_by(7) {
        p.set("write_address", row as u64);
        p.set("write_word", rng.gen_range(0..4));
        p.set("write_data", 0xDEAD);
        p.tick();
    }
    p.set("write_enable", 0);
    // Read in a shuffled order, so each row follows rows of other arrays.
    let mut order: Vec<usize> = (0..rows).collect();
    for i in (1..rows).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    for &row in &order {
        p.set("read_address", row as u64);
        p.tick();
        assert_eq!(
            p.get("read_data"),
            want[row],
            "{what}: {rows} rows, row {row}"
        );
    }
}

#[test]
fn row_memory_keeps_every_row_in_rust_hdl() {
    for rows in [320, 512, 1280] {
        check(
            &mut RustHdl::new(RowMemory::<64>::new(rows)),
            rows,
            "rust-hdl",
        );
    }
}

#[test]
fn row_memory_keeps_every_row_in_verilator() {
    for rows in [320, 512, 1280] {
        check(
            &mut Verilated::new(RowMemory::<64>::new(rows)),
            rows,
            "verilator",
        );
    }
}
