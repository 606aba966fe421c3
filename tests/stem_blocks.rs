//! The conv stem's three blocks together, in rust-hdl's simulator and on their emitted
//! Verilog in Verilator: the window walker and the window gather read each row step's
//! windows from the memories, the test stands in for the PE lanes and the neuron unit
//! (the golden model's arithmetic), and the row writer writes the step's output row
//! back, where later steps gather it again. Every position must stream exactly the
//! stem plan's events in exactly 2 + the gather's cycles, and every stem output must
//! equal the golden model's.

use rust_hdl::prelude::*;

use revspike_golden::gen::{gen_input, gen_model, GenOptions};
use revspike_golden::model::Model;
use revspike_golden::sim::{sat16, spike, Engine};
use revspike_hdl::row_writer::RowWriter;
use revspike_hdl::sync_ram::RAM_ADDR_BITS;
use revspike_hdl::window_gather::{WindowGather, BYTE_BITS, GATHER_LATENCY, INDEX_BITS};
use revspike_hdl::window_walker::{WindowWalker, LEFT_BITS};
use revspike_proto::build::{Build, CU, SMALL};
use revspike_proto::stem_plan::{StemMemories, StemMemory, StemPlan, WalkerStep};
use revspike_tests::{block_pins, fashion_idx, rust_hdl_pins};

block_pins!();

/// Walker, gather and writer, wired as the core will wire them; the memories, the lanes
/// and the neuron unit are the test's.
#[derive(LogicBlock, Default)]
struct StemBlocks {
    clock: Signal<In, Clock>,
    kci_m1: Signal<In, Bits<INDEX_BITS>>,
    sci: Signal<In, Bits<INDEX_BITS>>,
    row_last: Signal<In, Bits<BYTE_BITS>>,
    positions: Signal<In, Bits<9>>,
    left0: Signal<In, Bits<LEFT_BITS>>,
    slot_bytes: Signal<In, Bits<BYTE_BITS>>,
    region_bytes: Signal<In, Bits<BYTE_BITS>>,
    src_data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    src_bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    rows: Signal<In, Bits<3>>,
    ky0_kci: Signal<In, Bits<INDEX_BITS>>,
    row0_byte: Signal<In, Bits<BYTE_BITS>>,
    prime: Signal<In, Bit>,
    start: Signal<In, Bit>,
    advance: Signal<In, Bit>,
    position_done: Signal<Out, Bit>,
    last_position: Signal<Out, Bit>,
    bitmap_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    bitmap_data: Signal<In, Bits<16>>,
    data_addr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    data_word: Signal<In, Bits<16>>,
    out_valid: Signal<Out, Bit>,
    out_value: Signal<Out, Bits<8>>,
    /// The gather's `ahead_row` a cycle later (the whole index: this bench packs one
    /// weight row per memory row): the event's index as the core's weight row read
    /// sees it.
    out_index: Signal<Out, Bits<INDEX_BITS>>,
    /// `ahead_valid` led `out_valid` by exactly one cycle.
    aligned: Signal<Out, Bit>,
    w_start: Signal<In, Bit>,
    w_data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    w_bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    w_valid: Signal<In, Bit>,
    w_byte: Signal<In, Bits<8>>,
    w_finish: Signal<In, Bit>,
    data_we: Signal<Out, Bit>,
    data_waddr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    data_wword: Signal<Out, Bits<16>>,
    bitmap_we: Signal<Out, Bit>,
    bitmap_waddr: Signal<Out, Bits<RAM_ADDR_BITS>>,
    bitmap_wword: Signal<Out, Bits<16>>,
    walker: WindowWalker,
    gather: WindowGather,
    writer: RowWriter,
    ahead_index: DFF<Bits<INDEX_BITS>>,
    ahead_valid: DFF<Bit>,
}

impl Logic for StemBlocks {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, walker, gather, writer);
        dff_setup!(self, clock, ahead_index, ahead_valid);
        self.ahead_index.d.next = self.gather.ahead_row.val();
        self.ahead_valid.d.next = self.gather.ahead_valid.val();
        self.aligned.next = self.ahead_valid.q.val() == self.gather.out_valid.val();
        self.walker.kci_m1.next = self.kci_m1.val();
        self.walker.sci.next = self.sci.val();
        self.walker.row_last.next = self.row_last.val();
        self.walker.positions.next = self.positions.val();
        self.walker.left0.next = self.left0.val();
        self.walker.slot_bytes.next = self.slot_bytes.val();
        self.walker.region_bytes.next = self.region_bytes.val();
        self.walker.rows.next = self.rows.val();
        self.walker.ky0_kci.next = self.ky0_kci.val();
        self.walker.row0_byte.next = self.row0_byte.val();
        self.walker.prime.next = self.prime.val();
        self.walker.start.next = self.start.val();
        self.walker.advance.next = self.advance.val();
        self.position_done.next = self.walker.position_done.val();
        self.last_position.next = self.walker.last_position.val();
        self.gather.start.next = self.walker.g_start.val();
        self.gather.first.next = self.walker.g_first.val();
        self.gather.last.next = self.walker.g_last.val();
        self.gather.data_base.next = self.src_data_base.val();
        self.gather.bitmap_base.next = self.src_bitmap_base.val();
        self.gather.index_base.next = self.walker.g_index_base.val();
        self.gather.pack.next = 0.into();
        self.gather.row_base.next = 0.into();
        self.walker.g_busy.next = self.gather.busy.val();
        self.bitmap_addr.next = self.gather.bitmap_addr.val();
        self.gather.bitmap_data.next = self.bitmap_data.val();
        self.data_addr.next = self.gather.data_addr.val();
        self.gather.data_word.next = self.data_word.val();
        self.out_valid.next = self.gather.out_valid.val();
        self.out_value.next = self.gather.out_value.val();
        self.out_index.next = self.ahead_index.q.val();
        self.writer.start.next = self.w_start.val();
        self.writer.data_base.next = self.w_data_base.val();
        self.writer.bitmap_base.next = self.w_bitmap_base.val();
        self.writer.finish.next = self.w_finish.val();
        self.writer.valid.next = self.w_valid.val();
        self.writer.byte.next = self.w_byte.val();
        self.data_we.next = self.writer.data_we.val();
        self.data_waddr.next = self.writer.data_addr.val();
        self.data_wword.next = self.writer.data_word.val();
        self.bitmap_we.next = self.writer.bitmap_we.val();
        self.bitmap_waddr.next = self.writer.bitmap_addr.val();
        self.bitmap_wword.next = self.writer.bitmap_word.val();
    }
}

rust_hdl_pins!(
    StemBlocks,
    in: [kci_m1, sci, row_last, positions, left0, slot_bytes, region_bytes, src_data_base,
        src_bitmap_base, rows, ky0_kci, row0_byte, prime, start, advance, bitmap_data, data_word, w_start, w_data_base, w_bitmap_base,
        w_valid, w_byte, w_finish],
    out: [position_done, last_position, bitmap_addr, data_addr, out_valid, out_value, out_index, aligned, data_we,
        data_waddr, data_wword, bitmap_we, bitmap_waddr, bitmap_wword]
);

fn set_step(p: &mut dyn Pins, w: &WalkerStep) {
    for (name, v) in [
        ("kci_m1", w.kci_m1() as u64),
        ("sci", w.sci as u64),
        ("row_last", w.row_last as u64),
        ("positions", w.positions as u64),
        ("left0", w.left0() as u64),
        ("slot_bytes", w.slot_bytes as u64),
        ("region_bytes", w.region_bytes as u64),
        ("src_data_base", w.src_data_base as u64),
        ("src_bitmap_base", w.src_bitmap_base as u64),
        ("rows", w.rows as u64),
        ("ky0_kci", w.ky0_kci as u64),
        ("row0_byte", w.row0_byte as u64),
    ] {
        p.set(name, v);
    }
}

/// The memories, as EBRs: reads answer the next cycle, writes land at the edge.
struct Mems<'a> {
    build: &'a Build,
    mem: StemMemories,
}

impl Mems<'_> {
    fn wrap(&self, m: StemMemory, a: usize) -> usize {
        a % (m.first_word(self.build) + m.words(self.build))
    }

    /// One clock: the gather's reads of `src` and the writer's writes to `dst`.
    fn cycle(&mut self, p: &mut dyn Pins, src: StemMemory, dst: StemMemory) -> Option<(usize, u8)> {
        assert_eq!(
            p.get("aligned"),
            1,
            "an event's index did not lead it by one cycle"
        );
        let ev = (p.get("out_valid") == 1)
            .then(|| (p.get("out_index") as usize, p.get("out_value") as u8));
        let (ba, da) = (p.get("bitmap_addr") as usize, p.get("data_addr") as usize);
        let dw = (p.get("data_we") == 1)
            .then(|| (p.get("data_waddr") as usize, p.get("data_wword") as u16));
        let bw = (p.get("bitmap_we") == 1)
            .then(|| (p.get("bitmap_waddr") as usize, p.get("bitmap_wword") as u16));
        p.tick();
        for pin in [
            "prime", "start", "advance", "w_start", "w_valid", "w_finish",
        ] {
            p.set(pin, 0);
        }
        // The read takes the word before this edge's write, as a read-before-write EBR.
        let b = self
            .mem
            .word(StemMemory::Bitmaps, self.wrap(StemMemory::Bitmaps, ba));
        let d = self.mem.word(src, self.wrap(src, da));
        p.set("bitmap_data", u64::from(b));
        p.set("data_word", u64::from(d));
        if let Some((a, w)) = dw {
            let a = self.wrap(dst, a);
            self.mem.set(dst, a, w);
        }
        if let Some((a, w)) = bw {
            let a = self.wrap(StemMemory::Bitmaps, a);
            self.mem.set(StemMemory::Bitmaps, a, w);
        }
        ev
    }
}

/// Runs every group of `input` through the blocks; returns each group's stem output.
fn run_stem(
    p: &mut dyn Pins,
    model: &Model,
    plan: &StemPlan,
    build: &Build,
    input: &[u8],
    what: &str,
) -> Vec<Vec<u8>> {
    let mut m = Mems {
        build,
        mem: StemMemories::new(build),
    };
    plan.write_input(&mut m.mem, input);
    let mut outputs = vec![Vec::new(); plan.groups];
    for (g, step) in plan.steps() {
        let lp = &plan.layers[step.layer];
        let conv = &model.stem[step.layer];
        let w = plan.walker_step(step.layer, g, step.row);
        set_step(p, &w);
        p.set("prime", 1);
        // The last layer's bytes go to stage 0's event list: the test keeps them.
        let dst = lp.dst;
        let dst_mem = dst.map_or(StemMemory::Input, |d| d.memory);
        if dst.is_some() {
            let (word, bitmap) = plan.dst_words(step.layer, step.row);
            p.set("w_data_base", word as u64);
            p.set("w_bitmap_base", bitmap as u64);
            p.set("w_start", 1);
        }
        // As in the stem unit: `prime` in its Row1 cycle, `start` in its first Position
        // cycle, three cycles on (the walker needs two idle cycles after `prime`).
        for _ in 0..3 {
            m.cycle(p, lp.src.memory, dst_mem);
        }
        for x in 0..w.positions {
            p.set(if x == 0 { "start" } else { "advance" }, 1);
            let mut events = Vec::new();
            let mut c = 0u64;
            while p.get("position_done") == 0 {
                events.extend(m.cycle(p, lp.src.memory, dst_mem));
                c += 1;
                assert!(c < 100_000, "{what}: a position never finished");
            }
            let last = p.get("last_position") == 1;
            for _ in 0..GATHER_LATENCY {
                events.extend(m.cycle(p, lp.src.memory, dst_mem));
            }
            // The walker and the gather stream exactly the plan's events, in exactly 2
            // + the gather's cycles.
            let (want, cyc) = plan.window_events(&m.mem, step.layer, g, step.row, x);
            let want: Vec<(usize, u8)> = want
                .into_iter()
                .map(|(j, v)| (j % (1 << INDEX_BITS), v))
                .collect();
            let at = format!(
                "{what}: group {g} stem[{}] row {} position {x}",
                step.layer, step.row
            );
            assert_eq!(events, want, "{at}: events");
            assert_eq!(
                c,
                2 + cyc.fixed + cyc.events + cyc.empty_words,
                "{at}: cycles"
            );
            assert_eq!(last, x + 1 == w.positions, "{at}: last position");
            // The lanes and the neuron unit: the golden arithmetic, one channel a cycle.
            let l = &conv.layer;
            let u: Vec<i16> = (0..conv.out_channels)
                .map(|o| {
                    let acc: i64 = events
                        .iter()
                        .map(|&(j, v)| {
                            if l.weight(o, j) {
                                v as i64
                            } else {
                                -(v as i64)
                            }
                        })
                        .sum();
                    sat16((acc * l.multiplier[o] as i64 + l.bias[o] as i64) >> l.shift)
                })
                .collect();
            for s in spike(&conv.spike, &u) {
                if dst.is_some() {
                    p.set("w_valid", 1);
                    p.set("w_byte", u64::from(s));
                    m.cycle(p, lp.src.memory, dst_mem);
                } else {
                    outputs[g].push(s);
                }
            }
        }
        // The row is over: the writer's last words go out and land.
        if dst.is_some() {
            p.set("w_finish", 1);
        }
        for _ in 0..2 {
            m.cycle(p, lp.src.memory, dst_mem);
        }
    }
    outputs
}

fn check_generated(p: &mut dyn Pins, build: &'static Build, models: usize) {
    let opts = GenOptions {
        max_stem_layers: 3,
        max_width: build.max_width,
        max_classes: build.max_width,
        max_stem_channels: build.lanes.min(32),
        ..GenOptions::small()
    };
    let mut checked = 0;
    for seed in 0..1000u64 {
        let model = gen_model(seed, &opts);
        let Ok(Some(plan)) = StemPlan::new(&model, build) else {
            continue;
        };
        let input = gen_input(&model, seed);
        let what = format!("{} seed {seed}", build.name);
        let got = run_stem(p, &model, &plan, build, &input, &what);
        let g_len = model.input.group_len;
        let engine = Engine::new(&model);
        for (g, out) in got.iter().enumerate() {
            let want = engine.stem_output(&input[g * g_len..(g + 1) * g_len]);
            assert_eq!(out, &want, "{what}: group {g}: stem output");
        }
        checked += 1;
        if checked == models {
            return;
        }
    }
    panic!("{}: only {checked} stems fit", build.name);
}

#[test]
fn stem_blocks_compute_generated_stems_in_rust_hdl() {
    check_generated(&mut RustHdl::new(StemBlocks::default()), &SMALL, 30);
}

#[test]
fn stem_blocks_compute_generated_stems_and_the_shipped_models_in_verilator() {
    let mut p = Verilated::new(StemBlocks::default());
    check_generated(&mut p, &SMALL, 100);
    check_generated(&mut p, &CU, 100);
    let model = Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion-conv.json"
    ))
    .expect("the shipped conv model loads");
    let plan = StemPlan::new(&model, &CU).unwrap().unwrap();
    let engine = Engine::new(&model);
    let images = fashion_idx("t10k-images-idx3-ubyte.gz", 16);
    for (k, img) in images.chunks(784).take(200).enumerate() {
        let got = run_stem(&mut p, &model, &plan, &CU, img, &format!("test image {k}"));
        assert_eq!(
            got[0],
            engine.stem_output(img),
            "test image {k}: stem output"
        );
    }
}
