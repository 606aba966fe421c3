//! UART receiver/transmitter at 25 clocks per bit (4 Mbaud at 100 MHz), the CRC
//! block and the SLIP blocks, in rust-hdl's simulator, plus synthesis checks.

mod link_support;

use link_support::synth::ice40_stats;
use link_support::{HostUart, WireEvent};
use revspike_hdl::crc16::Crc16;
use revspike_hdl::slip_rx::SlipRx;
use revspike_hdl::slip_tx::SlipTx;
use revspike_hdl::uart_rx::UartRx;
use revspike_hdl::uart_tx::UartTx;
use revspike_proto::protocol::{crc16, crc16_step, slip_encode};
use rust_hdl::prelude::*;

/// Records what the device-side blocks produce, clock by clock.
#[derive(LogicBlock, Default)]
struct Recorder {
    clock: Signal<In, Clock>,
    rx_valid: Signal<In, Bit>,
    rx_data: Signal<In, Bits<8>>,
    rx_ferr: Signal<In, Bit>,
    tx_line: Signal<In, Bit>,
    _got: Vec<u8>,
    _ferr: u32,
    _line: Vec<bool>,
}

impl Logic for Recorder {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self.rx_valid.val() {
                self._got.push(self.rx_data.val().to_u8());
            }
            if self.rx_ferr.val() {
                self._ferr += 1;
            }
            self._line.push(self.tx_line.val());
        }
    }
    fn connect(&mut self) {}
    fn hdl(&self) -> Verilog {
        Verilog::Empty
    }
}

#[derive(LogicBlock)]
struct UartBench {
    clock: Signal<In, Clock>,
    send: Signal<In, Bit>,
    send_data: Signal<In, Bits<8>>,
    ready: Signal<Out, Bit>,
    host: HostUart,
    urx: UartRx,
    utx: UartTx,
    rec: Recorder,
}

impl Logic for UartBench {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, host, urx, utx, rec);
        self.urx.rx.next = self.host.tx.val();
        self.host.rx.next = self.utx.tx.val();
        self.utx.start.next = self.send.val();
        self.utx.data.next = self.send_data.val();
        self.ready.next = self.utx.ready.val();
        self.rec.rx_valid.next = self.urx.valid.val();
        self.rec.rx_data.next = self.urx.data.val();
        self.rec.rx_ferr.next = self.urx.framing_error.val();
        self.rec.tx_line.next = self.utx.tx.val();
    }
}

struct Outcome {
    got: Vec<u8>,
    ferr: u32,
    host_got: Vec<u8>,
    host_framing: u32,
    line: Vec<bool>,
}

/// Play `events` at `host_cpb` clocks per bit into a 25-clock receiver, and send
/// `tx_bytes` from the transmitter; return what both sides saw.
fn run_uart(host_cpb: u32, events: Vec<WireEvent>, tx_bytes: Vec<u8>) -> Outcome {
    let mut uut = UartBench {
        clock: Default::default(),
        send: Default::default(),
        send_data: Default::default(),
        ready: Default::default(),
        host: HostUart::default(),
        urx: UartRx::new(25),
        utx: UartTx::new(25),
        rec: Recorder::default(),
    };
    uut.host._h.cpb = host_cpb;
    uut.connect_all();
    let out = std::sync::Arc::new(std::sync::Mutex::new(None));
    let out2 = out.clone();
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<UartBench>| x.clock.next = !x.clock.val());
    sim.add_testbench(move |mut sim: Sim<UartBench>| {
        let mut x = sim.init()?;
        wait_clock_cycles!(sim, clock, x, 10);
        x.host._h.queue.extend(events.clone());
        for &b in &tx_bytes {
            x = sim.watch(|x| x.ready.val(), x)?;
            wait_clock_true!(sim, clock, x);
            x.send_data.next = (b as u64).into();
            x.send.next = true;
            wait_clock_cycle!(sim, clock, x);
            x.send.next = false;
            // `ready` must drop once a byte is taken.
            wait_clock_cycle!(sim, clock, x);
            sim_assert!(sim, !x.ready.val(), x);
        }
        x = sim.watch(|x| x.host._h.tx_idle() && x.ready.val(), x)?;
        wait_clock_cycles!(sim, clock, x, 100);
        *out2.lock().unwrap() = Some(Outcome {
            got: x.rec._got.clone(),
            ferr: x.rec._ferr,
            host_got: x.host._h.rx_log.clone(),
            host_framing: x.host._h.rx_framing,
            line: x.rec._line.clone(),
        });
        sim.done(x)
    });
    sim.run(Box::new(uut), 1 << 36).unwrap();
    let o = out.lock().unwrap().take().unwrap();
    o
}

#[test]
fn uart_rx_receives_every_byte_value() {
    let bytes: Vec<u8> = (0..=255).collect();
    let o = run_uart(
        25,
        bytes.iter().map(|&b| WireEvent::Byte(b)).collect(),
        vec![],
    );
    assert_eq!(o.got, bytes);
    assert_eq!(o.ferr, 0);
}

#[test]
fn uart_rx_tolerates_baud_mismatch() {
    let bytes: Vec<u8> = vec![0x00, 0xFF, 0x55, 0xAA, 0xC0, 0x01, 0x80];
    for host_cpb in [24, 26] {
        let o = run_uart(
            host_cpb,
            bytes.iter().map(|&b| WireEvent::Byte(b)).collect(),
            vec![],
        );
        assert_eq!(o.got, bytes, "host at {host_cpb} clocks per bit");
        assert_eq!(o.ferr, 0);
    }
}

#[test]
fn uart_rx_ignores_glitches_shorter_than_half_a_bit() {
    let o = run_uart(
        25,
        vec![
            WireEvent::Glitch(1),
            WireEvent::Idle(30),
            WireEvent::Glitch(5),
            WireEvent::Idle(30),
            WireEvent::Glitch(11),
            WireEvent::Idle(30),
            WireEvent::Byte(0xA5),
        ],
        vec![],
    );
    assert_eq!(o.got, vec![0xA5]);
    assert_eq!(o.ferr, 0);
}

#[test]
fn uart_rx_drops_bytes_with_a_bad_stop_bit_and_recovers() {
    let o = run_uart(
        25,
        vec![
            WireEvent::Byte(0x11),
            WireEvent::BadStop(0x3C),
            WireEvent::Byte(0x22),
            WireEvent::BadStop(0x00),
            WireEvent::Byte(0x33),
        ],
        vec![],
    );
    assert_eq!(o.got, vec![0x11, 0x22, 0x33]);
    assert_eq!(o.ferr, 2);
}

#[test]
fn uart_rx_recovers_from_a_break() {
    let o = run_uart(
        25,
        vec![
            WireEvent::Glitch(25 * 40),
            WireEvent::Idle(10),
            WireEvent::Byte(0x5A),
            WireEvent::Byte(0xC3),
        ],
        vec![],
    );
    assert_eq!(o.got, vec![0x5A, 0xC3]);
    assert_eq!(
        o.ferr, 1,
        "a break is one framing error, not a stream of them"
    );
}

#[test]
fn uart_tx_sends_8n1_at_25_clocks_per_bit() {
    let bytes = vec![0x00, 0xFF, 0xA5, 0xC0, 0x3C];
    let o = run_uart(25, vec![], bytes.clone());
    assert_eq!(o.host_got, bytes);
    assert_eq!(o.host_framing, 0);
    // Bit timing of the first byte (0x00): the line falls, stays low for the start
    // bit and 8 zero bits (9 x 25 clocks), then is high for the stop bit.
    let fall = o.line.iter().position(|&l| !l).unwrap();
    let low = o.line[fall..].iter().take_while(|&&l| !l).count();
    assert_eq!(low, 9 * 25);
    let high = o.line[fall + low..].iter().take_while(|&&l| l).count();
    assert!(high >= 25, "stop bit {high} clocks");
    // 0xFF: start bit alone is low for exactly one bit.
    let fall2 = fall + low + high;
    let low2 = o.line[fall2..].iter().take_while(|&&l| !l).count();
    assert_eq!(low2, 25);
}

#[test]
fn crc16_block_matches_the_protocol_crc() {
    #[derive(LogicBlock, Default)]
    struct CrcBench {
        clock: Signal<In, Clock>,
        init: Signal<In, Bit>,
        strobe: Signal<In, Bit>,
        data: Signal<In, Bits<8>>,
        crc: Signal<Out, Bits<16>>,
        c: Crc16,
    }
    impl Logic for CrcBench {
        #[hdl_gen]
        fn update(&mut self) {
            clock!(self, clock, c);
            self.c.init.next = self.init.val();
            self.c.strobe.next = self.strobe.val();
            self.c.data.next = self.data.val();
            self.crc.next = self.c.crc.val();
        }
    }
    let mut uut = CrcBench::default();
    uut.connect_all();
    let data: Vec<u8> = b"123456789"
        .iter()
        .copied()
        .chain((0..200u32).map(|i| (i * 97 + 13) as u8))
        .collect();
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<CrcBench>| x.clock.next = !x.clock.val());
    sim.add_testbench(move |mut sim: Sim<CrcBench>| {
        let mut x = sim.init()?;
        wait_clock_true!(sim, clock, x);
        sim_assert!(sim, x.crc.val() == 0xFFFF, x);
        let mut soft = 0xFFFFu16;
        for (i, &b) in data.iter().enumerate() {
            x.strobe.next = true;
            x.data.next = (b as u64).into();
            wait_clock_cycle!(sim, clock, x);
            soft = crc16_step(soft, b);
            sim_assert!(sim, x.crc.val() == soft as u64, x);
            if i == 8 {
                sim_assert!(sim, x.crc.val() == 0x29B1, x);
            }
        }
        x.strobe.next = false;
        x.init.next = true;
        wait_clock_cycle!(sim, clock, x);
        sim_assert!(sim, x.crc.val() == 0xFFFF, x);
        sim.done(x)
    });
    sim.run(Box::new(uut), 1 << 30).unwrap();
    assert_eq!(crc16(b"123456789"), 0x29B1);
}

#[test]
fn slip_tx_escapes_through_the_uart() {
    #[derive(LogicBlock)]
    struct SlipBench {
        clock: Signal<In, Clock>,
        byte: Signal<In, Bits<8>>,
        is_end: Signal<In, Bit>,
        valid: Signal<In, Bit>,
        ready: Signal<Out, Bit>,
        stx: SlipTx,
        utx: UartTx,
        host: HostUart,
    }
    impl Logic for SlipBench {
        #[hdl_gen]
        fn update(&mut self) {
            clock!(self, clock, stx, utx, host);
            self.stx.data.next = self.byte.val();
            self.stx.is_end.next = self.is_end.val();
            self.stx.valid.next = self.valid.val();
            self.ready.next = self.stx.ready.val();
            self.stx.uart_ready.next = self.utx.ready.val();
            self.utx.data.next = self.stx.uart_data.val();
            self.utx.start.next = self.stx.uart_start.val();
            self.host.rx.next = self.utx.tx.val();
        }
    }
    let mut uut = SlipBench {
        clock: Default::default(),
        byte: Default::default(),
        is_end: Default::default(),
        valid: Default::default(),
        ready: Default::default(),
        stx: Default::default(),
        utx: UartTx::new(25),
        host: HostUart::default(),
    };
    uut.host._h.cpb = 25;
    uut.connect_all();
    let body = vec![1, 0xC0, 2, 0xDB, 0xDC, 0xDD, 0xC0, 0xC0];
    let expect = slip_encode(&body);
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let got2 = got.clone();
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<SlipBench>| x.clock.next = !x.clock.val());
    sim.add_testbench(move |mut sim: Sim<SlipBench>| {
        let mut x = sim.init()?;
        let mut items: Vec<(bool, u8)> = vec![(true, 0)];
        items.extend(body.iter().map(|&b| (false, b)));
        items.push((true, 0));
        for (end, b) in items {
            wait_clock_true!(sim, clock, x);
            x.is_end.next = end;
            x.byte.next = (b as u64).into();
            x.valid.next = true;
            x = sim.watch(|x| x.ready.val() && !x.clock.val().clk, x)?;
            wait_clock_true!(sim, clock, x);
            x.valid.next = false;
        }
        x = sim.watch(|x| x.ready.val() && x.host._h.rx_log.len() >= 12, x)?;
        wait_clock_cycles!(sim, clock, x, 300);
        *got2.lock().unwrap() = x.host._h.rx_log.clone();
        sim.done(x)
    });
    sim.run(Box::new(uut), 1 << 34).unwrap();
    assert_eq!(*got.lock().unwrap(), expect);
}

#[test]
fn uart_crc_slip_blocks_synthesize_without_latches() {
    fn check<U: Block>(name: &str, mut uut: U) {
        uut.connect_all();
        let v = generate_verilog(&uut);
        yosys_validate(name, &v).unwrap();
        link_support::synth::verilator_lint(name, &v).unwrap();
        let s = ice40_stats(name, &v).unwrap();
        println!("{name}: {s}");
        assert_eq!(s.latches, 0, "{name}: {s}");
        assert!(s.flops > 0, "{name}: {s}");
    }
    check("revspike_uart_rx", UartRx::new(25));
    check("revspike_uart_tx", UartTx::new(25));
    check("revspike_crc16", Crc16::default());
    check("revspike_slip_rx", SlipRx::default());
    check("revspike_slip_tx", SlipTx::default());
}
