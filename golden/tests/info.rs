//! `Info` figures against hand-computed values for the model of
//! `data/hand_b.json` (T=2, G=3 repeat, widths [2, 1], one block in stage 0,
//! decay shifts [0, 2] and [1], 3 classes).

use revspike_golden::{Info, Model};

const MODEL_B: &str = include_str!("data/hand_b.json");

#[test]
fn info_matches_hand_computed_figures() {
    let m = Model::from_json_str(MODEL_B).unwrap();
    let i = Info::with_input(&m, &[20, 8, 4]).unwrap();
    // Layers (in x out, evaluations): stage0.down 3x2 x2, stage0.up 1x2 x1 (not at t=0),
    // stage0.block 2x2 x2, stage1.down 2x1 x2, head 1x3 x2.
    let shapes: Vec<(&str, usize, usize, usize)> = i
        .layers
        .iter()
        .map(|l| (l.path.as_str(), l.inputs, l.outputs, l.evaluations))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("stages[0].down", 3, 2, 2),
            ("stages[0].up", 1, 2, 1),
            ("stages[0].blocks[0].layer", 2, 2, 2),
            ("stages[1].down", 2, 1, 2),
            ("head", 1, 3, 2),
        ]
    );
    // Weight bits: 6 + 2 + 4 + 2 + 3.
    assert_eq!(i.weight_bits, 17);
    // Dense SOPs: 6*2 + 2*1 + 4*2 + 2*2 + 3*2.
    assert_eq!(i.dense_sops, 32);
    // Actual SOPs of this input (see hand_computed.rs, model B).
    assert_eq!(i.actual_sops, Some(26));
    // Requantization multiply-adds: outputs x evaluations = 2*2 + 2*1 + 2*2 + 1*2 + 3*2.
    assert_eq!(i.requant_flops, 18);
    // Parameter bytes: layer = rows*ceil(in/8) + 5*out + 1; spike = 2*width + 1; decay = width.
    // stage0: down 2+10+1, up 2+10+1, block 2+10+1 + spike 5, out_spike 5, decay 2 = 51
    // stage1: down 1+5+1, out_spike 3, decay 1 = 11; head 3+15+1 = 19. Total 81.
    assert_eq!(i.parameter_bytes, 81);
    // Turn-on: 16 * (2 + 1). Vanilla: 16 * (2*(1 block + out) + 1*(out)) = 16 * 5.
    assert_eq!(i.turn_on_state_bits, 48);
    assert_eq!(i.vanilla_state_bits, 80);
    // Buffer: (T-1) * sum h = 1 * (0 + 2 + 1). History: T * 48.
    assert_eq!(i.buffer_bits, 3);
    assert_eq!(i.history_bits, 96);
    assert_eq!(i.input_len, 3);
    // Energy: 32 SOPs * 77 fJ, 18 FLOPs * 12.5 pJ.
    assert!((i.energy.dense_sop_j - 32.0 * 77e-15).abs() < 1e-20);
    assert!((i.energy.requant_flop_j - 18.0 * 12.5e-12).abs() < 1e-18);
    assert!((i.energy.actual_total_j.unwrap() - (26.0 * 77e-15 + 225e-12)).abs() < 1e-18);

    let text = i.to_string();
    assert!(text.contains("weight bits          17"), "{text}");
    assert!(text.contains("FLOP"), "{text}");
    let json = serde_json::to_value(&i).unwrap();
    assert_eq!(json["dense_sops"], 32);
    assert_eq!(json["layers"][1]["in"], 1);
}

#[test]
fn info_without_input_has_no_actual_figures() {
    let m = Model::from_json_str(MODEL_B).unwrap();
    let i = Info::of(&m);
    assert_eq!(i.actual_sops, None);
    assert!(Info::with_input(&m, &[1, 2]).is_err());
}
