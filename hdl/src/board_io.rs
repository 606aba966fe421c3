//! A board's pins as the top level's ports: each signal carries the pads that
//! `revspike_proto::board` lists for it, so the flow's pin constraints come from the
//! board's one description.

use rust_hdl::prelude::*;

use revspike_proto::board::{Board, BoardPin, PinDirection};

fn locate<D: Direction, T: Synth>(pin: &BoardPin, want: PinDirection) -> Signal<D, T> {
    assert_eq!(
        pin.direction, want,
        "pin `{}` is an {:?} pin",
        pin.name, pin.direction
    );
    assert_eq!(
        pin.pads.len(),
        T::BITS,
        "pin `{}` has {} pads for {} bits",
        pin.name,
        pin.pads.len(),
        T::BITS
    );
    let mut s = Signal::<D, T>::default();
    for (bit, pad) in pin.pads.iter().enumerate() {
        s.add_location(bit, pad);
    }
    s
}

/// The board's input `name` (a bug in the caller if the board has none).
pub fn input<T: Synth>(board: &Board, name: &str) -> Signal<In, T> {
    locate(board.expect_pin(name), PinDirection::In)
}

/// The board's output `name`.
pub fn output<T: Synth>(board: &Board, name: &str) -> Signal<Out, T> {
    locate(board.expect_pin(name), PinDirection::Out)
}

/// The board's oscillator.
pub fn clock(board: &Board) -> Signal<In, Clock> {
    let mut c: Signal<In, Clock> = locate(&board.clock, PinDirection::In);
    c.connect();
    c
}
