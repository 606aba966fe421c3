//! Boards as data: what the top level, the bitstream flow and the host need to know
//! about a board, written once. The top level places its ports on these pins, the
//! flow targets this device and package, the host flashes with this programmer.

/// Direction of a pin, seen from the FPGA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinDirection {
    In,
    Out,
}

/// One port of the board's top level: its pads, one per bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardPin {
    /// Port name in the top level's Verilog.
    pub name: &'static str,
    /// Package pads, bit 0 first.
    pub pads: &'static [&'static str],
    pub direction: PinDirection,
    /// What is wired to it on the board.
    pub what: &'static str,
}

/// A board with an iCE40 FPGA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    /// Name, also the directory of its bitstreams (`bitstreams/<name>`).
    pub name: &'static str,
    /// The iCE40 part as nextpnr-ice40 names it (`hx8k`).
    pub device: &'static str,
    /// The package as nextpnr-ice40 names it (`cb132`).
    pub package: &'static str,
    /// The oscillator's pin.
    pub clock: BoardPin,
    pub clock_hz: u64,
    /// Every other pin the top levels use.
    pub pins: &'static [BoardPin],
    /// The program that writes a bitstream to the board's flash.
    pub programmer: &'static str,
}

impl Board {
    /// A pin by its port name (the clock included).
    pub fn pin(&self, name: &str) -> Option<&BoardPin> {
        std::iter::once(&self.clock)
            .chain(self.pins)
            .find(|p| p.name == name)
    }

    /// Like [`Board::pin`], for names a top level is built with: a missing pin is a
    /// bug in the code, not in its input.
    pub fn expect_pin(&self, name: &str) -> &BoardPin {
        self.pin(name)
            .unwrap_or_else(|| panic!("board {} has no pin `{name}`", self.name))
    }
}

/// The Alchitry Cu: iCE40-HX8K in the CB132 package, a 100 MHz oscillator, an FTDI
/// FT2232H whose interface A programs the flash and interface B is a USB-UART.
pub const ALCHITRY_CU: Board = Board {
    name: "alchitry-cu",
    device: "hx8k",
    package: "cb132",
    clock: BoardPin {
        name: "clock",
        pads: &["P7"],
        direction: PinDirection::In,
        what: "100 MHz oscillator",
    },
    clock_hz: 100_000_000,
    pins: &[
        BoardPin {
            name: "reset_n",
            pads: &["P8"],
            direction: PinDirection::In,
            what: "reset button, active low",
        },
        BoardPin {
            name: "usb_rx",
            pads: &["P14"],
            direction: PinDirection::In,
            what: "USB-UART from the host (FT2232H interface B)",
        },
        BoardPin {
            name: "usb_tx",
            pads: &["M9"],
            direction: PinDirection::Out,
            what: "USB-UART to the host (FT2232H interface B)",
        },
        BoardPin {
            name: "leds",
            pads: &["J11", "K11", "K12", "K14", "L12", "L14", "M12", "N14"],
            direction: PinDirection::Out,
            what: "LEDs 0..7",
        },
    ],
    programmer: "iceprog",
};

/// Every board revspike builds for.
pub const BOARDS: [&Board; 1] = [&ALCHITRY_CU];

pub fn by_name(name: &str) -> Option<&'static Board> {
    BOARDS.into_iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pad_is_used_once() {
        for b in BOARDS {
            let mut pads: Vec<&str> = std::iter::once(&b.clock)
                .chain(b.pins)
                .flat_map(|p| p.pads.iter().copied())
                .collect();
            let n = pads.len();
            pads.sort();
            pads.dedup();
            assert_eq!(pads.len(), n, "{}", b.name);
            assert_eq!(b.expect_pin("usb_tx").direction, PinDirection::Out);
            assert!(b.pin("nothing").is_none());
        }
        assert_eq!(by_name("alchitry-cu"), Some(&ALCHITRY_CU));
    }
}
