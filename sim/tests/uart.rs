//! The UART bridge against a rust-hdl UART loopback block run in Verilator.

mod common;

use common::blocks::{verilog_of, UartEcho};
use rand::{Rng, SeedableRng};
use revspike_proto::bit_timing::BitTiming;
use revspike_sim::{Error, Model, ModelOptions, UartBridge};

fn whole(cpb: u32) -> BitTiming {
    BitTiming {
        clocks: cpb,
        bits: 1,
    }
}

fn echo_bridge(cpb: u32) -> UartBridge {
    let model = Model::new(
        &verilog_of(UartEcho::new(cpb as u16)),
        &ModelOptions::default(),
    )
    .unwrap();
    UartBridge::new(model, "rx", "tx", whole(cpb)).unwrap()
}

#[test]
fn echo_round_trip_back_to_back() {
    let mut bridge = echo_bridge(8);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut msg: Vec<u8> = (0..=255u8).collect();
    msg.extend((0..300).map(|_| rng.gen::<u8>()));
    bridge.send(&msg);
    let got = bridge
        .recv_exact(msg.len(), 10 * 8 * (msg.len() as u64 + 10))
        .unwrap();
    assert_eq!(got, msg);
    assert_eq!(bridge.framing_errors(), 0);
    assert_eq!(bridge.totals(), (msg.len() as u64, msg.len() as u64));
    // The design counted every byte too.
    assert_eq!(
        bridge.model_mut().get("count").unwrap(),
        (msg.len() % 256) as u64
    );
    // The link runs at the baud: n bytes take about 10 bits each, not less.
    assert!(
        bridge.model().cycles() >= msg.len() as u64 * 80,
        "{} cycles",
        bridge.model().cycles()
    );
}

#[test]
fn echo_at_board_baud_with_gaps_and_stepping() {
    // 25 clocks per bit: the Cu's 4 Mbaud at 100 MHz.
    let mut bridge = echo_bridge(25);
    bridge.set_idle_bits(3);
    bridge.send(b"revspike");
    let mut got = Vec::new();
    for _ in 0..25 * 14 * 12 {
        if let Some(b) = bridge.step().unwrap() {
            got.push(b);
        }
    }
    assert_eq!(got, b"revspike");
    assert!(bridge.is_idle());
    // Idle line: nothing arrives, and the run is cheap (skipped inside the model).
    bridge.run(1_000_000).unwrap();
    assert_eq!(bridge.take_received(), Vec::<u8>::new());
}

#[test]
fn timeouts_and_bad_pins_are_errors() {
    let mut bridge = echo_bridge(8);
    let e = bridge.recv_exact(1, 5_000).unwrap_err();
    assert!(matches!(e, Error::Uart(_)), "{e}");
    assert!(e.to_string().contains("0 of 1"), "{e}");
    let model = bridge.into_model();
    assert!(matches!(
        UartBridge::new(model, "tx", "rx", whole(8)),
        Err(Error::WrongDirection { .. })
    ));
    let model = Model::new(&verilog_of(UartEcho::new(8)), &ModelOptions::default()).unwrap();
    assert!(matches!(
        UartBridge::new(model, "rx", "count", whole(8)),
        Err(Error::Uart(_))
    ));
    let model = Model::new(&verilog_of(UartEcho::new(8)), &ModelOptions::default()).unwrap();
    assert!(matches!(
        UartBridge::new(model, "rx", "tx", whole(2)),
        Err(Error::Uart(_))
    ));
}
