//! The neuron unit's multiply and bias on their own, in rust-hdl's simulator and on its
//! emitted Verilog in Verilator, driven by the same test through its ports by name:
//! every `M` (all 256) against `full`s at the ends of their range and random ones, with
//! random biases, one channel a cycle, checked against `full * M + B` exactly. The head's
//! path (`R = 0`, no accumulation) carries `y` unsaturated to `logit_out`, so every bit
//! of the recoded product shows.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use revspike_hdl::neuron_unit::NeuronUnit;
use revspike_hdl::pe_lane::ACC_BITS;
use revspike_proto::contract::param;
use revspike_tests::{block_pins, rust_hdl_pins};

block_pins!();

rust_hdl_pins!(
    NeuronUnit,
    in: [sum_x, shift_r, valid, ch, sp, param],
    out: [early_valid, early_ch, logit_out]
);

/// One channel: the lane's gated sum and its parameter row's `M` and `B`.
#[derive(Clone, Copy, Debug)]
struct Channel {
    sp: u64,
    m: i8,
    b: i64,
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// `y = full * M + B` with `full = 2*S+ - sum(x)` in 20 bits, as `logit_out` carries it.
fn expected(c: &Channel, sum_x: u64) -> u64 {
    let full = sign_extend((2 * c.sp).wrapping_sub(sum_x) & 0xF_FFFF, 20);
    let y = full * i64::from(c.m) + c.b;
    y as u64 & 0xFFFF_FFFF
}

fn param_row(c: &Channel) -> u64 {
    let b_mask = (1u64 << param::B.width) - 1;
    u64::from(c.m as u8) << param::M.offset | (c.b as u64 & b_mask) << param::B.offset
}

/// Streams the channels through the unit, one a cycle (the parameter row a cycle after
/// the channel, as the core's row memory answers), and returns `logit_out` in order.
fn stream(p: &mut impl Pins, channels: &[Channel], sum_x: u64) -> Vec<u64> {
    p.set("sum_x", sum_x);
    p.set("shift_r", 0);
    let mut out = Vec::new();
    for k in 0..channels.len() + 16 {
        match channels.get(k) {
            Some(c) => {
                p.set("valid", 1);
                p.set("ch", (k % 256) as u64);
                p.set("sp", c.sp);
            }
            None => p.set("valid", 0),
        }
        if let Some(prev) = k.checked_sub(1).and_then(|i| channels.get(i)) {
            p.set("param", param_row(prev));
        }
        if p.get("early_valid") == 1 {
            assert_eq!(
                p.get("early_ch"),
                (out.len() % 256) as u64,
                "channels leave in order"
            );
            out.push(p.get("logit_out"));
        }
        p.tick();
    }
    out
}

fn check(p: &mut impl Pins, randoms: usize, what: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let sp_max = (1u64 << ACC_BITS) - 1;
    let b_min = -(1i64 << (param::B.width - 1));
    let b_max = (1i64 << (param::B.width - 1)) - 1;
    // sum(x) = 0 gives full = 2*S+ (up to 2^19 - 2); the largest sum(x) with S+ = 0
    // gives the most negative full.
    for sum_x in [0, sp_max, rng.gen_range(0..=sp_max)] {
        let mut sps = vec![0, 1, sp_max >> 1, (1 << 18) - 1, 1 << 17];
        sps.extend((0..randoms).map(|_| rng.gen_range(0..=sp_max)));
        let mut channels = Vec::new();
        for &sp in &sps {
            for m in i8::MIN..=i8::MAX {
                let b = match channels.len() % 4 {
                    0 => 0,
                    1 => b_min,
                    2 => b_max,
                    _ => rng.gen_range(b_min..=b_max),
                };
                channels.push(Channel { sp, m, b });
            }
        }
        let got = stream(p, &channels, sum_x);
        assert_eq!(got.len(), channels.len(), "{what}: every channel leaves");
        for (c, g) in channels.iter().zip(&got) {
            assert_eq!(
                *g,
                expected(c, sum_x),
                "{what}: sum(x) {sum_x}, {c:?}: y = full * M + B"
            );
        }
    }
}

#[test]
fn neuron_unit_multiplies_every_m_exactly_in_rust_hdl() {
    check(&mut RustHdl::new(NeuronUnit::default()), 2, "rust-hdl");
}

#[test]
fn neuron_unit_multiplies_every_m_exactly_in_verilator() {
    check(&mut Verilated::new(NeuronUnit::default()), 40, "verilator");
}
