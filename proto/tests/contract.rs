//! The contract's formats: every descriptor and parameter row the compiler writes
//! decodes to what it encoded, and rows the format cannot hold are refused.

use revspike_golden::gen::gen_model;
use revspike_proto::build::BUILDS;
use revspike_proto::contract::{desc, param, Kind, Post, Source};
use revspike_proto::image::{compile, Descriptor, FormatError, ParamRow};

fn row(words: &[u16]) -> u64 {
    words
        .iter()
        .take(4)
        .enumerate()
        .fold(0, |r, (k, &w)| r | (w as u64) << (16 * k))
}

#[test]
fn every_compiled_descriptor_decodes_to_what_was_encoded() {
    let mut checked = 0;
    for b in BUILDS {
        let opts = b.small_gen_options();
        for seed in 0..40 {
            let model = gen_model(seed, &opts);
            if b.check(&model).is_err() {
                continue;
            }
            let image = compile(&model, b);
            for (r, d) in image.descriptors.iter().enumerate() {
                let got = Descriptor::decode(row(&image.rows[image.forward_program + r]), b.lanes);
                assert_eq!(got.as_ref(), Ok(d), "{} seed {seed} descriptor {r}", b.name);
                checked += 1;
            }
            // The parameter rows decode to the model's values.
            let layer = &model.stages[0].down;
            let d = image.descriptors[0];
            for o in 0..d.outputs {
                let p = ParamRow::decode(row(&image.rows[d.param_base + o]));
                assert_eq!(
                    (p.m, p.b),
                    (layer.multiplier[o], layer.bias[o]),
                    "{} seed {seed}",
                    b.name
                );
            }
        }
    }
    assert!(checked > 500, "only {checked} descriptors checked");
}

#[test]
fn every_field_holds_its_extremes() {
    let d = Descriptor {
        kind: Kind::Head,
        skip_first_step: true,
        src: Source::ScratchB,
        weight_base: desc::WEIGHT_BASE.mask() as usize,
        param_base: desc::PARAM_BASE.mask() as usize,
        tile: 3,
        first_channel: 3 * 32,
        outputs: 256 - 96,
        shift_r: desc::SHIFT_R.mask() as u8,
        post: Post::Rewind,
        spike_k: desc::SPIKE_K.mask() as u8,
        stage: 3,
        state_offset: desc::STATE_OFFSET.mask() as usize,
        spikes_to_b: true,
        last: true,
    };
    assert_eq!(Descriptor::decode(d.encode(), 32), Ok(d));
    // Every field but the codes (kind 2 of 0..=3, source 6 of 0..=7) is all ones.
    let codes = desc::KIND.put(0, 1).unwrap() | desc::SRC.put(0, 1).unwrap();
    assert_eq!(d.encode(), !codes);
    for (m, b, threshold, negative_leak, h) in [
        (i8::MIN, -(1 << 25), i16::MIN, true, 15),
        (i8::MAX, (1 << 25) - 1, i16::MAX, false, 0),
        (-1, -1, -1, true, 7),
        (0, 0, 0, false, 0),
    ] {
        let p = ParamRow {
            m,
            b,
            threshold,
            negative_leak,
            h,
        };
        assert_eq!(ParamRow::decode(p.encode()), p);
        assert_eq!(
            p.encode() >> param::H.end(),
            0,
            "bits past the row's fields"
        );
    }
}

#[test]
fn what_the_format_cannot_hold_is_refused() {
    let ok = Descriptor {
        kind: Kind::First,
        skip_first_step: false,
        src: Source::Input,
        weight_base: 10,
        param_base: 20,
        tile: 0,
        first_channel: 0,
        outputs: 8,
        shift_r: 3,
        post: Post::TurnOn,
        spike_k: 2,
        stage: 0,
        state_offset: 0,
        spikes_to_b: false,
        last: false,
    };
    assert!(ok.try_encode().is_ok());
    let too_far = Descriptor {
        weight_base: 1 << desc::WEIGHT_BASE.width,
        ..ok
    };
    match too_far.try_encode() {
        Err(FormatError::Overflow(e)) => assert_eq!(e.field, "weight_base"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Descriptor { outputs: 0, ..ok }.try_encode(),
        Err(FormatError::NoOutputs)
    );
    let bad_src = desc::SRC.put(ok.encode(), 7).unwrap();
    assert!(matches!(
        Descriptor::decode(bad_src, 8),
        Err(FormatError::BadCode {
            field: "src",
            code: 7
        })
    ));
    let empty_tile = desc::TILE.put(ok.encode(), 1).unwrap();
    assert!(matches!(
        Descriptor::decode(empty_tile, 8),
        Err(FormatError::EmptyTile { first: 8, last: 7 })
    ));
    let big_bias = ParamRow {
        b: 1 << 25,
        ..Default::default()
    };
    assert!(big_bias.try_encode().is_err());
}
