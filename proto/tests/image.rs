//! The model compiler's channel tiles, its conv stem rows and the builds' capacity
//! rules.

use revspike_golden::gen::{gen_model, gen_model_shaped, Shape, ValueOptions};
use revspike_golden::model::{Grouping, Readout};
use revspike_proto::build::{Build, BUILDS, CU, SMALL, WIDE};
use revspike_proto::contract::{stem_layer, ConfigReg, Post, Source, MAX_TILES};
use revspike_proto::image::{compile, rows_needed, Image, ParamRow};
use revspike_proto::stem_plan::{weights_per_row, StemPlan, StepEntry, LAYER_ROWS};

#[test]
fn every_build_holds_its_channels_in_at_most_four_tiles_of_one_row() {
    for b in BUILDS {
        let n = b.max_width();
        assert!(n.is_power_of_two(), "{}", b.name);
        assert!(b.lanes <= n && n <= MAX_TILES * b.lanes, "{}", b.name);
        assert!(n <= b.row_bits && n <= 128, "{}", b.name);
    }
    assert_eq!(
        SMALL.tiles(SMALL.max_width()),
        2,
        "the small build tests tiling"
    );
}

#[test]
fn every_build_takes_exactly_its_class_limit() {
    for b in BUILDS {
        let c = b.max_classes();
        assert!(
            b.tiles(c) <= MAX_TILES,
            "{}: the head needs too many tiles",
            b.name
        );
        // The head of max_classes classes fits and compiles into one descriptor per
        // channel tile of its outputs.
        let model = two_block_model(4, c);
        if let Err(e) = b.check(&model) {
            panic!("{}: {c} classes refused: {e:?}", b.name);
        }
        let image = compile(&model, b);
        let forward = &image.descriptors[image.forward_program..image.rewind_program];
        let head = &forward[forward.len() - b.tiles(c)..];
        assert!(head.last().is_some_and(|d| d.last), "{}", b.name);
        assert_eq!(
            head.iter().map(|d| d.outputs).sum::<usize>(),
            c,
            "{}: the head's tiles cover every class",
            b.name
        );
        for (t, d) in head.iter().enumerate() {
            assert_eq!((d.tile, d.first_channel), (t, t * b.lanes), "{}", b.name);
        }
        // One more class is refused, naming the figure.
        let more = two_block_model(4, c + 1);
        let e = b.check(&more).unwrap_err();
        assert!(
            e.excess
                .iter()
                .any(|x| x.what == "classes" && x.needed == c + 1 && x.available == c),
            "{}: {e:?}",
            b.name
        );
    }
}

fn two_block_model(width: usize, classes: usize) -> revspike_golden::model::Model {
    gen_model_shaped(
        7,
        &Shape {
            timesteps: 2,
            group_len: 12,
            grouping: Grouping::Split,
            readout: Readout::Sum,
            widths: vec![width],
            blocks: vec![2],
            classes,
        },
        &ValueOptions::default(),
    )
}

#[test]
fn a_layer_wider_than_the_lanes_runs_as_tiles_of_p_channels() {
    let model = two_block_model(13, 11);
    let image = compile(&model, &SMALL);
    let p = SMALL.lanes;
    // Per timestep: down, block 0, block 1 (2 tiles each), head (2 tiles); rewind 3 x 2.
    assert_eq!(image.rewind_program, 8);
    assert_eq!(image.descriptors.len(), 14);
    assert_eq!(rows_needed(&model, &SMALL), image.rows.len());
    for pair in image.descriptors.chunks(2) {
        let (a, b) = (pair[0], pair[1]);
        assert_eq!(
            (a.tile, a.first_channel, b.tile, b.first_channel),
            (0, 0, 1, p)
        );
        assert_eq!(a.outputs, p);
        assert!(b.outputs < p);
        assert_eq!(b.param_base, a.param_base + p, "tile 1's parameter rows");
        assert_eq!(a.weight_base, b.weight_base, "tiles share the weight rows");
        assert_eq!(
            (a.src, a.post, a.spikes_to_b),
            (b.src, b.post, b.spikes_to_b)
        );
    }
    assert!(image.descriptors[7].last && !image.descriptors[6].last);
    assert!(image.descriptors[13].last);
    // No layer streams the scratch list it writes: block b reads list b % 2.
    let fwd = &image.descriptors[..6];
    assert_eq!((fwd[0].post, fwd[0].spikes_to_b), (Post::Spike, false));
    assert_eq!(
        (fwd[2].src, fwd[2].post, fwd[2].spikes_to_b),
        (Source::ScratchA, Post::Spike, true)
    );
    assert_eq!((fwd[4].src, fwd[4].post), (Source::ScratchB, Post::TurnOn));
}

#[test]
fn layers_within_the_lanes_take_one_descriptor_each() {
    let model = two_block_model(8, 5);
    let image = compile(&model, &SMALL);
    assert_eq!(image.descriptors.len(), 3 + 1 + 3);
    assert!(image.descriptors.iter().all(|d| d.tile == 0));
    assert_eq!(rows_needed(&model, &SMALL), image.rows.len());
    assert!(rows_needed(&model, &CU) <= rows_needed(&model, &SMALL));
}

/// The Cu's lanes and memories without the conv stem unit.
static CU_NO_STEM: Build = Build {
    name: "cu-no-stem",
    stem: false,
    ..CU
};

#[test]
fn only_a_build_with_a_stem_unit_takes_a_stem() {
    let mut refused = 0;
    for (name, model, _) in revspike_golden::gen::edge_cases() {
        if model.stem.is_empty() {
            continue;
        }
        for b in BUILDS.into_iter().chain([&CU_NO_STEM]) {
            let no_unit = format!(
                "stem layers (build `{}` has no conv stem unit) needs {}, build has 0",
                b.name,
                model.stem.len()
            );
            let said = match b.check(&model) {
                Ok(()) => false,
                Err(e) => e.excess.iter().any(|x| x.to_string() == no_unit),
            };
            assert_eq!(said, !b.stem, "{name} on {}", b.name);
            refused += usize::from(said);
        }
    }
    assert!(refused >= 2, "{refused} refusals");
    // Every named build has the unit.
    let with: Vec<&str> = BUILDS.iter().filter(|b| b.stem).map(|b| b.name).collect();
    assert_eq!(with, ["cu", "cu-4m", "small", "wide"]);
}

#[test]
fn the_shipped_conv_model_fits_the_cu_and_needs_its_stem_unit_alone() {
    let m = revspike_golden::model::Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion-conv.json"
    ))
    .unwrap();
    CU.check(&m).expect("the conv model fits the Cu");
    // Without the unit, the stem is all that does not fit.
    let e = CU_NO_STEM.check(&m).unwrap_err();
    let text: Vec<String> = e.excess.iter().map(|x| x.to_string()).collect();
    assert_eq!(
        text,
        ["stem layers (build `cu-no-stem` has no conv stem unit) needs 3, build has 0"]
    );
    let report = CU_NO_STEM.fit_report(&m);
    for want in [
        "build cu-no-stem: does not fit",
        "stem plan on cu-no-stem (build `cu-no-stem` has no conv stem unit): 25 row steps",
    ] {
        assert!(report.contains(want), "{want:?} in {report}");
    }
    let report = CU.fit_report(&m);
    for want in [
        "build cu: fits (1254 of 1280 rows)",
        "stem plan on cu: 25 row steps per group, 1 group(s), 335 rows",
        "input map(s), packed             28 x 28 bytes: input memory words 513..905, bitmaps \
         64..113",
    ] {
        assert!(report.contains(want), "{want:?} in {report}");
    }
}

fn row_value(image: &Image, r: usize) -> u128 {
    image.rows[r]
        .iter()
        .enumerate()
        .fold(0u128, |v, (k, &w)| v | u128::from(w) << (16 * k))
}

fn config(image: &Image, reg: ConfigReg) -> Option<u16> {
    image
        .config
        .iter()
        .find(|(r, _)| *r == reg)
        .map(|&(_, v)| v)
}

#[test]
fn a_stem_compiles_to_layer_rows_a_step_table_weights_and_params_that_decode_back() {
    for build in [&SMALL, &WIDE] {
        let opts = build.stem_gen_options();
        let mut compiled = 0;
        for seed in 0..300u64 {
            let model = gen_model(seed, &opts);
            if build.check(&model).is_err() {
                continue;
            }
            let what = format!("{} seed {seed}", build.name);
            let plan = StemPlan::new(&model, build).unwrap().unwrap();
            let image = compile(&model, build);
            assert_eq!(image.rows.len(), rows_needed(&model, build), "{what}");
            // The version 1 part is the image of the same layers without the stem unit.
            let bare = Build {
                stem: false,
                ..(*build).clone()
            };
            let v1 = compile(&model, &bare);
            let stem_rows = plan.rows(&model, build);
            assert_eq!(
                v1.rows[..],
                image.rows[..image.rows.len() - stem_rows],
                "{what}"
            );
            assert_eq!(v1.config[..], image.config[..v1.config.len()], "{what}");

            let reg = |r| config(&image, r).unwrap_or_else(|| panic!("{what}: no {r:?}")) as usize;
            // The layers' field rows follow the rest, the step table follows them.
            let layers_row = v1.rows.len();
            let steps_row = reg(ConfigReg::StemSteps);
            assert_eq!(
                (reg(ConfigReg::StemOutLen), reg(ConfigReg::StemInBase)),
                (plan.output_len(), plan.input_base()),
                "{what}"
            );
            assert_eq!(plan.output_len(), model.stages[0].down.inputs, "{what}");
            let n = model.stem.len();
            assert_eq!(steps_row, layers_row + LAYER_ROWS * n, "{what}");

            // The step table, the very last step marked.
            let entries = plan.step_entries(layers_row);
            for (i, e) in entries.iter().enumerate() {
                let row = row_value(&image, steps_row + i);
                assert_eq!(row >> 64, 0, "{what} step {i}: fields in the low 64 bits");
                assert_eq!(StepEntry::decode(row as u64), *e, "{what} step {i}");
            }
            assert!(entries.last().unwrap().last);
            assert_eq!(entries.iter().filter(|e| e.last).count(), 1, "{what}");

            // Each layer's rows name its weight and parameter rows, packed per_row
            // window indices to a row, all inside the image and after the step table.
            let per_row = weights_per_row(build);
            let mut next = steps_row + entries.len();
            for (l, c) in model.stem.iter().enumerate() {
                let rows: Vec<u64> = (0..LAYER_ROWS)
                    .map(|k| row_value(&image, layers_row + LAYER_ROWS * l + k) as u64)
                    .collect();
                let weight_base = stem_layer::WEIGHT_BASE.get(rows[2]) as usize;
                let param_base = stem_layer::PARAM_BASE.get(rows[2]) as usize;
                assert_eq!(
                    rows[..],
                    plan.layer_rows(&model, build, l, weight_base, param_base)
                        .unwrap()[..],
                    "{what} layer {l}"
                );
                assert_eq!(weight_base, next, "{what} layer {l}");
                let fan_in = c.layer.inputs;
                let weight_rows = fan_in.div_ceil(per_row);
                assert_eq!(param_base, weight_base + weight_rows, "{what} layer {l}");
                for r in 0..weight_rows {
                    let row = row_value(&image, weight_base + r);
                    for s in 0..per_row {
                        for o in 0..build.lanes {
                            let bit = row >> (s * build.lanes + o) & 1 == 1;
                            let j = r * per_row + s;
                            let want = j < fan_in && o < c.out_channels && c.layer.weight(o, j);
                            assert_eq!(bit, want, "{what} layer {l} row {r} s {s} o {o}");
                        }
                    }
                    let past = row.checked_shr((per_row * build.lanes) as u32).unwrap_or(0);
                    assert_eq!(past, 0, "{what} layer {l} row {r}: bits past the lanes");
                }
                for o in 0..c.out_channels {
                    let p = ParamRow::decode(row_value(&image, param_base + o) as u64);
                    assert_eq!(
                        p,
                        ParamRow {
                            m: c.layer.multiplier[o],
                            b: c.layer.bias[o],
                            threshold: c.spike.threshold[o],
                            negative_leak: false,
                            h: 0,
                        },
                        "{what} layer {l} channel {o}"
                    );
                }
                next = param_base + c.out_channels;
            }
            assert_eq!(next, image.rows.len(), "{what}");
            compiled += 1;
        }
        assert!(compiled >= 100, "{}: only {compiled} compiled", build.name);
    }
}

#[test]
fn a_version_1_image_clears_the_stem_registers_on_builds_with_a_stem_unit() {
    let model = two_block_model(8, 5);
    for b in BUILDS {
        let image = compile(&model, b);
        let stem: Vec<Option<u16>> = ConfigReg::STEM.iter().map(|&r| config(&image, r)).collect();
        let want = if b.stem { Some(0) } else { None };
        assert!(stem.iter().all(|&v| v == want), "{}: {stem:?}", b.name);
        assert_eq!(
            image.config.len(),
            8 + if b.stem { ConfigReg::STEM.len() } else { 0 },
            "{}",
            b.name
        );
        assert_eq!(image.rows.len(), rows_needed(&model, b), "{}", b.name);
    }
}
