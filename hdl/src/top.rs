//! The board top level: the link in front of the spiking core, on the pins of the
//! build's board (`revspike_proto::board`, where the pads are listed; the Alchitry Cu):
//!
//! - `clock`: the board's oscillator;
//! - `reset_n` (the reset button, active low): synchronized, then clears the core's
//!   turn-on state and lights LED 3 while held;
//! - `usb_rx` / `usb_tx`: the USB-UART (FT2232H interface B on the Cu);
//! - `leds`: 0 link activity, 1 core busy, 2 link error, 3 reset held, 7 heartbeat (the
//!   bitstream is alive), 4-6 off.

use rust_hdl::prelude::*;

use revspike_proto::build::{Build, CU, SMALL};

use crate::board_io;
use crate::builds::{memories, with_core, WithCore};
use crate::emit::{self, HdlError};
use crate::host_port::HostPortDriver;
use crate::link::{Link, LinkConfig};
use crate::spiking_core::SpikingCore;

/// The bit of `leds` lit while the core or the link's command engine works (the
/// busy LED above). The virtual board watches it to tell the board's own time from
/// time spent waiting for its host.
pub const BUSY_LED: u32 = 1;

#[derive(LogicBlock)]
pub struct Top<const P: usize, const W: usize, const S: usize> {
    pub clock: Signal<In, Clock>,
    pub reset_n: Signal<In, Bit>,
    pub usb_rx: Signal<In, Bit>,
    pub usb_tx: Signal<Out, Bit>,
    pub leds: Signal<Out, Bits<8>>,
    pub link: Link,
    pub core: SpikingCore<P, W, S>,
    reset_sync: DFF<Bits<3>>,
    heartbeat: DFF<Bits<27>>,
    // The LEDs are driven from flip-flops: their pins sit on the die's edge, and logic
    // feeding them directly would be pulled away from the link it belongs to.
    led_r: DFF<Bits<8>>,
    led_w: Signal<Local, Bits<8>>,
}

impl<const P: usize, const W: usize, const S: usize> Top<P, W, S> {
    pub fn new(build: &Build) -> Result<Self, HdlError> {
        let link = Link::new(&LinkConfig::from_build(&build.info())?)?;
        let board = build.board();
        Ok(Self {
            clock: board_io::clock(board),
            reset_n: board_io::input(board, "reset_n"),
            usb_rx: board_io::input(board, "usb_rx"),
            usb_tx: board_io::output(board, "usb_tx"),
            leds: board_io::output(board, "leds"),
            link,
            core: SpikingCore::new(memories(build)),
            reset_sync: Default::default(),
            heartbeat: Default::default(),
            led_r: Default::default(),
            led_w: Default::default(),
        })
    }
}

impl<const P: usize, const W: usize, const S: usize> Logic for Top<P, W, S> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, reset_sync, heartbeat, led_r);
        self.link.clock.next = self.clock.val();
        self.core.clock.next = self.clock.val();
        self.link.uart_rx.next = self.usb_rx.val();
        self.usb_tx.next = self.link.uart_tx.val();
        // The button is asynchronous and bounces: two synchronizer stages, and a press
        // is only acted on while the core is idle (a clear is a core command).
        self.reset_sync.d.next =
            (self.reset_sync.q.val() << 1) | bit_cast::<3, 1>((!self.reset_n.val()).into());
        self.heartbeat.d.next = self.heartbeat.q.val() + 1;

        HostPortDriver::join(&mut self.link.host, &mut self.core.host);
        self.link.board_clear.next =
            self.reset_sync.q.val().get_bit(1) & !self.reset_sync.q.val().get_bit(2);

        self.leds.next = self.led_r.q.val();
        self.led_w.next = 0.into();
        self.led_w.next = self
            .led_w
            .val()
            .replace_bit(0, self.link.led_activity.val());
        self.led_w.next = self.led_w.val().replace_bit(1, self.link.led_busy.val());
        self.led_w.next = self.led_w.val().replace_bit(2, self.link.led_error.val());
        self.led_w.next = self
            .led_w
            .val()
            .replace_bit(3, self.reset_sync.q.val().get_bit(2));
        self.led_w.next = self
            .led_w
            .val()
            .replace_bit(7, self.heartbeat.q.val().get_bit(26));
        self.led_r.d.next = self.led_w.val();
    }
}

/// The Alchitry Cu build's top level.
pub type CuTop = Top<32, 64, 1>;
/// The small build's top level (simulation).
pub type SmallTop = Top<8, 64, 1>;

pub fn cu_top() -> CuTop {
    CuTop::new(&CU).expect("the Cu build's link configuration is valid")
}

pub fn small_top() -> SmallTop {
    SmallTop::new(&SMALL).expect("the small build's link configuration is valid")
}

/// Verilog of a named build's board top level.
pub fn top_verilog(build: &Build) -> Result<String, HdlError> {
    struct Emit;
    impl WithCore for Emit {
        type Output = Result<String, HdlError>;
        fn with<const P: usize, const W: usize, const S: usize>(
            self,
            build: &Build,
        ) -> Self::Output {
            emit::verilog(Top::<P, W, S>::new(build)?)
        }
    }
    with_core(build, Emit)?
}
