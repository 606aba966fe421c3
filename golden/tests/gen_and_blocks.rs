//! Generators stay within their bounds, are deterministic, cover the edges of
//! the spec; the building blocks agree with a naive reading of SEMANTICS.md.

use revspike_golden::{
    edge_cases, gen_input, gen_model, head, infer, infer_reference, layer, layer_acc, spike,
    Engine, GenOptions, Grouping, Model, Readout, Spike,
};

#[test]
fn generators_are_deterministic() {
    let o = GenOptions::small();
    assert_eq!(gen_model(42, &o), gen_model(42, &o));
    assert_ne!(gen_model(42, &o), gen_model(43, &o));
    let m = gen_model(42, &o);
    assert_eq!(gen_input(&m, 9), gen_input(&m, 9));
    assert_eq!(gen_input(&m, 9).len(), m.expected_input_len());
}

#[test]
fn generated_models_respect_bounds() {
    let o = GenOptions {
        max_width: 12,
        max_stages: 2,
        max_blocks: 1,
        max_timesteps: 3,
        max_group_len: 20,
        max_classes: 5,
        max_weight_bits: 600,
        max_decay_shift: 3,
        max_buffer_bits: 40,
        grouping: Some(Grouping::Split),
        readout: Some(Readout::Last),
        avoid_wraps: true,
        ..GenOptions::default()
    };
    for seed in 0..300 {
        let m = gen_model(seed, &o);
        m.validate().unwrap();
        let info = revspike_golden::Info::of(&m);
        assert!(
            m.stages.len() <= 2 && m.timesteps <= 3 && m.classes <= 5,
            "seed {seed}"
        );
        assert!(m.input.group_len <= 20 && m.input.grouping == Grouping::Split);
        assert_eq!(m.readout, Readout::Last);
        assert!(m
            .stages
            .iter()
            .all(|s| s.width <= 12 && s.blocks.len() <= 1));
        assert!(m
            .stages
            .iter()
            .all(|s| s.decay.shift.iter().all(|&h| h <= 3)));
        assert!(
            info.weight_bits <= 600,
            "seed {seed}: {} weight bits",
            info.weight_bits
        );
        assert!(
            info.buffer_bits <= 40,
            "seed {seed}: {} buffer bits",
            info.buffer_bits
        );
        let r = infer(&m, &gen_input(&m, seed)).unwrap();
        assert_eq!(r.wraps, 0, "seed {seed}: avoid_wraps");
    }
}

#[test]
fn default_generator_covers_the_spec_edges() {
    let o = GenOptions::default();
    let (mut w1, mut g_odd, mut t1, mut s1, mut s4, mut split, mut repeat) =
        (false, false, false, false, false, false, false);
    let (mut last, mut sum, mut neg_m, mut sign_m, mut h0, mut h15) =
        (false, false, false, false, false, false);
    let (mut th_min, mut th_max, mut b0, mut b4, mut zero_in) = (false, false, false, false, false);
    let mut active = 0;
    for seed in 0..400 {
        let m = gen_model(seed, &o);
        w1 |= m.stages.iter().any(|s| s.width == 1);
        g_odd |= !m.input.group_len.is_multiple_of(8);
        t1 |= m.timesteps == 1;
        s1 |= m.stages.len() == 1;
        s4 |= m.stages.len() == 4;
        split |= m.input.grouping == Grouping::Split;
        repeat |= m.input.grouping == Grouping::Repeat;
        last |= m.readout == Readout::Last;
        sum |= m.readout == Readout::Sum;
        neg_m |= m
            .layers()
            .iter()
            .any(|l| l.multiplier.iter().any(|&x| x < 0));
        sign_m |= m.stages.iter().any(|s| s.decay.sign.contains(&-1));
        h0 |= m.stages.iter().any(|s| s.decay.shift.contains(&0));
        h15 |= m.stages.iter().any(|s| s.decay.shift.contains(&15));
        let spikes = || {
            m.stages.iter().flat_map(|s| {
                std::iter::once(&s.out_spike).chain(s.blocks.iter().map(|b| &b.spike))
            })
        };
        th_min |= spikes().any(|sp| sp.threshold.contains(&i16::MIN));
        th_max |= spikes().any(|sp| sp.threshold.contains(&i16::MAX));
        b0 |= m.stages.iter().any(|s| s.blocks.is_empty());
        b4 |= m.stages.iter().any(|s| s.blocks.len() == 4);
        if m.stages.iter().map(|s| s.width).sum::<usize>() <= 256 {
            let x = gen_input(&m, seed);
            zero_in |= x.iter().all(|&v| v == 0);
            let r = infer(&m, &x).unwrap();
            active += (r.spike_counts.iter().sum::<u64>() > 0) as u32;
        }
    }
    let all = [
        w1, g_odd, t1, s1, s4, split, repeat, last, sum, neg_m, sign_m, h0, h15, th_min, th_max,
        b0, b4, zero_in,
    ];
    assert!(all.iter().all(|&x| x), "edges covered: {all:?}");
    assert!(active > 100, "only {active} generated models fire at all");
}

#[test]
fn edge_cases_are_valid_named_and_cover_the_list() {
    let cases = edge_cases();
    let names: Vec<&str> = cases.iter().map(|(n, _, _)| n.as_str()).collect();
    for want in [
        "width1",
        "g13-not-multiple-of-8",
        "t1",
        "s1",
        "s4",
        "split-last",
        "repeat-sum",
        "negative-multipliers",
        "sign-minus",
        "h0",
        "h15",
        "threshold-min",
        "threshold-max",
        "blocks0",
        "blocks4",
        "zero-input",
        "saturate-and-wrap",
        "stem-k1",
        "stem-k5",
        "stem-stride2-odd",
        "stem-pad0-to-1x1",
        "stem-fan-in-1017",
        "stem-fan-in-1000",
        "stem-g4096",
        "stem-4-layers",
        "stem-split",
        "stem-256-channels",
        "stem-stride4",
    ] {
        assert!(names.contains(&want), "missing edge case {want}");
    }
    for (name, m, x) in &cases {
        m.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&m.name, name);
        assert_eq!(x.len(), m.expected_input_len(), "{name}");
    }
    let by = |n: &str| cases.iter().find(|c| c.0 == n).unwrap();
    let (_, m, x) = by("saturate-and-wrap");
    assert!(
        infer(m, x).unwrap().wraps > 0,
        "saturate-and-wrap must wrap"
    );
    let (_, m, x) = by("threshold-max");
    assert_eq!(infer(m, x).unwrap().spike_counts.iter().sum::<u64>(), 0);
    let (_, _, x) = by("zero-input");
    assert!(x.iter().all(|&v| v == 0));
}

fn naive_acc(m: &Model, which: usize, a: &[u8]) -> Vec<i64> {
    let l = m.layers()[which];
    (0..l.outputs)
        .map(|o| {
            (0..l.inputs)
                .map(|i| {
                    if l.weight(o, i) {
                        a[i] as i64
                    } else {
                        -(a[i] as i64)
                    }
                })
                .sum()
        })
        .collect()
}

#[test]
fn layer_blocks_match_a_naive_reading() {
    for seed in 0..200 {
        let m = gen_model(seed, &GenOptions::small());
        for (k, l) in m.layers().iter().enumerate() {
            let a: Vec<u8> = gen_input(&m, seed + k as u64)
                .into_iter()
                .cycle()
                .take(l.inputs)
                .collect();
            let a = if a.len() == l.inputs {
                a
            } else {
                vec![0; l.inputs]
            };
            let acc = naive_acc(&m, k, &a);
            let got: Vec<i64> = layer_acc(l, &a).into_iter().map(i64::from).collect();
            assert_eq!(got, acc);
            let exact: Vec<i64> = (0..l.outputs)
                .map(|o| {
                    (acc[o] * l.multiplier[o] as i64 + l.bias[o] as i64).div_euclid(1 << l.shift)
                })
                .collect();
            assert_eq!(head(l, &a), exact);
            let sat: Vec<i16> = exact
                .iter()
                .map(|&x| x.clamp(-32768, 32767) as i16)
                .collect();
            assert_eq!(layer(l, &a), sat);
        }
    }
}

#[test]
fn spike_is_strict_floor_shift_and_clamped() {
    let sp = Spike {
        threshold: vec![10, 10, -32768, 32767, -100, 0],
        shift: 2,
    };
    // 10 !> 10; 11 > 10 -> 11>>>2 = 2; -32767 > -32768 -> floor(-32767/4) clamps to 0;
    // 32767 !> 32767; -50 > -100 -> clamp(-13) = 0; 4000 > 0 -> 1000 clamps to 255.
    assert_eq!(
        spike(&sp, &[10, 11, -32767, 32767, -50, 4000]),
        vec![0, 2, 0, 0, 0, 255]
    );
    let sp0 = Spike {
        threshold: vec![-32768],
        shift: 0,
    };
    assert_eq!(spike(&sp0, &[-32768]), vec![0]);
    assert_eq!(spike(&sp0, &[200]), vec![200]);
}

#[test]
fn stem_edge_cases_have_the_shapes_they_name() {
    let cases = edge_cases();
    let by = |n: &str| &cases.iter().find(|c| c.0 == n).unwrap().1;
    let maps = |n: &str| by(n).stem_maps();
    assert_eq!(by("stem-k1").stem[0].kernel, 1);
    assert_eq!(by("stem-k5").stem[0].kernel, 5);
    assert_eq!(
        maps("stem-stride2-odd"),
        vec![[7, 5, 1], [4, 3, 3], [1, 1, 2]]
    );
    assert_eq!(maps("stem-pad0-to-1x1").last(), Some(&[1, 1, 4]));
    assert_eq!(by("stem-fan-in-1017").stem[0].layer.inputs, 1017);
    assert_eq!(by("stem-fan-in-1000").stem[0].layer.inputs, 1000);
    assert_eq!(by("stem-g4096").input.group_len, 4096);
    assert_eq!(by("stem-g4096").stage0_input_len(), 1024);
    assert_eq!(by("stem-4-layers").stem.len(), 4);
    assert_eq!(by("stem-split").input.grouping, Grouping::Split);
    assert_eq!(by("stem-256-channels").stem[1].in_channels, 256);
    assert_eq!(by("stem-stride4").stem[0].stride, 4);
    for (name, m, _) in &cases {
        assert_eq!(
            m.version(),
            if name.starts_with("stem-") { 2 } else { 1 },
            "{name}"
        );
    }
}

/// FNV-1a of a model file, to pin the generator's output.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Hardware bit-exactness suites call the generators for version 1 models:
/// the same seed and bounds must keep giving the same file. The hashes were
/// taken from the generator before version 2 existed (default bounds, small
/// bounds, small bounds with avoid_wraps).
#[test]
fn version_1_generation_is_unchanged() {
    const PINNED: [(u64, u64, u64, u64); 24] = [
        (
            0,
            0xa97213a29e40f1c0,
            0x675b5a56708e8b23,
            0x675b5a56708e8b23,
        ),
        (
            1,
            0xe6bc2cac8c65c5fa,
            0xe9402a712d4ecab5,
            0xe9402a712d4ecab5,
        ),
        (
            2,
            0x2c7c01e29eb08c75,
            0x2478d058193fccd9,
            0x2478d058193fccd9,
        ),
        (
            3,
            0xbd4397e8d4cf33a6,
            0x88eef257f6880624,
            0x88eef257f6880624,
        ),
        (
            4,
            0x9140eedcfb19f5d7,
            0x583ab7be5532cc5f,
            0x583ab7be5532cc5f,
        ),
        (
            5,
            0xe1257e01f6a3c510,
            0x2169eaa2fe665117,
            0x2169eaa2fe665117,
        ),
        (
            6,
            0x33a9fbcd6dc770e4,
            0x3cada1576294ffcc,
            0x3cada1576294ffcc,
        ),
        (
            7,
            0xf38f171aefdb7dfc,
            0x7fefae6429ecdee2,
            0x95db550dc28b2693,
        ),
        (
            8,
            0xd47c2999ef65e9fb,
            0x3274dafb7a9c6015,
            0x3274dafb7a9c6015,
        ),
        (
            9,
            0xe7545f3372f80e25,
            0xdc3b21cc6acb4982,
            0xdc3b21cc6acb4982,
        ),
        (
            10,
            0x9e27948ff539135e,
            0x284dafa62ce3a0a6,
            0x284dafa62ce3a0a6,
        ),
        (
            11,
            0x335f5fe75b4bce4a,
            0xf8c843ff3b9128e8,
            0xf8c843ff3b9128e8,
        ),
        (
            12,
            0x0b5ad32c990a91a4,
            0xd6f98cca475bc38f,
            0xd6f98cca475bc38f,
        ),
        (
            13,
            0xe939e5d54fa14d47,
            0x0704ec5bb7f29efd,
            0x0704ec5bb7f29efd,
        ),
        (
            14,
            0x3ca3078f140eefd1,
            0x54d09eae19a2def1,
            0x54d09eae19a2def1,
        ),
        (
            15,
            0x354bef83621aeb6a,
            0xaa0cf51f3deb726a,
            0xaa0cf51f3deb726a,
        ),
        (
            16,
            0x75bd8c4f0a44a266,
            0xc091a8abc0a54839,
            0xc091a8abc0a54839,
        ),
        (
            17,
            0x819dc50d6d3efe77,
            0x3956389f5d9385c8,
            0x3956389f5d9385c8,
        ),
        (
            18,
            0xb260887294d4f6bf,
            0xced79cd66b43bf8e,
            0xced79cd66b43bf8e,
        ),
        (
            19,
            0xb3528702cf5fc88c,
            0xa66a5751cbb9b57e,
            0xa66a5751cbb9b57e,
        ),
        (
            20,
            0x4172daa6d5e012e2,
            0x58a5ecea3eeca2d6,
            0x58a5ecea3eeca2d6,
        ),
        (
            21,
            0x64a632fa0d46c322,
            0x28c9a14d7f9c09de,
            0x28c9a14d7f9c09de,
        ),
        (
            22,
            0x3541a146aa6e153a,
            0x5e6a163454417fde,
            0x5e6a163454417fde,
        ),
        (
            23,
            0x562ba45c468c3f17,
            0x1170f7b0bc8f7bf7,
            0x1170f7b0bc8f7bf7,
        ),
    ];
    let small = GenOptions::small();
    let avoid = GenOptions {
        avoid_wraps: true,
        ..GenOptions::small()
    };
    for (seed, d, s, a) in PINNED {
        let got = (
            fnv(&gen_model(seed, &GenOptions::default()).to_json_string()),
            fnv(&gen_model(seed, &small).to_json_string()),
            fnv(&gen_model(seed, &avoid).to_json_string()),
        );
        assert_eq!(got, (d, s, a), "seed {seed}");
    }
}

#[test]
fn stem_generation_respects_its_bounds() {
    let o = GenOptions {
        max_stem_layers: 2,
        max_stem_channels: 6,
        max_stem_kernel: 3,
        max_stem_stride: 2,
        max_input_side: 10,
        max_input_channels: 2,
        max_stem_map: 200,
        max_weight_bits: 3000,
        ..GenOptions::small()
    };
    let (mut k1, mut k3, mut s2, mut two) = (false, false, false, false);
    for seed in 0..300 {
        let m = gen_model(seed, &o);
        m.validate().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(m.version(), 2);
        let [h, w, c] = m.input.shape.unwrap();
        assert!((1..=2).contains(&m.stem.len()), "seed {seed}");
        assert!(h <= 10 && w <= 10 && c <= 2, "seed {seed}: {h}x{w}x{c}");
        for (i, cv) in m.stem.iter().enumerate() {
            assert!(
                cv.out_channels <= 6 && cv.kernel <= 3 && cv.stride <= 2,
                "seed {seed}"
            );
            let [oh, ow, oc] = m.stem_maps()[i + 1];
            assert!(oh * ow * oc <= 200, "seed {seed}: map {oh}x{ow}x{oc}");
            k1 |= cv.kernel == 1;
            k3 |= cv.kernel == 3;
            s2 |= cv.stride == 2;
        }
        two |= m.stem.len() == 2;
        let bits: usize = m.layers().iter().map(|l| l.weight_bits()).sum();
        assert!(bits <= 3000, "seed {seed}: {bits} weight bits");
    }
    assert!(k1 && k3 && s2 && two, "{k1} {k3} {s2} {two}");
    // The default bounds with stems asked for stay inside the spec.
    let o = GenOptions {
        max_stem_layers: 4,
        max_width: 64,
        max_stem_channels: 32,
        max_stem_map: 4096,
        ..GenOptions::default()
    };
    for seed in 0..40 {
        gen_model(seed, &o)
            .validate()
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// The prepared engine and the plain reference of the spec agree on
/// everything an inference reports, for version 1 and version 2 models.
#[test]
fn engine_matches_the_plain_reference() {
    let small = GenOptions::small();
    let stems = GenOptions {
        max_stem_layers: 4,
        ..GenOptions::small()
    };
    let wide = GenOptions {
        max_width: 300,
        max_group_len: 600,
        max_classes: 40,
        max_timesteps: 4,
        max_stem_layers: 2,
        max_stem_channels: 40,
        max_stem_map: 2048,
        ..GenOptions::default()
    };
    let mut models: Vec<Model> = Vec::new();
    for seed in 0..300 {
        models.push(gen_model(seed, &small));
        models.push(gen_model(seed, &stems));
    }
    for seed in 0..30 {
        models.push(gen_model(seed, &wide));
    }
    models.extend(edge_cases().into_iter().map(|(_, m, _)| m));
    for (k, m) in models.iter().enumerate() {
        let e = Engine::new(m);
        for s in 0..3 {
            let x = gen_input(m, k as u64 * 7 + s);
            let want = infer_reference(m, &x).unwrap();
            assert_eq!(e.infer(&x).unwrap(), want, "model {k} ({})", m.name);
            let c = e.classify(&x).unwrap();
            assert_eq!(
                (c.logits, c.prediction, c.wraps, c.sops),
                (want.logits, want.prediction, want.wraps, want.sops)
            );
        }
    }
}
