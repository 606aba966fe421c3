//! The hardware's descriptor decoder against the compiler's `encode`: random
//! descriptors covering every kind, source and post code and every field's range, in
//! rust-hdl's simulator and on the emitted Verilog in Verilator.

use rust_hdl::prelude::*;

use revspike_hdl::descriptor_decoder::DescriptorDecoder;
use revspike_proto::contract::{desc, Kind, Post, Source};
use revspike_proto::image::Descriptor;
use revspike_sim::{Model, ModelOptions};

/// The decoder's outputs, by port name, as the descriptor should give them.
fn expected(d: &Descriptor) -> Vec<(&'static str, u64)> {
    let src_stage = match d.src {
        Source::Stage(l) => l as u64,
        s => s.code() & desc::STAGE.mask(),
    };
    vec![
        ("skip_first_step", d.skip_first_step as u64),
        ("weight_base", d.weight_base as u64),
        ("param_base", d.param_base as u64),
        ("last_channel", (d.first_channel + d.outputs - 1) as u64),
        ("shift_r", d.shift_r as u64),
        ("spike_k", d.spike_k as u64),
        ("stage", d.stage as u64),
        ("state_offset", d.state_offset as u64),
        ("tile", d.tile as u64),
        ("spikes_to_b", d.spikes_to_b as u64),
        ("last", d.last as u64),
        ("kind_first", (d.kind == Kind::First) as u64),
        ("kind_head", (d.kind == Kind::Head) as u64),
        ("src_is_stage", matches!(d.src, Source::Stage(_)) as u64),
        ("src_stage", src_stage),
        ("src_input", (d.src == Source::Input) as u64),
        ("src_scratch_b", (d.src == Source::ScratchB) as u64),
        ("post_any", (d.post != Post::None) as u64),
        ("post_spike", (d.post == Post::Spike) as u64),
        ("post_state", d.post.updates_state() as u64),
        ("post_turn_on", (d.post == Post::TurnOn) as u64),
        ("post_rewind", (d.post == Post::Rewind) as u64),
    ]
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random descriptors on a 32-lane build: every code, every field from 0 to its top.
fn descriptors(n: usize) -> Vec<Descriptor> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sources = [
        Source::Stage(0),
        Source::Stage(1),
        Source::Stage(2),
        Source::Stage(3),
        Source::ScratchA,
        Source::Input,
        Source::ScratchB,
    ];
    let field = |rng: &mut Rng, f: revspike_proto::contract::Field| rng.below(f.mask() + 1);
    (0..n)
        .map(|i| {
            let tile = i % 4;
            let first_channel = tile * 32;
            let top = desc::LAST_CHANNEL.mask() as usize - first_channel + 1;
            Descriptor {
                kind: Kind::ALL[i % Kind::ALL.len()],
                skip_first_step: rng.below(2) == 1,
                src: sources[(i / 3) % sources.len()],
                weight_base: field(&mut rng, desc::WEIGHT_BASE) as usize,
                param_base: field(&mut rng, desc::PARAM_BASE) as usize,
                tile,
                first_channel,
                outputs: 1 + rng.below(top as u64) as usize,
                shift_r: field(&mut rng, desc::SHIFT_R) as u8,
                post: Post::ALL[(i / 7) % Post::ALL.len()],
                spike_k: field(&mut rng, desc::SPIKE_K) as u8,
                stage: field(&mut rng, desc::STAGE) as usize,
                state_offset: field(&mut rng, desc::STATE_OFFSET) as usize,
                spikes_to_b: rng.below(2) == 1,
                last: rng.below(2) == 1,
            }
        })
        .collect()
}

fn settle(uut: &mut DescriptorDecoder) {
    assert!(simulate(uut, 1_000), "the decoder's logic did not settle");
}

fn tick(uut: &mut DescriptorDecoder) {
    settle(uut);
    uut.clock.next = Clock { clk: true };
    settle(uut);
    uut.clock.next = Clock { clk: false };
    settle(uut);
}

fn rust_hdl_outputs(uut: &DescriptorDecoder) -> Vec<(&'static str, u64)> {
    let b = |s: &Signal<Out, Bit>| s.val() as u64;
    vec![
        ("skip_first_step", b(&uut.skip_first_step)),
        ("weight_base", uut.weight_base.val().to_u64()),
        ("param_base", uut.param_base.val().to_u64()),
        ("last_channel", uut.last_channel.val().to_u64()),
        ("shift_r", uut.shift_r.val().to_u64()),
        ("spike_k", uut.spike_k.val().to_u64()),
        ("stage", uut.stage.val().to_u64()),
        ("state_offset", uut.state_offset.val().to_u64()),
        ("tile", uut.tile.val().to_u64()),
        ("spikes_to_b", b(&uut.spikes_to_b)),
        ("last", b(&uut.last)),
        ("kind_first", b(&uut.kind_first)),
        ("kind_head", b(&uut.kind_head)),
        ("src_is_stage", b(&uut.src_is_stage)),
        ("src_stage", uut.src_stage.val().to_u64()),
        ("src_input", b(&uut.src_input)),
        ("src_scratch_b", b(&uut.src_scratch_b)),
        ("post_any", b(&uut.post_any)),
        ("post_spike", b(&uut.post_spike)),
        ("post_state", b(&uut.post_state)),
        ("post_turn_on", b(&uut.post_turn_on)),
        ("post_rewind", b(&uut.post_rewind)),
    ]
}

#[test]
fn the_decoder_in_rust_hdl_sim_matches_encode() {
    let mut uut = DescriptorDecoder::default();
    uut.connect_all();
    let ds = descriptors(600);
    let mut prev: Option<&Descriptor> = None;
    for d in &ds {
        uut.row.next = d.encode().into();
        uut.load.next = true;
        tick(&mut uut);
        assert_eq!(rust_hdl_outputs(&uut), expected(d), "{d:?}");
        // Without `load` the outputs hold.
        uut.row.next = (!d.encode()).into();
        uut.load.next = false;
        tick(&mut uut);
        assert_eq!(rust_hdl_outputs(&uut), expected(d), "held: {d:?}");
        assert_ne!(prev.map(expected), Some(expected(d)));
        prev = Some(d);
    }
}

#[test]
fn the_decoder_in_verilator_matches_encode() {
    let mut uut = DescriptorDecoder::default();
    uut.connect_all();
    let verilog = generate_verilog(&uut);
    let mut m = Model::new(&verilog, &ModelOptions::default()).expect("verilator builds");
    for d in &descriptors(2000) {
        m.set("row", d.encode()).unwrap();
        m.set("load", 1).unwrap();
        m.tick().unwrap();
        m.set("row", !d.encode()).unwrap();
        m.set("load", 0).unwrap();
        m.tick().unwrap();
        let got: Vec<(&str, u64)> = expected(d)
            .iter()
            .map(|&(name, _)| (name, m.get(name).unwrap()))
            .collect();
        assert_eq!(got, expected(d), "{d:?}");
    }
}
