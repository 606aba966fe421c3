//! UART receiver/transmitter at 12 Mbaud (25/3 clocks per bit at 100 MHz, fractional)
//! and 4 Mbaud (25), their bit timing and their tolerance of a far end whose rate is
//! off, the CRC block and the SLIP blocks, in rust-hdl's simulator, plus synthesis
//! checks. (The same timing on the emitted Verilog: tests/verilator_top.rs.)

mod link_support;

use link_support::synth::ice40_stats;
use link_support::{HostUart, WireEvent};
use revspike_hdl::crc16::Crc16;
use revspike_hdl::slip_rx::SlipRx;
use revspike_hdl::slip_tx::SlipTx;
use revspike_hdl::uart_rx::UartRx;
use revspike_hdl::uart_tx::UartTx;
use revspike_proto::build::BUILDS;
use revspike_proto::protocol::{crc16, crc16_step, slip_encode, BitTiming};
use rust_hdl::prelude::*;

/// Records what the device-side blocks produce, clock by clock.
#[derive(LogicBlock, Default)]
struct Recorder {
    clock: Signal<In, Clock>,
    rx_valid: Signal<In, Bit>,
    rx_data: Signal<In, Bits<8>>,
    rx_ferr: Signal<In, Bit>,
    rx_sample: Signal<In, Bit>,
    tx_line: Signal<In, Bit>,
    _got: Vec<u8>,
    _ferr: u32,
    _line: Vec<bool>,
    _cycle: u64,
    _samples: Vec<u64>,
}

impl Logic for Recorder {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self._cycle += 1;
            if self.rx_sample.val() {
                self._samples.push(self._cycle);
            }
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
        self.rec.rx_sample.next = self.urx.sample.val();
        self.rec.tx_line.next = self.utx.tx.val();
    }
}

struct Outcome {
    got: Vec<u8>,
    ferr: u32,
    host_got: Vec<u8>,
    host_framing: u32,
    line: Vec<bool>,
    /// Cycles at which the receiver sampled, and at which the host's start bits began.
    samples: Vec<u64>,
    starts: Vec<u64>,
}

fn timing(baud: u32) -> BitTiming {
    BitTiming::from_rates(100_000_000, baud).unwrap()
}

/// Play `events` into a receiver at `baud` from a host whose sending rate is off by
/// `host_ppm`, and send `tx_bytes` from the transmitter; return what both sides saw.
fn run_uart_at(baud: u32, host_ppm: i64, events: Vec<WireEvent>, tx_bytes: Vec<u8>) -> Outcome {
    let t = timing(baud);
    let mut uut = UartBench {
        clock: Default::default(),
        send: Default::default(),
        send_data: Default::default(),
        ready: Default::default(),
        host: HostUart::default(),
        urx: UartRx::new(t),
        utx: UartTx::new(t),
        rec: Recorder::default(),
    };
    uut.host._h.set_timing(t, host_ppm);
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
            samples: x.rec._samples.clone(),
            starts: x.host._h.starts.clone(),
        });
        sim.done(x)
    });
    sim.run(Box::new(uut), 1 << 36).unwrap();
    let o = out.lock().unwrap().take().unwrap();
    o
}

/// At 4 Mbaud, the old default: 25 whole clocks per bit.
fn run_uart(host_cpb: u32, events: Vec<WireEvent>, tx_bytes: Vec<u8>) -> Outcome {
    assert_eq!(host_cpb, 25);
    run_uart_at(4_000_000, 0, events, tx_bytes)
}

fn bytes_of(v: &[u8]) -> Vec<WireEvent> {
    v.iter().map(|&b| WireEvent::Byte(b)).collect()
}

#[test]
fn uart_rx_receives_every_byte_value_at_12_and_4_mbaud() {
    let bytes: Vec<u8> = (0..=255).collect();
    for baud in [12_000_000, 4_000_000] {
        let o = run_uart_at(baud, 0, bytes_of(&bytes), vec![]);
        assert_eq!(o.got, bytes, "{baud} baud");
        assert_eq!(o.ferr, 0, "{baud} baud");
    }
}

/// Bytes whose bit patterns stress the sampling: alternating bits, long runs, and
/// stop-bit neighbours.
fn tolerance_pattern() -> Vec<u8> {
    let mut v = vec![0x00, 0xFF, 0x55, 0xAA, 0xC0, 0x01, 0x80, 0x7F, 0xFE];
    v.extend((0..48u32).map(|i| (i * 73 + 11) as u8));
    v
}

#[test]
fn uart_rx_tolerates_a_far_end_2_and_3_percent_off_and_not_7() {
    let bytes = tolerance_pattern();
    for baud in [12_000_000, 4_000_000] {
        for ppm in [-30_000, -20_000, 20_000, 30_000] {
            let o = run_uart_at(baud, ppm, bytes_of(&bytes), vec![]);
            assert_eq!(o.got, bytes, "{baud} baud, host off by {ppm} ppm");
            assert_eq!(o.ferr, 0, "{baud} baud, host off by {ppm} ppm");
        }
    }
    // Far beyond: the test can tell.
    for ppm in [-70_000, 70_000] {
        let o = run_uart_at(12_000_000, ppm, bytes_of(&bytes), vec![]);
        assert!(
            o.got != bytes || o.ferr > 0,
            "a host 7 % off went unnoticed ({ppm} ppm)"
        );
    }
}

/// Where each sample falls in its bit, in bits from the bit's middle, for bytes sent
/// back to back at the exact rate: `latency` is the synchronizer's delay in clocks.
fn sample_offsets(o: &Outcome, t: BitTiming, latency: f64) -> Vec<f64> {
    let period = t.clocks as f64 / t.bits as f64;
    assert_eq!(o.samples.len(), 10 * o.starts.len(), "ten samples per byte");
    let mut out = Vec::new();
    for (i, &start) in o.starts.iter().enumerate() {
        for k in 0..10 {
            // The host's bit edges lie on its own fractional schedule: bit k of byte i
            // begins at its start plus the whole clocks of k bits, counted from the
            // burst's first start (the remainder carries across bytes).
            let first = o.starts[0] as f64;
            let byte_start = first + (10 * i) as f64 * period;
            assert!((byte_start - start as f64).abs() < 1.0, "byte {i} start");
            let lo = (byte_start + k as f64 * period).floor();
            let hi = (byte_start + (k + 1) as f64 * period).floor();
            let s = o.samples[10 * i + k] as f64 - latency;
            out.push((s - (lo + hi) / 2.0) / (hi - lo));
        }
    }
    out
}

#[test]
fn uart_rx_samples_within_one_clock_of_mid_bit() {
    let bytes: Vec<u8> = (0..64u32).map(|i| (i * 37 + 5) as u8).collect();
    // At 4 Mbaud (whole clocks) the sample of bit k comes 25 k + 12 clocks after the
    // cycle the start bit was seen: that gives the synchronizer's latency.
    let o = run_uart_at(4_000_000, 0, bytes_of(&bytes), vec![]);
    assert_eq!(o.got, bytes);
    let latency = (o.samples[0] - o.starts[0]) as f64 - 12.0;
    let worst4 = sample_offsets(&o, timing(4_000_000), latency)
        .into_iter()
        .fold(0.0f64, |w, x| w.max(x.abs()));
    let o = run_uart_at(12_000_000, 0, bytes_of(&bytes), vec![]);
    assert_eq!(o.got, bytes);
    let offs = sample_offsets(&o, timing(12_000_000), latency);
    let worst12 = offs.iter().fold(0.0f64, |w, x| w.max(x.abs()));
    println!(
        "worst sampling offset from mid-bit: {:.1} % of a bit at 12 Mbaud, {:.1} % at 4 Mbaud",
        100.0 * worst12,
        100.0 * worst4
    );
    // At most one clock from the middle of the bit as it arrives: of the 8 or 9
    // clocks a 12 Mbaud bit lasts, of the 25 of a 4 Mbaud bit.
    assert!(worst12 <= 1.0 / 8.0 + 1e-9, "{worst12}");
    assert!(worst4 <= 1.0 / 25.0 + 1e-9, "{worst4}");
}

#[test]
fn uart_tx_keeps_the_exact_fractional_rate_back_to_back() {
    // 30 bytes of 0x55 (alternating bits) back to back at 12 Mbaud: every edge within
    // one clock of k * 25/3 from the first, and 300 bits in exactly 1000 clocks.
    let o = run_uart_at(12_000_000, 0, vec![], vec![0x55; 30]);
    assert_eq!(o.host_got, vec![0x55; 30]);
    let fall = o.line.iter().position(|&l| !l).unwrap();
    let edges: Vec<usize> = (fall + 1..o.line.len())
        .filter(|&i| o.line[i] != o.line[i - 1])
        .collect();
    // 0x55 framed is 0 1010 1010 1: every bit changes the line except stop-to-idle.
    for &e in &edges {
        let bits = (e - fall) as f64 * 3.0 / 25.0;
        let k = bits.round();
        let ideal = k * 25.0 / 3.0;
        assert!(
            ((e - fall) as f64 - ideal).abs() < 1.0,
            "edge at {} clocks, bit {k}",
            e - fall
        );
    }
    // The last edge is the stop bit of byte 30 (bit 299, at 299 * 25 / 3 = 2491.67
    // clocks): no clock was lost or gained over 30 bytes.
    let last_stop = (*edges.last().unwrap() - fall) as f64;
    assert!((last_stop - 299.0 * 25.0 / 3.0).abs() < 1.0, "{edges:?}");
}

#[test]
fn every_build_has_bit_timing_within_half_a_percent() {
    for b in BUILDS {
        let t = b.bit_timing().unwrap();
        let err = t.error_ppm(b.clock_hz, b.baud);
        assert!(err <= 5_000, "{}: {err} ppm", b.name);
        // The hardware transmitter's first 1000 edges, from its accumulator, stay
        // within one clock of the ideal ones.
        let mut acc = 0u64;
        let mut edges = Vec::new();
        for clock in 1..=(1000 * t.clocks as u64 / t.bits as u64 + 2) {
            acc += t.bits as u64;
            if acc >= t.clocks as u64 {
                acc -= t.clocks as u64;
                edges.push(clock);
            }
        }
        for (k, &e) in edges.iter().enumerate().take(1000) {
            let ideal = (k + 1) as f64 * b.clock_hz as f64 / b.baud as f64;
            assert!(
                (e as f64 - ideal).abs() < 1.0,
                "{}: edge {k} at {e}, ideal {ideal}",
                b.name
            );
        }
        println!(
            "{}: {} baud at {} Hz, {}/{} clocks per bit, rate error {err} ppm",
            b.name, b.baud, b.clock_hz, t.clocks, t.bits
        );
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
        utx: UartTx::new(timing(4_000_000)),
        host: HostUart::default(),
    };
    uut.host._h.set_timing(timing(4_000_000), 0);
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
    fn check<U: Block>(name: &str, uut: U) {
        let v = revspike_hdl::emit::verilog(uut).unwrap();
        yosys_validate(name, &v).unwrap();
        link_support::synth::verilator_lint(name, &v).unwrap();
        let s = ice40_stats(name, &v).unwrap();
        println!("{name}: {s}");
        assert_eq!(s.latches, 0, "{name}: {s}");
        assert!(s.flops > 0, "{name}: {s}");
    }
    check("revspike_uart_rx", UartRx::new(timing(12_000_000)));
    check("revspike_uart_tx", UartTx::new(timing(12_000_000)));
    check("revspike_crc16", Crc16::default());
    check("revspike_slip_rx", SlipRx::default());
    check("revspike_slip_tx", SlipTx::default());
}
