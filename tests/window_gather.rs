//! The window gather on its own, in rust-hdl's simulator and on its emitted Verilog in
//! Verilator, driven by the same test through its ports by name: random rows, bitmaps
//! and byte ranges (with garbage around them), against the range's nonzero bytes in
//! order and the cycles the stem's cycle model charges a window row
//! (`revspike_proto::stem_plan`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use revspike_hdl::sync_ram::RAM_ADDR_BITS;
use revspike_hdl::window_gather::{WindowGather, GATHER_LATENCY, INDEX_BITS};
use revspike_proto::stem_plan::{stem_phases, CHUNK_BYTES};
use revspike_tests::{block_pins, rust_hdl_pins};

block_pins!();

rust_hdl_pins!(
    WindowGather,
    in: [start, first, last, data_base, bitmap_base, index_base, pack, row_base, bitmap_data, data_word],
    out: [bitmap_addr, data_addr, busy, ahead_valid, ahead_row, ahead_slice, out_valid, out_value]
);

const WORDS: usize = 4096;

/// The two memories the gather reads: bitmaps and data (two bytes a word).
struct Memories {
    bitmap: Vec<u16>,
    data: Vec<u16>,
}

struct Range {
    first: usize,
    last: usize,
    data_base: usize,
    bitmap_base: usize,
    index_base: usize,
    /// log2 of the weight rows a memory row packs: the index leaves split by it.
    pack: usize,
    /// The weight row of index 0: the row leaves offset by it.
    row_base: usize,
}

/// The events `(index, value)` and the cycles from `start` until `busy` falls. An
/// event's index must come exactly one cycle ahead of its value (`ahead_*`), as its
/// high bits (`index >> pack`) and its low `pack` bits.
fn gather(p: &mut impl Pins, mem: &Memories, r: &Range) -> (Vec<(u64, u64)>, u64) {
    p.set("first", r.first as u64);
    p.set("last", r.last as u64);
    p.set("data_base", r.data_base as u64);
    p.set("bitmap_base", r.bitmap_base as u64);
    p.set("index_base", r.index_base as u64);
    p.set("pack", r.pack as u64);
    p.set("row_base", r.row_base as u64);
    p.set("start", 1);
    let mut events = Vec::new();
    let mut cycles = None;
    let mut c = 0u64;
    let mut ahead = None;
    loop {
        if p.get("out_valid") == 1 {
            let index = ahead.expect("an event without its index a cycle ahead");
            events.push((index, p.get("out_value")));
        } else {
            assert_eq!(ahead, None, "an index a cycle ahead of no event");
        }
        ahead = (p.get("ahead_valid") == 1).then(|| {
            let slice = p.get("ahead_slice");
            assert!(
                slice < 1 << r.pack,
                "slice {slice} of a row packing 2^{}",
                r.pack
            );
            let row = p.get("ahead_row").wrapping_sub(r.row_base as u64) % (1 << INDEX_BITS);
            row << r.pack | slice
        });
        if c > 0 && cycles.is_none() && p.get("busy") == 0 {
            cycles = Some(c);
        }
        if let Some(n) = cycles {
            if c > n + GATHER_LATENCY as u64 + 2 {
                break;
            }
        }
        assert!(c < 10_000, "the gather never finished");
        let (ba, da) = (p.get("bitmap_addr") as usize, p.get("data_addr") as usize);
        p.tick();
        p.set("start", 0);
        p.set("bitmap_data", u64::from(mem.bitmap[ba % WORDS]));
        p.set("data_word", u64::from(mem.data[da % WORDS]));
        c += 1;
    }
    (events, cycles.unwrap())
}

/// What the gather must produce: the range's bytes whose bitmap bit is set, in order,
/// and 2 + per bitmap word max(1, set bits in range) cycles.
fn expected(mem: &Memories, r: &Range) -> (Vec<(u64, u64)>, u64) {
    let bit = |b: usize| mem.bitmap[r.bitmap_base + b / CHUNK_BYTES] >> (b % CHUNK_BYTES) & 1 == 1;
    let byte = |b: usize| {
        let w = mem.data[r.data_base + b / 2];
        u64::from(if b.is_multiple_of(2) {
            w & 0xff
        } else {
            w >> 8
        })
    };
    let events = (r.first..=r.last)
        .filter(|&b| bit(b))
        .map(|b| (((r.index_base + b) % (1 << INDEX_BITS)) as u64, byte(b)))
        .collect();
    let mut cycles = stem_phases::WINDOW_ROW;
    for w in r.first / CHUNK_BYTES..=r.last / CHUNK_BYTES {
        let set = (w * CHUNK_BYTES..(w + 1) * CHUNK_BYTES)
            .filter(|&b| b >= r.first && b <= r.last && bit(b))
            .count() as u64;
        cycles += set.max(1);
    }
    (events, cycles)
}

fn random_case(rng: &mut ChaCha8Rng) -> (Memories, Range) {
    // Garbage everywhere, so a read outside the range or an unmasked bit shows.
    let mut mem = Memories {
        bitmap: (0..WORDS).map(|_| rng.gen()).collect(),
        data: (0..WORDS).map(|_| rng.gen()).collect(),
    };
    let row_bytes = rng.gen_range(1..=300usize);
    let zero_percent = [0, 50, 80, 100][rng.gen_range(0..4)];
    let row: Vec<u8> = (0..row_bytes)
        .map(|_| {
            if rng.gen_range(0..100) < zero_percent {
                0
            } else {
                rng.gen_range(1..=255)
            }
        })
        .collect();
    let data_base = rng.gen_range(0..WORDS - 200);
    let bitmap_base = rng.gen_range(0..WORDS - 40);
    for (i, pair) in row.chunks(2).enumerate() {
        mem.data[data_base + i] = u16::from(pair[0]) | u16::from(*pair.get(1).unwrap_or(&0)) << 8;
    }
    for (w, chunk) in row.chunks(CHUNK_BYTES).enumerate() {
        mem.bitmap[bitmap_base + w] = chunk
            .iter()
            .enumerate()
            .map(|(i, &v)| u16::from(v != 0) << i)
            .sum();
    }
    let first = rng.gen_range(0..row_bytes);
    let last = rng.gen_range(first..row_bytes);
    let index_base = rng.gen_range(0..1usize << INDEX_BITS);
    let r = Range {
        first,
        last,
        data_base,
        bitmap_base,
        index_base,
        pack: rng.gen_range(0..=2),
        row_base: rng.gen_range(0..1usize << RAM_ADDR_BITS),
    };
    (mem, r)
}

fn check(p: &mut impl Pins, cases: usize, what: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for k in 0..cases {
        let (mem, r) = random_case(&mut rng);
        let got = gather(p, &mem, &r);
        let want = expected(&mem, &r);
        assert_eq!(
            got.0, want.0,
            "{what} case {k}: events (first {} last {})",
            r.first, r.last
        );
        assert_eq!(
            got.1, want.1,
            "{what} case {k}: cycles (first {} last {})",
            r.first, r.last
        );
    }
}

#[test]
fn window_gather_streams_the_nonzero_bytes_of_a_range_in_rust_hdl() {
    check(&mut RustHdl::new(WindowGather::default()), 150, "rust-hdl");
}

#[test]
fn window_gather_streams_the_nonzero_bytes_of_a_range_in_verilator() {
    check(
        &mut Verilated::new(WindowGather::default()),
        1500,
        "verilator",
    );
}
