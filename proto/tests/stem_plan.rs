//! The stem plan's executable model computes exactly the golden model's stem output,
//! through its line buffers and bitmaps, for generated version 2 models on every build
//! they fit; and a plan refuses what its memories cannot hold, naming it.

use revspike_golden::gen::{gen_input, gen_model, GenOptions};
use revspike_golden::model::Model;
use revspike_golden::sim::Engine;
use revspike_proto::build::{Build, CU, SMALL, WIDE};
use revspike_proto::stem_plan::{sample_cycles, StemMemories, StemPlan};

fn stem_options(build: &Build) -> GenOptions {
    GenOptions {
        max_stem_layers: 4,
        max_width: build.max_width,
        max_classes: build.max_width,
        max_stem_channels: build.max_width.min(32),
        ..GenOptions::small()
    }
}

/// Runs every group of `input` through the plan and compares with the golden stem.
fn check(model: &Model, build: &Build, plan: &StemPlan, input: &[u8], what: &str) {
    let engine = Engine::new(model);
    let mut mem = StemMemories::new(build);
    let g_len = model.input.group_len;
    for g in 0..plan.groups {
        let group = &input[g * g_len..(g + 1) * g_len];
        plan.write_input(&mut mem, g, group);
        plan.run(model, &mut mem, g);
    }
    // Every group's output is still there after all groups ran: stage 0 reads them
    // at every timestep and rewind.
    for g in 0..plan.groups {
        let group = &input[g * g_len..(g + 1) * g_len];
        assert_eq!(
            plan.read_output(&mem, g),
            engine.stem_output(group),
            "{what}: group {g}"
        );
    }
}

#[test]
fn generated_stems_match_golden_through_the_plan() {
    for build in [&SMALL, &CU, &WIDE] {
        let opts = stem_options(build);
        let (mut fitted, mut buffered) = (0, 0);
        for seed in 0..400u64 {
            let model = gen_model(seed, &opts);
            let plan = match StemPlan::new(&model, build) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(excess) => {
                    assert!(!excess.is_empty());
                    continue;
                }
            };
            for k in 0..3 {
                let input = gen_input(&model, seed * 7 + k);
                check(
                    &model,
                    build,
                    &plan,
                    &input,
                    &format!("{} seed {seed}", build.name),
                );
            }
            fitted += 1;
            buffered += usize::from(plan.layers.len() > 1);
        }
        assert!(fitted >= 100, "{}: only {fitted} stems fit", build.name);
        // Stems of two or more layers go through line buffers.
        assert!(
            buffered >= 50,
            "{}: only {buffered} stems with line buffers",
            build.name
        );
    }
}

#[test]
fn the_cycle_count_has_one_event_per_nonzero_input_under_a_window() {
    // With one tile, the events counted equal the golden model's stem SOPs divided by
    // the output channels of each layer: both count nonzero inputs under every window.
    let opts = stem_options(&CU);
    let mut checked = 0;
    for seed in 0..200u64 {
        let model = gen_model(seed, &opts);
        let Ok(Some(plan)) = StemPlan::new(&model, &CU) else {
            continue;
        };
        if model.stem.len() != 1 || model.input.grouping != revspike_golden::model::Grouping::Repeat
        {
            continue;
        }
        let input = gen_input(&model, seed);
        let gold = revspike_golden::sim::infer(&model, &input).unwrap();
        let c = sample_cycles(&plan, &model, &CU, &input);
        let co = model.stem[0].out_channels as u64;
        assert_eq!(c.events * co, gold.stem_sops, "seed {seed}");
        assert_eq!(
            c.drain,
            plan.layers[0].output.iter().product::<usize>() as u64
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} single-layer stems checked");
}

#[test]
fn a_stem_too_large_for_the_memories_is_refused_naming_them() {
    use revspike_golden::gen::{gen_model_stem_shaped, ConvShape, Shape, StemShape, ValueOptions};
    use revspike_golden::model::{Grouping, Readout};
    // A 3x3 stride-1 layer over a 64 x 64 map: three line-buffer rows of 64 x 64 bytes,
    // and an input group of 4,096 bytes.
    let stem = StemShape {
        input: [64, 64, 1],
        layers: vec![
            ConvShape {
                out_channels: 64,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            ConvShape {
                out_channels: 1,
                kernel: 3,
                stride: 4,
                padding: 1,
            },
        ],
    };
    let shape = Shape {
        timesteps: 2,
        group_len: 4096,
        grouping: Grouping::Repeat,
        classes: 4,
        readout: Readout::Sum,
        widths: vec![8],
        blocks: vec![0],
    };
    let m = gen_model_stem_shaped(3, &shape, &stem, &ValueOptions::default());
    m.validate().expect("a valid model");
    let err = StemPlan::new(&m, &CU).unwrap_err();
    let text: Vec<String> = err.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("line buffer words of stem[0]")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|t| t.starts_with("input memory words")),
        "{text:?}"
    );
}

#[test]
fn a_steps_fields_take_five_table_words_and_a_layers_three_rows() {
    use revspike_proto::stem_plan::{LAYER_BITS, LAYER_ROWS, STEP_BITS, STEP_WORDS};
    assert_eq!((STEP_BITS, STEP_WORDS), (76, 5));
    assert_eq!((LAYER_BITS, LAYER_ROWS), (177, 3));
    assert_eq!(
        revspike_proto::contract::stem_step::WORDS * 16 - STEP_BITS,
        4
    );
}

#[test]
fn the_step_table_and_layer_rows_hold_what_the_walker_is_given() {
    use revspike_proto::contract::stem_layer;
    use revspike_proto::stem_plan::StepEntry;
    for build in [&SMALL, &CU, &WIDE] {
        let opts = stem_options(build);
        let mut checked = 0;
        for seed in 0..300u64 {
            let model = gen_model(seed, &opts);
            let Ok(Some(plan)) = StemPlan::new(&model, build) else {
                continue;
            };
            let n = plan.layers.len();
            for g in 0..plan.groups {
                let entries = plan.step_entries(g);
                assert_eq!(entries.len(), plan.schedule.len());
                for (i, (e, step)) in entries.iter().zip(&plan.schedule).enumerate() {
                    let words = e.encode().expect("an accepted plan's fields fit");
                    assert_eq!(StepEntry::decode(&words), *e, "seed {seed} step {i}");
                    let (src, dst) = plan.step_stores(*step, g);
                    let w = plan.walker_step(step.layer, src, step.row);
                    assert_eq!(
                        (
                            e.rows,
                            e.ky0_kci,
                            e.slot0,
                            e.row0_data_base,
                            e.row0_bitmap_base
                        ),
                        (
                            w.rows,
                            w.ky0_kci,
                            w.slot0,
                            w.row0_data_base,
                            w.row0_bitmap_base
                        ),
                        "seed {seed} step {i}"
                    );
                    assert_eq!(
                        (e.dst_data_base, e.dst_bitmap_base, e.layer, e.last),
                        (
                            dst.data_word(step.row, 0),
                            dst.bitmap_word(step.row, 0),
                            step.layer,
                            i + 1 == plan.schedule.len()
                        )
                    );
                }
            }
            for l in 0..n {
                let rows = plan.layer_rows(&model, build, l, 1000, 2000).unwrap();
                let w = plan.walker_step(l, plan.layers[l].src, 0);
                let left = stem_layer::FIRST_LEFT.get(rows[1]);
                let sign = 1u64 << (stem_layer::FIRST_LEFT.width - 1);
                let left = (left ^ sign) as i64 - sign as i64;
                assert_eq!(
                    (
                        stem_layer::KCI.get(rows[0]) as usize,
                        stem_layer::SCI.get(rows[0]) as usize,
                        stem_layer::ROW_LAST.get(rows[0]) as usize,
                        stem_layer::POSITIONS.get(rows[0]) as usize,
                        stem_layer::SLOTS.get(rows[0]) as usize,
                        stem_layer::SLOT_DATA_WORDS.get(rows[1]) as usize,
                        stem_layer::SRC_DATA_BASE.get(rows[1]) as usize,
                        left,
                        stem_layer::WEIGHT_BASE.get(rows[2]) as usize,
                        stem_layer::LAST_CHANNEL.get(rows[2]) as usize + 1,
                    ),
                    (
                        w.kci,
                        w.sci,
                        w.row_last,
                        w.positions,
                        w.slots,
                        w.slot_data_words,
                        w.src_data_base,
                        w.first_left,
                        1000,
                        model.stem[l].out_channels,
                    ),
                    "{} seed {seed} layer {l}",
                    build.name
                );
            }
            checked += 1;
        }
        assert!(checked >= 50, "{}: {checked}", build.name);
    }
}
