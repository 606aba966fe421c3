//! The window walker driving the window gather, in rust-hdl's simulator and on their
//! emitted Verilog in Verilator: every row step of generated conv stems, on the memories
//! as the stem plan's model has them when the step runs, must stream exactly the
//! plan's events for every output position, in exactly 2 + the gather's cycles.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;

use revspike_golden::gen::{gen_input, gen_model, GenOptions};
use revspike_hdl::sync_ram::RAM_ADDR_BITS;
use revspike_hdl::window_gather::{WindowGather, BYTE_BITS, GATHER_LATENCY, INDEX_BITS};
use revspike_hdl::window_walker::{WindowWalker, LEFT_BITS};
use revspike_proto::build::{Build, CU, SMALL};
use revspike_proto::stem_plan::{StemMemories, StemMemory, StemPlan, WalkerStep};
use revspike_tests::{block_pins, rust_hdl_pins};

block_pins!();

/// The walker and the gather, wired as the core will wire them; the memories are the
/// test's.
#[derive(LogicBlock, Default)]
struct WalkerAndGather {
    clock: Signal<In, Clock>,
    kci: Signal<In, Bits<INDEX_BITS>>,
    sci: Signal<In, Bits<INDEX_BITS>>,
    row_last: Signal<In, Bits<BYTE_BITS>>,
    positions: Signal<In, Bits<9>>,
    slots: Signal<In, Bits<9>>,
    slot_data_words: Signal<In, Bits<RAM_ADDR_BITS>>,
    slot_bitmap_words: Signal<In, Bits<RAM_ADDR_BITS>>,
    src_data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    src_bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    first_left: Signal<In, Bits<LEFT_BITS>>,
    rows: Signal<In, Bits<3>>,
    ky0_kci: Signal<In, Bits<INDEX_BITS>>,
    slot0: Signal<In, Bits<9>>,
    row0_data_base: Signal<In, Bits<RAM_ADDR_BITS>>,
    row0_bitmap_base: Signal<In, Bits<RAM_ADDR_BITS>>,
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
    out_index: Signal<Out, Bits<INDEX_BITS>>,
    walker: WindowWalker,
    gather: WindowGather,
}

impl Logic for WalkerAndGather {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, walker, gather);
        self.walker.kci.next = self.kci.val();
        self.walker.sci.next = self.sci.val();
        self.walker.row_last.next = self.row_last.val();
        self.walker.positions.next = self.positions.val();
        self.walker.slots.next = self.slots.val();
        self.walker.slot_data_words.next = self.slot_data_words.val();
        self.walker.slot_bitmap_words.next = self.slot_bitmap_words.val();
        self.walker.src_data_base.next = self.src_data_base.val();
        self.walker.src_bitmap_base.next = self.src_bitmap_base.val();
        self.walker.first_left.next = self.first_left.val();
        self.walker.rows.next = self.rows.val();
        self.walker.ky0_kci.next = self.ky0_kci.val();
        self.walker.slot0.next = self.slot0.val();
        self.walker.row0_data_base.next = self.row0_data_base.val();
        self.walker.row0_bitmap_base.next = self.row0_bitmap_base.val();
        self.walker.start.next = self.start.val();
        self.walker.advance.next = self.advance.val();
        self.position_done.next = self.walker.position_done.val();
        self.last_position.next = self.walker.last_position.val();
        self.gather.start.next = self.walker.g_start.val();
        self.gather.first.next = self.walker.g_first.val();
        self.gather.last.next = self.walker.g_last.val();
        self.gather.data_base.next = self.walker.g_data_base.val();
        self.gather.bitmap_base.next = self.walker.g_bitmap_base.val();
        self.gather.index_base.next = self.walker.g_index_base.val();
        self.walker.g_busy.next = self.gather.busy.val();
        self.bitmap_addr.next = self.gather.bitmap_addr.val();
        self.gather.bitmap_data.next = self.bitmap_data.val();
        self.data_addr.next = self.gather.data_addr.val();
        self.gather.data_word.next = self.data_word.val();
        self.out_valid.next = self.gather.out_valid.val();
        self.out_value.next = self.gather.out_value.val();
        self.out_index.next = self.gather.out_index.val();
    }
}

rust_hdl_pins!(
    WalkerAndGather,
    in: [kci, sci, row_last, positions, slots, slot_data_words, slot_bitmap_words, src_data_base,
        src_bitmap_base, first_left, rows, ky0_kci, slot0, row0_data_base, row0_bitmap_base,
        start, advance, bitmap_data, data_word],
    out: [position_done, last_position, bitmap_addr, data_addr, out_valid, out_value, out_index]
);

fn set_step(p: &mut dyn Pins, w: &WalkerStep) {
    p.set("kci", w.kci as u64);
    p.set("sci", w.sci as u64);
    p.set("row_last", w.row_last as u64);
    p.set("positions", w.positions as u64);
    p.set("slots", w.slots as u64);
    p.set("slot_data_words", w.slot_data_words as u64);
    p.set("slot_bitmap_words", w.slot_bitmap_words as u64);
    p.set("src_data_base", w.src_data_base as u64);
    p.set("src_bitmap_base", w.src_bitmap_base as u64);
    p.set("first_left", (w.first_left as u64) & ((1 << LEFT_BITS) - 1));
    p.set("rows", w.rows as u64);
    p.set("ky0_kci", w.ky0_kci as u64);
    p.set("slot0", w.slot0 as u64);
    p.set("row0_data_base", w.row0_data_base as u64);
    p.set("row0_bitmap_base", w.row0_bitmap_base as u64);
}

/// One cycle with the memories answering last cycle's addresses; returns an event.
fn cycle(
    p: &mut dyn Pins,
    build: &Build,
    mem: &StemMemories,
    data: StemMemory,
) -> Option<(usize, u8)> {
    // An idle gather's addresses point anywhere: the memories wrap, as EBRs do.
    let word = |m: StemMemory, a: usize| mem.word(m, a % (m.first_word(build) + m.words(build)));
    let ev =
        (p.get("out_valid") == 1).then(|| (p.get("out_index") as usize, p.get("out_value") as u8));
    let (ba, da) = (p.get("bitmap_addr") as usize, p.get("data_addr") as usize);
    p.tick();
    p.set("start", 0);
    p.set("advance", 0);
    p.set("bitmap_data", u64::from(word(StemMemory::Bitmaps, ba)));
    p.set("data_word", u64::from(word(data, da)));
    ev
}

fn check_models(p: &mut dyn Pins, build: &'static Build, models: usize) -> usize {
    let opts = GenOptions {
        max_stem_layers: 3,
        max_width: build.max_width,
        max_classes: build.max_width,
        max_stem_channels: build.max_width.min(32),
        ..GenOptions::small()
    };
    let _ = ChaCha8Rng::seed_from_u64(0);
    let (mut checked, mut positions) = (0, 0);
    for seed in 0..400u64 {
        let model = gen_model(seed, &opts);
        let Ok(Some(plan)) = StemPlan::new(&model, build) else {
            continue;
        };
        let input = gen_input(&model, seed);
        let mut mem = StemMemories::new(build);
        plan.write_input(&mut mem, 0, &input[..model.input.group_len]);
        plan.run_with(&model, &mut mem, 0, &mut |mem, step, src| {
            let w = plan.walker_step(step.layer, src, step.row);
            set_step(p, &w);
            for x in 0..w.positions {
                p.set(if x == 0 { "start" } else { "advance" }, 1);
                let mut events = Vec::new();
                let mut c = 0u64;
                while p.get("position_done") == 0 {
                    events.extend(cycle(p, build, mem, src.memory));
                    c += 1;
                    assert!(c < 100_000, "seed {seed}: the position never finished");
                }
                let last = p.get("last_position") == 1;
                for _ in 0..GATHER_LATENCY {
                    events.extend(cycle(p, build, mem, src.memory));
                }
                let (want, cyc) = plan.window_events(mem, step.layer, src, step.row, x);
                let want: Vec<(usize, u8)> = want
                    .into_iter()
                    .map(|(j, v)| (j % (1 << INDEX_BITS), v))
                    .collect();
                let what = format!(
                    "seed {seed} stem[{}] row {} position {x}",
                    step.layer, step.row
                );
                assert_eq!(events, want, "{what}: events");
                assert_eq!(
                    c,
                    2 + cyc.fixed + cyc.events + cyc.empty_words,
                    "{what}: cycles"
                );
                assert_eq!(last, x + 1 == w.positions, "{what}: last position");
                positions += 1;
            }
        });
        checked += 1;
        if checked == models {
            break;
        }
    }
    assert_eq!(checked, models, "{}: not enough stems fit", build.name);
    positions
}

#[test]
fn walker_and_gather_stream_the_plans_windows_in_rust_hdl() {
    let mut p = RustHdl::new(WalkerAndGather::default());
    assert!(check_models(&mut p, &SMALL, 12) > 100);
}

#[test]
fn walker_and_gather_stream_the_plans_windows_in_verilator() {
    let mut p = Verilated::new(WalkerAndGather::default());
    let positions = check_models(&mut p, &SMALL, 100) + check_models(&mut p, &CU, 100);
    assert!(positions > 2_000, "{positions} positions");
}
