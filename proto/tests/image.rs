//! The model compiler's channel tiles and the builds' capacity rules.

use revspike_golden::gen::{gen_model_shaped, Shape, ValueOptions};
use revspike_golden::model::{Grouping, Readout};
use revspike_proto::build::{BUILDS, CU, SMALL};
use revspike_proto::contract::{Post, Source, MAX_TILES};
use revspike_proto::image::{compile, rows_needed};

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

#[test]
fn no_build_takes_a_model_with_a_stem_yet() {
    for (name, model, _) in revspike_golden::gen::edge_cases() {
        for b in BUILDS {
            let r = b.check(&model);
            if model.stem.is_empty() {
                continue;
            }
            let e = r.expect_err(&name).to_string();
            assert!(
                e.contains(&format!(
                    "stem layers (the core runs no stem yet) needs {}, build has 0",
                    model.stem.len()
                )),
                "{name} on {}: {e}",
                b.name
            );
        }
    }
}
