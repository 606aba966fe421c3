//! Small models whose logits were computed by hand from SEMANTICS.md.
//! The arithmetic is in the comments; the assertions check the golden model
//! against it, including floor shifts of negatives, the skipped `up` at t = 0,
//! sat16 in a layer, wrap16 in the turn-on update and clamping of spikes.

use revspike_golden::{infer, Machine, Model};

/// Split grouping, `sum` readout, T=2, G=2, one stage of width 1, no blocks.
const MODEL_A: &str = include_str!("data/hand_a.json");

#[test]
fn model_a_split_sum() {
    // W_down = [+1, -1]; input x = [10, 4 | 1, 7].
    // t=0: acc = 10 - 4 = 6; z = (6*2 + 1) >>> 1 = 13 >>> 1 = 6; c = 6 + (0 >>> 1) = 6.
    //      s = 6 > 3 -> 6 >>> 1 = 3.
    //      head: row0 (+1): 3*3 + 0 = 9; row1 (-1): -3*1 + 10 = 7.      logits_0 = [9, 7]
    // t=1: acc = 1 - 7 = -6; z = (-12 + 1) >>> 1 = floor(-11/2) = -6;
    //      c = -6 + (6 >>> 1) = -6 + 3 = -3.   s = (-3 > 3)? no -> 0.
    //      head: acc 0 -> [0, 10].                                       logits_1 = [0, 10]
    // sum: [9, 17], prediction 1. spikes: 1. SOPs: t0 down 2*1 + head 1*2, t1 down 2*1 + head 0 = 6.
    let m = Model::from_json_str(MODEL_A).unwrap();
    let r = infer(&m, &[10, 4, 1, 7]).unwrap();
    assert_eq!(r.logits, vec![9, 17]);
    assert_eq!(r.prediction, 1);
    assert_eq!(r.spike_counts, vec![1]);
    assert_eq!(r.sops, 6);
    assert_eq!(r.wraps, 0);
    assert_eq!(r.states, vec![vec![vec![6]], vec![vec![-3]]]);
    assert_eq!(r.layer_events, vec![(2, 1), (1, 2), (2, 1), (0, 2)]);
}

/// Repeat grouping, `last` readout, T=2, G=3, two stages (width 2 with an up
/// connection and one block, then width 1), three classes.
const MODEL_B: &str = include_str!("data/hand_b.json");

#[test]
fn model_b_repeat_last() {
    // x = [20, 8, 4] every timestep. Stage 0 down rows: 0x03 = [+1,+1,-1], 0x06 = [-1,+1,+1].
    // t=0, stage 0: down = [20+8-4, -20+8+4] = [24, -8]; up skipped at t=0.
    //   block: spike(thr 0, k 2) = [24>>>2, 0] = [6, 0];
    //          layer rows 0x01 = [+1,-1], 0x03 = [+1,+1]: acc = [6, 6];
    //          o0 = (6*1 + 4) >>> 1 = 5; o1 = (6*-2 + 0) >>> 1 = -6;  z = [29, -14].
    //   c0 = [29 + 1*(0>>>0), -14 + -1*(0>>>2)] = [29, -14]; s0 = [29 (>5), 0 (-14 !> -1)].
    // t=0, stage 1: acc = 29; z = (29 - 10) >>> 1 = 9; c1 = 9; s1 = 9 >>> 1 = 4.
    //   head: [4, -4 + 20, -4 + 5] = [4, 16, 1].
    // t=1, stage 0: down = [24, -8]; up(s1(0) = [4]) = [4*2, -4*1] = [8, -4]; z = [32, -12].
    //   block: spike = [32>>>2, 0] = [8, 0]; acc = [8, 8]; o = [(8+4)>>>1, -16>>>1] = [6, -8];
    //   z = [38, -20]. c0 = [38 + 29>>>0, -20 - (-14>>>2)] = [67, -20 - (-4)] = [67, -16].
    //   s0 = [67, 0].
    // t=1, stage 1: acc = 67; z = (67 - 10) >>> 1 = 28; c1 = 28 + 9>>>1 = 32; s1 = 16.
    //   head: [16, -16 + 20, -16 + 5] = [16, 4, -11] = logits (last). prediction 0.
    // spikes: stage 0 one per step, stage 1 one per step -> [2, 2].
    // events t0: down (3,2), block (1,2), stage1 down (1,1), head (1,3) = 6+2+1+3
    //        t1: down (3,2), up (1,2), block (1,2), stage1 down (1,1), head (1,3) = 6+2+2+1+3
    // SOPs = 12 + 14 = 26.
    // Buffer: low bits at t=1: stage0 ch0 h=0 -> 0, ch1 -14 mod 4 = 2; stage1 9 mod 2 = 1.
    let m = Model::from_json_str(MODEL_B).unwrap();
    let x = [20, 8, 4];
    let r = infer(&m, &x).unwrap();
    assert_eq!(r.logits, vec![16, 4, -11]);
    assert_eq!(r.prediction, 0);
    assert_eq!(r.spike_counts, vec![2, 2]);
    assert_eq!(r.sops, 26);
    assert_eq!(r.wraps, 0);
    assert_eq!(
        r.states,
        vec![vec![vec![29, -14], vec![9]], vec![vec![67, -16], vec![32]]]
    );
    assert_eq!(
        r.layer_events,
        vec![
            (3, 2),
            (1, 2),
            (1, 1),
            (1, 3),
            (3, 2),
            (1, 2),
            (1, 2),
            (1, 1),
            (1, 3)
        ]
    );

    let mut mc = Machine::new(&m, &x).unwrap();
    mc.step();
    assert_eq!(mc.logits(), &[4, 16, 1]);
    assert_eq!(mc.spikes(), &[vec![29, 0], vec![4]]);
    mc.step();
    assert_eq!(mc.buffer(), &[0, 2, 1]);
    assert_eq!(mc.buffer_bits(), 2 + 1);
    // Rewind: stage 1: z = 28, d = 32 - 28 = 4, q = 4, c = 4*2 + 1 = 9.
    //         stage 0: z = [38, -20], d = [29, 4], q = [29, -4], c = [29, -4*4 + 2] = [29, -14].
    mc.rewind().unwrap();
    assert_eq!(mc.state(), &[vec![29, -14], vec![9]]);
    assert_eq!(mc.logits(), &[4, 16, 1]);
}

/// Repeat grouping, `sum` readout, T=3, G=1: sat16 in the down layer, a wrap16
/// in the turn-on update, spike clamping at 255 and 0, and extreme head values.
const MODEL_C: &str = include_str!("data/hand_c.json");

#[test]
fn model_c_repeat_sum_saturate_and_wrap() {
    // x = [255]. down = sat16(255*127 + 1000) = sat16(33385) = 32767 every step.
    // t=0: c = 32767; s = clamp(32767, 0, 255) = 255; head: (-255)*(-128) - 2^24 = -16744576.
    // t=1: c = wrap16(32767 + 32767) = wrap16(65534) = -2 (one wrap); s = clamp(-2) = 0
    //      (-2 > -32768 fires, but the clamp gives 0); head = -2^24 = -16777216.
    // t=2: c = 32767 + (-2) = 32765; s = 255; head = -16744576.
    // sum = 2*(-16744576) - 16777216 = -50266368.
    let m = Model::from_json_str(MODEL_C).unwrap();
    let r = infer(&m, &[255]).unwrap();
    assert_eq!(r.logits, vec![-50_266_368]);
    assert_eq!(r.prediction, 0);
    assert_eq!(r.wraps, 1);
    assert_eq!(r.spike_counts, vec![2]);
    assert_eq!(
        r.states,
        vec![vec![vec![32767]], vec![vec![-2]], vec![vec![32765]]]
    );
    // Rewind through the wrap: d = wrap16(-2 - 32767) = 32767.
    let mut mc = Machine::new(&m, &[255]).unwrap();
    while mc.step() {}
    mc.rewind().unwrap();
    assert_eq!(mc.state(), &[vec![-2]]);
    mc.rewind().unwrap();
    assert_eq!(mc.state(), &[vec![32767]]);
    assert_eq!(mc.logits(), &[-16_744_576]);
    mc.rewind().unwrap();
    assert_eq!(mc.state(), &[vec![0]]);
    assert_eq!(mc.logits(), &[0]);
}

#[test]
fn wrong_input_length_names_expected_and_found() {
    let m = Model::from_json_str(MODEL_A).unwrap();
    let e = infer(&m, &[1, 2, 3]).unwrap_err().to_string();
    assert!(e.contains("3 values") && e.contains("expects 4"), "{e}");
    assert!(Machine::new(&m, &[]).is_err());
}

#[test]
fn argmax_lowest_index_wins_ties() {
    assert_eq!(revspike_golden::argmax(&[3, 7, 7, 1]), 1);
    assert_eq!(revspike_golden::argmax(&[-5, -5]), 0);
}
