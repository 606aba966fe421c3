//! The stem plan's executable model computes exactly the golden model's stem output,
//! through the packed input, the line buffers and the bitmaps at the plan's byte
//! addresses, for generated version 2 models and the shipped conv model; its step table
//! and layer rows hold what the window walker is given; and a plan refuses what its
//! memories and fields cannot hold, naming it.

use revspike_golden::gen::{
    gen_input, gen_model, gen_model_stem_shaped, ConvShape, Shape, StemShape, ValueOptions,
};
use revspike_golden::model::{Grouping, Model, Readout};
use revspike_golden::sim::Engine;
use revspike_proto::build::{Build, CU, SMALL, WIDE};
use revspike_proto::contract::stem_layer;
use revspike_proto::stem_plan::{
    run_sample, sample_cycles, weights_per_row, StemMemory, StemPlan, StepEntry, WalkerStep,
    CHUNK_BYTES, LAYER_BITS, LAYER_ROWS, MAX_STORE_BYTES, STEP_BITS,
};

/// The golden stem output of every group of `input`.
fn golden_outputs(model: &Model, plan: &StemPlan, input: &[u8]) -> Vec<Vec<u8>> {
    let engine = Engine::new(model);
    let g_len = model.input.group_len;
    (0..plan.groups)
        .map(|g| engine.stem_output(&input[g * g_len..(g + 1) * g_len]))
        .collect()
}

/// Every store lies inside its memory, clear of the others and of stage 0's event list.
fn check_stores(plan: &StemPlan, build: &Build, what: &str) {
    let stores = plan.stores();
    for (i, (a_what, a)) in stores.iter().enumerate() {
        let m = a.memory;
        assert!(
            a.end() <= m.first_word(build) + m.words(build),
            "{what}: {a_what} leaves the {}",
            m.name()
        );
        assert!(
            a.bitmap_base >= StemMemory::Bitmaps.first_word(build)
                && a.bitmap_end()
                    <= StemMemory::Bitmaps.first_word(build) + StemMemory::Bitmaps.words(build),
            "{what}: {a_what}'s bitmap leaves the z memory"
        );
        if m == StemMemory::Input {
            assert!(a.base >= plan.input_base(), "{what}: {a_what} under E");
        }
        for (b_what, b) in &stores[i + 1..] {
            if a.memory == b.memory {
                assert!(
                    a.end() <= b.base || b.end() <= a.base,
                    "{what}: {a_what} and {b_what} overlap"
                );
            }
            assert!(
                a.bitmap_end() <= b.bitmap_base || b.bitmap_end() <= a.bitmap_base,
                "{what}: the bitmaps of {a_what} and {b_what} overlap"
            );
        }
    }
}

#[test]
fn generated_stems_match_golden_through_the_plan() {
    for build in [&SMALL, &WIDE, &CU] {
        let opts = build.stem_gen_options();
        let (mut fitted, mut buffered, mut split) = (0, 0, 0);
        for seed in 0..400u64 {
            let model = gen_model(seed, &opts);
            let plan = match StemPlan::new(&model, build) {
                Ok(Some(p)) => p,
                Ok(None) => panic!("seed {seed}: a generated version 2 model has a stem"),
                Err(excess) => {
                    assert!(!excess.is_empty());
                    continue;
                }
            };
            let what = format!("{} seed {seed}", build.name);
            check_stores(&plan, build, &what);
            for k in 0..3 {
                let input = gen_input(&model, seed * 7 + k);
                let run = run_sample(&plan, &model, build, &input);
                assert_eq!(
                    run.outputs,
                    golden_outputs(&model, &plan, &input),
                    "{what} input {k}"
                );
                assert_eq!(run.share.stage0_stream.len(), plan.groups);
            }
            fitted += 1;
            buffered += usize::from(plan.layers.len() > 1);
            split += usize::from(plan.groups > 1);
        }
        assert!(fitted >= 100, "{}: only {fitted} stems fit", build.name);
        // Stems of two or more layers go through line buffers; split groups through
        // the packed input and the line buffers one group after another.
        assert!(
            buffered >= 50,
            "{}: only {buffered} stems with line buffers",
            build.name
        );
        assert!(split >= 20, "{}: only {split} split stems", build.name);
    }
}

fn shipped() -> Model {
    Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion-conv.json"
    ))
    .expect("the shipped conv model loads")
}

#[test]
fn the_cu_plan_holds_the_shipped_conv_model_and_computes_its_stem() {
    let m = shipped();
    let plan = StemPlan::new(&m, &CU)
        .expect("the conv model fits the Cu's stem memories")
        .expect("a stem");
    // 28x28x1 -> 14x14x16 -> 7x7x32 -> 4x4x32: stage 0's 512 bytes (and one page
    // marker) under the 784 input bytes.
    assert_eq!(
        (plan.groups, plan.output_len(), plan.input_base()),
        (1, 512, 513)
    );
    assert_eq!(plan.input_bytes(), 784);
    let input = plan.input_store();
    assert_eq!(
        (input.memory, input.base, input.end()),
        (StemMemory::Input, 513, 905)
    );
    assert_eq!((input.bitmap_base, input.bitmap_end()), (64, 113));
    // 3x3 stride 2: three chunk-aligned 224-byte slots per intermediate map, the first
    // in the event-list memory, the second in the state buffer.
    let rings: Vec<_> = plan
        .rings()
        .into_iter()
        .map(|(l, r)| (l, r.memory, r.slots, r.slot_bytes, r.base, r.bitmap_base))
        .collect();
    assert_eq!(
        rings,
        [
            (0, StemMemory::EventLists, 3, 224, 0, 113),
            (1, StemMemory::StateBuffer, 3, 224, 0, 155)
        ]
    );
    assert_eq!(plan.schedule.len(), 25);
    let r = plan.row_counts(&m, &CU);
    assert_eq!(
        (r.layers, r.steps, r.weights, r.params, r.total()),
        (9, 25, 5 + 72 + 144, 80, 335)
    );
    check_stores(&plan, &CU, "shipped");
    for seed in 0..8 {
        let img = gen_input(&m, seed);
        let run = run_sample(&plan, &m, &CU, &img);
        assert_eq!(
            run.outputs[0],
            Engine::new(&m).stem_output(&img),
            "input {seed}"
        );
    }
}

#[test]
fn the_cycle_count_has_one_event_per_nonzero_input_under_a_window() {
    // With one tile, the events counted equal the golden model's stem SOPs divided by
    // the output channels of each layer: both count nonzero inputs under every window.
    let mut checked = 0;
    for build in [&SMALL, &WIDE] {
        let opts = build.stem_gen_options();
        for seed in 0..200u64 {
            let model = gen_model(seed, &opts);
            let Ok(Some(plan)) = StemPlan::new(&model, build) else {
                continue;
            };
            if model.stem.len() != 1 || model.input.grouping != Grouping::Repeat {
                continue;
            }
            let input = gen_input(&model, seed);
            let gold = revspike_golden::sim::infer(&model, &input).unwrap();
            let c = sample_cycles(&plan, &model, build, &input);
            let co = model.stem[0].out_channels as u64;
            assert_eq!(c.events * co, gold.stem_sops, "seed {seed}");
            // The last layer's channels go to the input compactor, one every second
            // cycle.
            let [h, w, _] = plan.layers[0].output;
            assert_eq!(c.drain, (h * w) as u64 * (2 * co - 1));
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} single-layer stems checked");
}

fn shape(timesteps: usize, group_len: usize, grouping: Grouping) -> Shape {
    Shape {
        timesteps,
        group_len,
        grouping,
        classes: 4,
        readout: Readout::Sum,
        widths: vec![8],
        blocks: vec![0],
    }
}

fn conv(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> ConvShape {
    ConvShape {
        out_channels,
        kernel,
        stride,
        padding,
    }
}

fn refusals(m: &Model, build: &Build) -> Vec<String> {
    m.validate().expect("a valid model");
    StemPlan::new(m, build)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_stem_too_large_for_the_memories_is_refused_naming_them() {
    // A 64 x 64 input group of 4,096 bytes, and a 3x3 stride-1 layer of 64 x 64 x 32
    // bytes a row: three line buffer rows of 2,048 bytes.
    let stem = StemShape {
        input: [64, 64, 1],
        layers: vec![conv(32, 3, 1, 1), conv(1, 3, 4, 1)],
    };
    let m = gen_model_stem_shaped(
        3,
        &shape(2, 4096, Grouping::Repeat),
        &stem,
        &ValueOptions::default(),
    );
    let text = refusals(&m, &CU);
    for want in [
        "input memory words",
        "input map bytes (1 group(s), 12-bit byte addresses) needs 4096, build has 4095",
        "input values and page markers the input port counts (1 group(s)) needs 4111, build \
         has 4095",
        "input group length (its 11-bit register) needs 4096, build has 2047",
        "line buffer bytes of stem[0] (3 rows of 2048 bytes, 12-bit byte addresses) needs 6144",
        "line buffer words of stem[0]",
        "z memory words for bitmaps",
    ] {
        assert!(
            text.iter().any(|t| t.starts_with(want)),
            "{want:?} in {text:?}"
        );
    }
}

#[test]
fn split_groups_share_the_input_memory_with_their_event_lists() {
    // 4 groups of 16 x 16 bytes, each with a 16 x 16 output: E = 4 * (256 + 0) words of
    // event list, then 512 words of input: 1,536 of the Cu's 1,024.
    let stem = StemShape {
        input: [16, 16, 1],
        layers: vec![conv(1, 3, 1, 1)],
    };
    let m = gen_model_stem_shaped(
        5,
        &shape(4, 256, Grouping::Split),
        &stem,
        &ValueOptions::default(),
    );
    let text = refusals(&m, &CU);
    assert!(
        text.iter().any(|t| t.starts_with(
            "input memory words (stage 0's event list of 4 group(s) of 256 bytes, then 1024 \
             input bytes packed) needs 1536, build has 1024"
        )),
        "{text:?}"
    );
    // On the wide build it fits: group g's map starts at byte g * G.
    let plan = StemPlan::new(&m, &WIDE).unwrap().unwrap();
    assert_eq!((plan.input_base(), plan.input_bytes()), (1024, 1024));
    for g in 0..4 {
        let w = plan.walker_step(0, g, 0);
        assert_eq!((w.row0_byte, w.region_bytes), (g * 256, 0), "group {g}");
    }
}

#[test]
fn more_output_channels_than_lanes_are_refused_naming_the_layer() {
    let stem = StemShape {
        input: [8, 8, 1],
        layers: vec![conv(4, 3, 2, 1), conv(SMALL.lanes + 1, 3, 2, 1)],
    };
    let m = gen_model_stem_shaped(
        9,
        &shape(2, 64, Grouping::Repeat),
        &stem,
        &ValueOptions::default(),
    );
    let e = StemPlan::new(&m, &SMALL).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].what.starts_with("stem[1].out_channels"), "{e:?}");
    assert_eq!(
        (e[0].needed, e[0].available),
        (SMALL.lanes + 1, SMALL.lanes)
    );
    // The Cu's 32 lanes hold it.
    assert!(StemPlan::new(&m, &CU).unwrap().is_some());
}

#[test]
fn a_steps_fields_take_one_row_and_a_layers_three() {
    assert_eq!((STEP_BITS, LAYER_BITS, LAYER_ROWS), (64, 152, 3));
    assert_eq!((MAX_STORE_BYTES, CHUNK_BYTES), (4095, 16));
}

/// The walker step the step row and the layer rows say, decoded from them alone.
fn walker_from_rows(entry: &StepEntry, rows: &[u64; LAYER_ROWS]) -> WalkerStep {
    use stem_layer::*;
    let g = |f: revspike_proto::contract::Field, r: usize| f.get(rows[r]) as usize;
    WalkerStep {
        kci: g(KCI_M1, 0) + 1,
        sci: g(SCI, 0),
        row_last: g(ROW_LAST, 0),
        positions: g(POSITIONS, 0),
        p_ci: ((1 << LEFT0.width) - g(LEFT0, 0)) & ((1 << LEFT0.width) - 1),
        slot_bytes: g(SLOT_BYTES, 1),
        region_bytes: g(REGION_BYTES, 1),
        src_data_base: g(SRC_DATA_BASE, 1),
        src_bitmap_base: g(SRC_BITMAP_BASE, 1),
        rows: entry.rows,
        ky0_kci: entry.ky0_kci,
        row0_byte: entry.row0_byte,
    }
}

#[test]
fn the_step_table_and_layer_rows_hold_what_the_walker_is_given() {
    for build in [&SMALL, &WIDE] {
        let opts = build.stem_gen_options();
        let mut checked = 0;
        for seed in 0..300u64 {
            let model = gen_model(seed, &opts);
            let Ok(Some(plan)) = StemPlan::new(&model, build) else {
                continue;
            };
            let what = format!("{} seed {seed}", build.name);
            let n = plan.layers.len();
            let layer_rows: Vec<[u64; LAYER_ROWS]> = (0..n)
                .map(|l| {
                    plan.layer_rows(&model, build, l, 1000 + l, 2000 + l)
                        .unwrap()
                })
                .collect();
            let layers_row = 700;
            let entries = plan.step_entries(layers_row);
            let steps: Vec<_> = plan.steps().collect();
            assert_eq!(entries.len(), plan.groups * plan.schedule.len(), "{what}");
            assert_eq!(steps.len(), entries.len(), "{what}");
            for (i, (e, &(g, step))) in entries.iter().zip(&steps).enumerate() {
                let at = format!("{what} step {i}");
                let row = e.encode().expect("an accepted plan's fields fit");
                assert_eq!(StepEntry::decode(row), *e, "{at}");
                assert_eq!(STEP_BITS, 64, "the step fields fill the row's low 64 bits");
                assert_eq!(e.layer_row, layers_row + LAYER_ROWS * step.layer, "{at}");
                assert_eq!(e.last, i + 1 == entries.len(), "{at}");
                let w = plan.walker_step(step.layer, g, step.row);
                assert_eq!(walker_from_rows(e, &layer_rows[step.layer]), w, "{at}");
                // The output row's words: its slot of the ring, from the buffer's bases.
                match plan.layers[step.layer].dst {
                    Some(d) => {
                        let b = (step.row % d.slots) * d.slot_bytes;
                        assert_eq!(b % CHUNK_BYTES, 0, "{at}: a slot starts a bitmap word");
                        assert_eq!(
                            (e.dst_word, e.dst_bitmap),
                            (d.base + b / 2, d.bitmap_base + b / CHUNK_BYTES),
                            "{at}"
                        );
                    }
                    None => assert_eq!((e.dst_word, e.dst_bitmap), (0, 0), "{at}"),
                }
                if step.layer == 0 {
                    let [_, wi, ci] = plan.layers[0].input;
                    let lo = w.row0_byte - g * model.input.group_len;
                    assert_eq!(lo % (wi * ci), 0, "{at}: group g's rows start at g * G");
                }
            }
            for (l, rows) in layer_rows.iter().enumerate() {
                use stem_layer::*;
                let lp = &plan.layers[l];
                let c = &model.stem[l];
                let dst_memory = lp.dst.map_or(StemMemory::Input, |d| d.memory);
                assert_eq!(
                    (
                        SRC_MEMORY.get(rows[2]),
                        LAST_CHANNEL.get(rows[2]) as usize + 1,
                        DST_MEMORY.get(rows[1]),
                        1usize << WEIGHT_PACK.get(rows[1]),
                        SHIFT_R.get(rows[1]) as u8,
                        SPIKE_K.get(rows[1]) as u8,
                        WEIGHT_BASE.get(rows[2]) as usize,
                        PARAM_BASE.get(rows[2]) as usize,
                    ),
                    (
                        lp.src.memory.code(),
                        c.out_channels,
                        dst_memory.code(),
                        weights_per_row(build),
                        c.layer.shift,
                        c.spike.shift,
                        1000 + l,
                        2000 + l,
                    ),
                    "{what} layer {l}"
                );
                assert_eq!(
                    (l == 0, REGION_BYTES.get(rows[1]) == 0),
                    (l == 0, l == 0),
                    "{what} layer {l}: only the packed input never wraps"
                );
            }
            checked += 1;
        }
        assert!(checked >= 50, "{}: {checked}", build.name);
    }
}
