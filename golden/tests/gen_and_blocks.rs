//! Generators stay within their bounds, are deterministic, cover the edges of
//! the spec; the building blocks agree with a naive reading of SEMANTICS.md.

use revspike_golden::{
    edge_cases, gen_input, gen_model, head, infer, layer, layer_acc, spike, GenOptions, Grouping,
    Model, Readout, Spike,
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
