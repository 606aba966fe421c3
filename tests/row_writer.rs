//! The row writer on its own, in rust-hdl's simulator and on its emitted Verilog in
//! Verilator, driven by the same test through its ports by name: random rows, with
//! gaps between bytes, then `finish`, must write exactly the words the stem plan's model
//! writes (`revspike_proto::stem_plan::row_words`) and nothing else.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use revspike_hdl::row_writer::RowWriter;
use revspike_proto::stem_plan::row_words;
use revspike_tests::{block_pins, rust_hdl_pins};

block_pins!();

rust_hdl_pins!(
    RowWriter,
    in: [start, data_base, bitmap_base, valid, byte, finish],
    out: [data_we, data_addr, data_word, bitmap_we, bitmap_addr, bitmap_word]
);

type Writes = BTreeMap<u64, u64>;

/// Feeds one row and returns the data and bitmap writes it made.
fn write(
    p: &mut impl Pins,
    rng: &mut ChaCha8Rng,
    bytes: &[u8],
    bases: (u64, u64),
) -> (Writes, Writes) {
    let (mut data, mut bitmap) = (Writes::new(), Writes::new());
    let record = |p: &mut dyn Pins, data: &mut Writes, bitmap: &mut Writes| {
        if p.get("data_we") == 1 {
            assert!(
                data.insert(p.get("data_addr"), p.get("data_word"))
                    .is_none(),
                "a data word written twice"
            );
        }
        if p.get("bitmap_we") == 1 {
            assert!(
                bitmap
                    .insert(p.get("bitmap_addr"), p.get("bitmap_word"))
                    .is_none(),
                "a bitmap word written twice"
            );
        }
    };
    p.set("data_base", bases.0);
    p.set("bitmap_base", bases.1);
    p.set("start", 1);
    record(p, &mut data, &mut bitmap);
    p.tick();
    p.set("start", 0);
    for &b in bytes {
        // Gaps: positions drain their channels with cycles of gathering between them.
        while rng.gen_range(0..3) == 0 {
            p.set("valid", 0);
            record(p, &mut data, &mut bitmap);
            p.tick();
        }
        p.set("valid", 1);
        p.set("byte", u64::from(b));
        record(p, &mut data, &mut bitmap);
        p.tick();
    }
    p.set("valid", 0);
    // The row is over: its partial words go out (a few cycles later in the stem unit).
    for _ in 0..rng.gen_range(0..3) {
        record(p, &mut data, &mut bitmap);
        p.tick();
    }
    p.set("finish", 1);
    record(p, &mut data, &mut bitmap);
    p.tick();
    p.set("finish", 0);
    for _ in 0..3 {
        record(p, &mut data, &mut bitmap);
        p.tick();
    }
    (data, bitmap)
}

fn check(p: &mut impl Pins, rows: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for k in 0..rows {
        let len = rng.gen_range(1..=300usize);
        let zeros = [0, 50, 90, 100][rng.gen_range(0..4)];
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.gen_range(0..100) < zeros {
                    0
                } else {
                    rng.gen_range(1..=255)
                }
            })
            .collect();
        let bases = (rng.gen_range(0..3000u64), rng.gen_range(0..3000u64));
        let (data, bitmap) = write(p, &mut rng, &bytes, bases);
        let (want_data, want_bitmap) = row_words(&bytes);
        let want = |base: u64, words: Vec<u16>| -> Writes {
            words
                .into_iter()
                .enumerate()
                .map(|(i, w)| (base + i as u64, u64::from(w)))
                .collect()
        };
        assert_eq!(
            data,
            want(bases.0, want_data),
            "row {k} ({len} bytes): data words"
        );
        assert_eq!(
            bitmap,
            want(bases.1, want_bitmap),
            "row {k} ({len} bytes): bitmap words"
        );
    }
}

#[test]
fn row_writer_packs_rows_as_the_plan_does_in_rust_hdl() {
    check(&mut RustHdl::new(RowWriter::default()), 60);
}

#[test]
fn row_writer_packs_rows_as_the_plan_does_in_verilator() {
    check(&mut Verilated::new(RowWriter::default()), 600);
}
