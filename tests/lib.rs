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
