//! Integration tests of revspike: the emitted Verilog in Verilator against the golden
//! model, and the host CLI against the virtual board.

use revspike_proto::build::Build;
use revspike_proto::core_port::{CoreDriver, CorePort, Pin};
use revspike_sim::{Model, ModelOptions, PortId};

/// The core of a named build, emitted by rust-hdl and Verilated, behind the shared
/// host-port driver.
pub struct VerilatedCore {
    model: Model,
    ids: Vec<(Pin, PortId)>,
}

impl VerilatedCore {
    pub fn new(build: &Build) -> Result<Self, Box<dyn std::error::Error>> {
        let verilog = revspike_hdl::builds::core_verilog(build)?;
        let model = Model::new(&verilog, &ModelOptions::default())?;
        let ids: Vec<(Pin, PortId)> = Pin::ALL
            .iter()
            .map(|&p| model.port(&p.verilog_name()).map(|id| (p, id)))
            .collect::<Result<_, _>>()?;
        // The driver's idea of each pin's direction is the emitted core's.
        for &(p, id) in &ids {
            let input = model.port_info(id).direction == revspike_sim::Direction::Input;
            if input != p.is_input() {
                return Err(format!(
                    "host-port pin `{}` is an {} of the core, the driver takes it for an {}",
                    p.name(),
                    if input { "input" } else { "output" },
                    if p.is_input() { "input" } else { "output" },
                )
                .into());
            }
        }
        Ok(Self { model, ids })
    }

    fn id(&self, pin: Pin) -> PortId {
        self.ids
            .iter()
            .find(|(p, _)| *p == pin)
            .map(|(_, id)| *id)
            .expect("every pin is mapped")
    }

    pub fn driver(self) -> CoreDriver<Self> {
        CoreDriver::new(self)
    }

    pub fn cycles(&self) -> u64 {
        self.model.cycles()
    }
}

impl CorePort for VerilatedCore {
    fn poke(&mut self, pin: Pin, value: u64) {
        let id = self.id(pin);
        self.model.set_id(id, value);
    }

    fn peek(&mut self, pin: Pin) -> u64 {
        let id = self.id(pin);
        self.model.get_id(id)
    }

    fn tick(&mut self) {
        self.model.tick().expect("the Verilated model clocks");
    }
}

/// The board's UART, bit by bit on the simulated top level's pins, as a protocol
/// transport: what the virtual board does, without the pseudo-terminal.
pub struct BridgeTransport {
    pub bridge: revspike_sim::UartBridge,
    /// Give up waiting for an answer after this many clock cycles.
    pub patience_cycles: u64,
}

impl BridgeTransport {
    /// The board top level of `build`, Verilated, with its UART wired to a bridge.
    pub fn new(build: &Build) -> Result<Self, String> {
        let verilog = revspike_hdl::top::top_verilog(build).map_err(|e| e.to_string())?;
        let mut model =
            Model::new(&verilog, &ModelOptions::default()).map_err(|e| e.to_string())?;
        model.set("reset_n", 1).map_err(|e| e.to_string())?;
        let timing = build.bit_timing().map_err(|e| e.to_string())?;
        let bridge = revspike_sim::UartBridge::new(model, "usb_rx", "usb_tx", timing)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            bridge,
            patience_cycles: 20_000_000,
        })
    }
}

impl revspike_proto::protocol::Transport for BridgeTransport {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.bridge.send(bytes);
        Ok(())
    }

    fn recv(&mut self) -> Result<Vec<u8>, String> {
        // Run until something arrived and the line has been quiet for two byte times,
        // or patience runs out.
        let quiet = self.bridge.timing().clocks_for_bits(20);
        let mut waited = 0;
        loop {
            self.bridge.run(quiet).map_err(|e| e.to_string())?;
            waited += quiet;
            if self.bridge.received_len() > 0 && self.bridge.quiet_cycles() >= quiet {
                return Ok(self.bridge.take_received());
            }
            if waited >= self.patience_cycles {
                return Ok(self.bridge.take_received());
            }
        }
    }

    fn pause(&mut self, micros: u64) -> Result<(), String> {
        self.bridge.run(micros * 100).map_err(|e| e.to_string())
    }
}

/// Where scripts/setup.sh installs the Fashion-MNIST files.
pub const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// One gzipped IDX file of Fashion-MNIST, without its `header` bytes.
pub fn fashion_idx(name: &str, header: usize) -> Vec<u8> {
    use std::io::Read;
    let path = format!("{FASHION_MNIST}/{name}");
    let f = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!("{path}: {e} (scripts/setup.sh installs dataset-fashion-mnist)")
    });
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut raw)
        .expect("gzip");
    raw.split_off(header)
}

/// Defines, in the test file that calls it, `Pins` (a block's ports by name, clocked),
/// `Verilated` (a block's emitted Verilog in Verilator) and `RustHdl` (the block in
/// rust-hdl's simulator, its ports listed by [`rust_hdl_pins!`]), so one test drives a
/// block in both simulators. A macro, not items, because each test implements `Pins`
/// for blocks of another crate, which Rust allows only for a trait of its own.
#[macro_export]
macro_rules! block_pins {
    () => {
        /// A block's ports by name, clocked.
        trait Pins {
            fn set(&mut self, name: &str, value: u64);
            fn get(&mut self, name: &str) -> u64;
            fn tick(&mut self);
        }

        struct Verilated(revspike_sim::Model);

        impl Verilated {
            fn new<B: rust_hdl::prelude::Block>(block: B) -> Self {
                let verilog = revspike_hdl::emit::verilog(block).expect("the block emits");
                Verilated(
                    revspike_sim::Model::new(&verilog, &revspike_sim::ModelOptions::default())
                        .expect("verilator builds"),
                )
            }
        }

        impl Pins for Verilated {
            fn set(&mut self, name: &str, value: u64) {
                self.0
                    .set(name, value)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            fn get(&mut self, name: &str) -> u64 {
                self.0.get(name).unwrap_or_else(|e| panic!("{name}: {e}"))
            }
            fn tick(&mut self) {
                self.0.tick().unwrap();
            }
        }

        /// A signal value as a u64 and back.
        trait Word: Sized {
            fn of(v: u64) -> Self;
            fn word(&self) -> u64;
        }

        impl Word for bool {
            fn of(v: u64) -> Self {
                v != 0
            }
            fn word(&self) -> u64 {
                *self as u64
            }
        }

        impl<const N: usize> Word for rust_hdl::prelude::Bits<N> {
            fn of(v: u64) -> Self {
                v.into()
            }
            fn word(&self) -> u64 {
                self.to_u64()
            }
        }

        struct RustHdl<B: rust_hdl::prelude::Block>(Box<B>);

        impl<B: rust_hdl::prelude::Block> RustHdl<B> {
            fn new(mut block: B) -> Self {
                rust_hdl::prelude::Block::connect_all(&mut block);
                let mut s = RustHdl(Box::new(block));
                s.settle();
                s
            }
            fn settle(&mut self) {
                assert!(
                    rust_hdl::prelude::simulate(&mut *self.0, 1_000),
                    "the block did not settle"
                );
            }
        }
    };
}

/// `Pins` for a rust-hdl block: its inputs and outputs listed by field name.
#[macro_export]
macro_rules! rust_hdl_pins {
    ($ty:ty, in: [$($i:ident),* $(,)?], out: [$($o:ident),* $(,)?]) => {
        impl Pins for RustHdl<$ty> {
            fn set(&mut self, name: &str, value: u64) {
                match name {
                    $(stringify!($i) => self.0.$i.next = Word::of(value),)*
                    _ => panic!("no input {name}"),
                }
            }
            fn get(&mut self, name: &str) -> u64 {
                self.settle();
                match name {
                    $(stringify!($o) => self.0.$o.val().word(),)*
                    _ => panic!("no output {name}"),
                }
            }
            fn tick(&mut self) {
                self.settle();
                self.0.clock.next = rust_hdl::prelude::Clock { clk: true };
                self.settle();
                self.0.clock.next = rust_hdl::prelude::Clock { clk: false };
                self.settle();
            }
        }
    };
}
