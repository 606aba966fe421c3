//! Convolutional stems worked by hand from SEMANTICS.md "Version 2": tap
//! positions with stride and padding, the (y, x, c) order of maps, the conv's
//! own affine and spike point, the stem computed once with `repeat`, and an
//! exact rewind through it.

use revspike_golden::{conv, infer, infer_reference, Engine, Info, Machine, Model};

const HAND_CONV: &str = include_str!("data/hand_conv.json");

#[test]
fn a_3x3_stride_2_conv_worked_by_hand() {
    // Input 3 x 3 x 1:      kernel (index ky*3 + kx), "9b01" = bits 0,1,3,4,7 of
    //   10 20 30            byte 0 (0x9b) and bit 8 (0x01):
    //   40 50 60              +1 +1 -1
    //   70 80 90              +1 +1 -1
    //                         -1 +1 +1
    // Stride 2, padding 1: output 2 x 2; output (oy, ox) reads input
    // (2*oy + ky - 1, 2*ox + kx - 1), padding adds nothing.
    // (0,0): taps ky, kx in 1..=2: 10*(+1) + 20*(-1) + 40*(+1) + 50*(+1) = 80
    // (0,1): ky in 1..=2, kx in 0..=1: 20*(+1) + 30*(+1) + 50*(-1) + 60*(+1) = 60
    // (1,0): ky in 0..=1, kx in 1..=2: 40*(+1) + 50*(-1) + 70*(+1) + 80*(-1) = -20
    // (1,1): ky, kx in 0..=1: 50 + 60 + 80 + 90 = 280
    // u = (acc * 1 - 2) >>> 1 = [39, 29, floor(-22/2) = -11, 139]
    // spike (threshold 30, strict; shift 0): [39, 0, 0, 139]
    let m = Model::from_json_str(HAND_CONV).unwrap();
    let x = [10, 20, 30, 40, 50, 60, 70, 80, 90];
    let (out, shape) = conv(&m.stem[0], &x, [3, 3, 1]).unwrap();
    assert_eq!(shape, [2, 2, 1]);
    assert_eq!(out, vec![39, 0, 0, 139]);
    assert_eq!(Engine::new(&m).stem_output(&x), out);

    // Stage 0: down "0f" = four +1 weights: acc = 39 + 139 = 178; z = 178 >>> 1 = 89.
    // t=0: c = 89 + (0 >>> 1) = 89; s = 89 >>> 2 = 22; head [22, -44 + 100 = 56].
    // t=1 (repeat: the same stem output, computed once): z = 89;
    //      c = 89 + (89 >>> 1) = 133; s = 33; head [33, -66 + 100 = 34].
    // sum: [55, 90], prediction 1.
    // SOPs: the stem once, 4 nonzero taps at each of 4 positions x 1 channel = 16;
    // per timestep down 2 x 1 and head 1 x 2: 16 + 2 * 4 = 24.
    let r = infer(&m, &x).unwrap();
    assert_eq!(r.logits, vec![55, 90]);
    assert_eq!(r.prediction, 1);
    assert_eq!(r.states, vec![vec![vec![89]], vec![vec![133]]]);
    assert_eq!(r.stem_sops, 16);
    assert_eq!(r.sops, 24);
    assert_eq!(r.layer_events, vec![(2, 1), (1, 2), (2, 1), (1, 2)]);
    assert_eq!(r.wraps, 0);
    assert_eq!(infer_reference(&m, &x).unwrap(), r);

    // Rewind t=1 -> t=0: the low bit of c(0) = 89 is 1; z = 89 recomputed from
    // the stem; d = 133 - 89 = 44; c = 44 * 2 + 1 = 89. Then to zero.
    let mut mc = Machine::new(&m, &x).unwrap();
    while mc.step() {}
    assert_eq!(mc.buffer(), &[1]);
    mc.rewind().unwrap();
    assert_eq!(mc.state(), &[vec![89]]);
    assert_eq!(mc.logits(), &[22, 56]);
    mc.rewind().unwrap();
    assert_eq!(mc.state(), &[vec![0]]);

    // Info: stem weight bits 9; dense stem SOPs: taps inside the map per axis
    // are 2 + 2 = 4 (rows 0..=1 and 1..=2 of 0..=2), so 4 * 4 * 1 * 1 = 16, once
    // (repeat). The largest feature map is the 2 x 2 x 1 output: 4 bytes.
    let i = Info::with_input(&m, &x).unwrap();
    assert_eq!(i.stem_weight_bits, 9);
    assert_eq!(i.weight_bits, 9 + 4 + 2);
    assert_eq!(i.stem_dense_sops, 16);
    assert_eq!(i.dense_sops, 16 + 2 * (4 + 2));
    assert_eq!(i.stem_actual_sops, Some(16));
    assert_eq!(i.actual_sops, Some(24));
    assert_eq!(i.largest_feature_map_bytes, 4);
    // Requantizations: 4 stem positions once, 1 + 2 per timestep.
    assert_eq!(i.requant_flops, 4 + 2 * 3);
    assert!(i
        .to_string()
        .contains("stem[0]: conv 3x3 stride 2 padding 1, 3x3x1 -> 2x2x1"));
}

#[test]
fn maps_are_in_y_x_c_order() {
    // Input 1 x 2 x 2: group [a(0,0,0), a(0,0,1), a(0,1,0), a(0,1,1)] = [1, 2, 3, 4].
    // A 1x1 conv, Ci = 2 -> Co = 2, rows "01" = [+1, -1] and "02" = [-1, +1]:
    // (0,0): [1 - 2, -1 + 2] = [-1, 1]; (0,1): [3 - 4, -3 + 4] = [-1, 1].
    // Spike (threshold -100, shift 0) clamps -1 to 0: [0, 1, 0, 1].
    let mut v: serde_json::Value = serde_json::from_str(HAND_CONV).unwrap();
    v["input"] = serde_json::json!({ "group_len": 4, "grouping": "split", "shape": [1, 2, 2] });
    v["stem"][0] = serde_json::json!({
        "kind": "conv", "in_channels": 2, "out_channels": 2, "kernel": 1, "stride": 1,
        "padding": 0, "weights": ["01", "02"], "multiplier": [1, 1], "bias": [0, 0],
        "shift": 0, "spike": { "threshold": [-100, -100], "shift": 0 } });
    let m = Model::from_json_str(&v.to_string()).unwrap();
    let (out, shape) = conv(&m.stem[0], &[1, 2, 3, 4], [1, 2, 2]).unwrap();
    assert_eq!(shape, [1, 2, 2]);
    assert_eq!(out, vec![0, 1, 0, 1]);
    assert_eq!(Engine::new(&m).stem_output(&[1, 2, 3, 4]), out);
    // Split: the stem runs on each timestep's own frame, and its SOPs count
    // at each: 2 nonzero inputs x 2 channels at each of 2 positions, per frame.
    let r = infer(&m, &[1, 2, 3, 4, 0, 0, 0, 5]).unwrap();
    assert_eq!(r.stem_sops, 8 + 2);
    assert_eq!(infer_reference(&m, &[1, 2, 3, 4, 0, 0, 0, 5]).unwrap(), r);
}
