//! A UART at the pins of a simulated design: 8N1 frames driven onto the design's
//! receive pin and decoded from its transmit pin, in clock cycles.
//!
//! The bridge owns the [`Model`] and is the only thing that clocks it, so the bit
//! timing is exact: a bit lasts `clocks / bits` cycles ([`BitTiming`], 25/3 at 12 Mbaud
//! and 100 MHz), the design's receive pin changing on the first cycle at or after
//! each ideal edge with the remainder carried from bit to bit (back-to-back bytes keep
//! the exact rate, as the FTDI bridge does), and the transmit pin is sampled on the
//! first cycle at or after the middle of each bit, counted from the cycle its start
//! bit was first seen. The sending rate may be set off by a few per cent
//! ([`UartBridge::set_send_rate_ppm`]) to test the design's tolerance. Long stretches
//! where nothing changes (a bit in flight, an idle line) run inside the compiled
//! model, not cycle by cycle.

use crate::model::{Model, PortId};
use crate::{Error, Result};
use revspike_proto::bit_timing::{BitTiming, MIN_CLOCKS_PER_BIT};
use std::collections::VecDeque;

/// Decoder state for the design's transmit pin.
#[derive(Clone, Copy, Debug)]
enum RxState {
    /// Line idle (high); waiting for a start bit.
    Idle,
    /// In a frame whose start bit was seen at cycle `start`: the next sample is at
    /// cycle `at`, for bit `bit` (0 = start, 1..=8 data, 9 = stop).
    Frame {
        start: u64,
        at: u64,
        bit: u8,
        shift: u8,
    },
}

/// The host side of a UART wired to a [`Model`]'s pins.
pub struct UartBridge {
    model: Model,
    rx_pin: PortId,
    tx_pin: PortId,
    timing: BitTiming,
    // The sender's bit period, `send_num / send_den` cycles, and the remainder carried.
    send_num: u64,
    send_den: u64,
    send_frac: u64,
    idle_bits: u32,
    // Sender: the frame being shifted out (LSB first) and cycles left in its current bit.
    queue: VecDeque<u8>,
    frame: u32,
    frame_bits: u32,
    bit_left: u64,
    // Receiver.
    state: RxState,
    received: VecDeque<u8>,
    framing_errors: u64,
    bytes_sent: u64,
    bytes_received: u64,
    last_activity: u64,
    // Busy accounting: a design output bit that is 1 while the design works.
    busy_pin: Option<(PortId, u64)>,
    busy_cycles: u64,
}

impl std::fmt::Debug for UartBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UartBridge")
            .field("timing", &self.timing)
            .field("queued", &self.queue.len())
            .field("received", &self.received.len())
            .field("framing_errors", &self.framing_errors)
            .finish()
    }
}

impl UartBridge {
    /// Wires a bridge to `model`: `rx_pin` is the design's UART input (the bridge
    /// drives it), `tx_pin` its UART output (the bridge decodes it), both at
    /// `timing`. The receive pin is driven idle (high) at once.
    pub fn new(mut model: Model, rx_pin: &str, tx_pin: &str, timing: BitTiming) -> Result<Self> {
        if timing.bits == 0 || timing.clocks < MIN_CLOCKS_PER_BIT * timing.bits {
            return Err(Error::Uart(format!(
                "a bit must last at least {MIN_CLOCKS_PER_BIT} clocks to sample mid-bit, got \
                 {}/{}",
                timing.clocks, timing.bits
            )));
        }
        let rx = model.input(rx_pin)?;
        let tx = model.output(tx_pin)?;
        for id in [rx, tx] {
            let p = model.port_info(id);
            if p.width != 1 {
                return Err(Error::Uart(format!(
                    "UART pin `{}` is {} bits wide; it must be 1 bit",
                    p.name, p.width
                )));
            }
        }
        model.set_id(rx, 1);
        model.eval();
        let start = model.cycles();
        Ok(UartBridge {
            model,
            rx_pin: rx,
            tx_pin: tx,
            timing,
            send_num: timing.clocks as u64,
            send_den: timing.bits as u64,
            send_frac: 0,
            idle_bits: 0,
            queue: VecDeque::new(),
            frame: 0,
            frame_bits: 0,
            bit_left: 0,
            state: RxState::Idle,
            received: VecDeque::new(),
            framing_errors: 0,
            bytes_sent: 0,
            bytes_received: 0,
            last_activity: start,
            busy_pin: None,
            busy_cycles: 0,
        })
    }

    /// Extra idle (stop-level) bits after each sent byte; 0 sends back to back,
    /// as the FTDI bridge does.
    pub fn set_idle_bits(&mut self, bits: u32) {
        self.idle_bits = bits;
    }

    /// The model, to read or drive other ports between steps.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model, mutably. Clock it only through the bridge, or the UART timing slips.
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// Gives the model back.
    pub fn into_model(self) -> Model {
        self.model
    }

    /// The bit timing.
    pub fn timing(&self) -> BitTiming {
        self.timing
    }

    /// Sends at a rate off by `ppm` parts per million (positive: faster, shorter
    /// bits); 0 sends at the exact rate. Receiving stays at the exact rate.
    pub fn set_send_rate_ppm(&mut self, ppm: i32) {
        let (c, b) = (self.timing.clocks as u64, self.timing.bits as u64);
        self.send_num = c * 1_000_000;
        self.send_den = (b as i64 * (1_000_000 + ppm as i64)).max(1) as u64;
        self.send_frac = 0;
    }

    /// Cycles of the next bit sent.
    fn next_bit(&mut self) -> u64 {
        let total = self.send_frac + self.send_num;
        self.send_frac = total % self.send_den;
        total / self.send_den
    }

    /// Cycle, counted from a start bit seen at cycle 0, of the sample of bit `k`: the
    /// first at or after its middle.
    fn sample_at(&self, k: u64) -> u64 {
        let (c, b) = (self.timing.clocks as u64, self.timing.bits as u64);
        ((2 * k + 1) * c).div_ceil(2 * b)
    }

    /// Queues bytes to send to the design's receive pin.
    pub fn send(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes.iter().copied());
    }

    /// Bytes queued or in flight towards the design.
    pub fn pending_send(&self) -> usize {
        self.queue.len() + usize::from(self.frame_bits > 0)
    }

    /// Takes the bytes decoded from the design's transmit pin so far.
    pub fn take_received(&mut self) -> Vec<u8> {
        self.received.drain(..).collect()
    }

    /// Number of decoded bytes not yet taken.
    pub fn received_len(&self) -> usize {
        self.received.len()
    }

    /// Frames whose stop bit read low (their byte is dropped).
    pub fn framing_errors(&self) -> u64 {
        self.framing_errors
    }

    /// Counts busy cycles from now on: cycles in which a byte moves either way on
    /// the UART or bit `bit` of the design output `pin` is 1 (a busy light), so
    /// that the time a design spends waiting for its host can be told from its
    /// own ([`UartBridge::busy_cycles`]).
    pub fn watch_busy(&mut self, pin: &str, bit: u32) -> Result<()> {
        let id = self.model.output(pin)?;
        let width = self.model.port_info(id).width;
        if bit >= width.min(64) {
            return Err(Error::Uart(format!(
                "busy bit {bit} is outside `{pin}`, which is {width} bits wide"
            )));
        }
        self.busy_pin = Some((id, 1u64 << bit));
        Ok(())
    }

    /// Cycles counted busy since [`UartBridge::watch_busy`] (0 without it).
    pub fn busy_cycles(&self) -> u64 {
        self.busy_cycles
    }

    /// Bytes fully sent and fully received since the bridge was made.
    pub fn totals(&self) -> (u64, u64) {
        (self.bytes_sent, self.bytes_received)
    }

    /// Neither sending nor in the middle of receiving a frame.
    pub fn is_idle(&self) -> bool {
        self.pending_send() == 0 && matches!(self.state, RxState::Idle)
    }

    /// Cycles since the bridge last sent or decoded a bit edge of a frame.
    pub fn quiet_cycles(&self) -> u64 {
        self.model.cycles().saturating_sub(self.last_activity)
    }

    /// One clock cycle; returns a byte when one finished arriving in it.
    pub fn step(&mut self) -> Result<Option<u8>> {
        let before = self.received.len();
        self.run(1)?;
        Ok(if self.received.len() > before {
            self.received.pop_back()
        } else {
            None
        })
    }

    /// Runs `cycles` clock cycles, sending queued bytes and decoding received ones.
    pub fn run(&mut self, cycles: u64) -> Result<()> {
        let end = self.model.cycles() + cycles;
        while self.model.cycles() < end {
            if self.frame_bits == 0 {
                if let Some(b) = self.queue.pop_front() {
                    // start bit 0, data LSB first, stop bit 1, then idle bits (1).
                    self.frame =
                        ((b as u32) << 1) | (1 << 9) | (((1u32 << self.idle_bits) - 1) << 10);
                    self.frame_bits = 10 + self.idle_bits;
                    self.bit_left = self.next_bit();
                    self.drive_bit();
                }
            }
            let now = self.model.cycles();
            let mut span = end - now;
            if self.frame_bits > 0 {
                span = span.min(self.bit_left);
            }
            match self.state {
                RxState::Idle => {
                    let done = match self.busy_pin {
                        // Only the busy light can tell work from waiting here.
                        Some((pin, mask)) if self.frame_bits == 0 => {
                            let lit = self.model.get_id(pin) & mask;
                            let done = self.model.ticks_while_both(
                                (self.tx_pin, 1),
                                (pin, mask, lit),
                                span,
                            )?;
                            if lit != 0 {
                                self.busy_cycles += done;
                            }
                            done
                        }
                        Some(_) => {
                            let done = self.model.ticks_while(self.tx_pin, 1, span)?;
                            self.busy_cycles += done;
                            done
                        }
                        None => self.model.ticks_while(self.tx_pin, 1, span)?,
                    };
                    self.advance_sender(done);
                    if self.model.get_id(self.tx_pin) == 0 {
                        // Start bit first seen at this cycle: sample mid-bit from here.
                        let c = self.model.cycles();
                        self.state = RxState::Frame {
                            start: c,
                            at: c + self.sample_at(0),
                            bit: 0,
                            shift: 0,
                        };
                        self.last_activity = c;
                    }
                }
                RxState::Frame {
                    start,
                    at,
                    bit,
                    shift,
                } => {
                    let span = span.min(at - now);
                    self.model.ticks(span)?;
                    if self.busy_pin.is_some() {
                        self.busy_cycles += span;
                    }
                    self.advance_sender(span);
                    if self.model.cycles() == at {
                        let level = self.model.get_id(self.tx_pin) as u8 & 1;
                        self.last_activity = at;
                        self.state = match bit {
                            0 if level == 1 => RxState::Idle, // a glitch, not a start bit
                            0..=8 => RxState::Frame {
                                start,
                                at: start + self.sample_at(bit as u64 + 1),
                                bit: bit + 1,
                                shift: if bit == 0 {
                                    0
                                } else {
                                    (shift >> 1) | (level << 7)
                                },
                            },
                            _ => {
                                if level == 1 {
                                    self.received.push_back(shift);
                                    self.bytes_received += 1;
                                } else {
                                    self.framing_errors += 1;
                                }
                                RxState::Idle
                            }
                        };
                    }
                }
            }
        }
        Ok(())
    }

    fn drive_bit(&mut self) {
        let level = (self.frame & 1) as u64;
        self.model.set_id(self.rx_pin, level);
    }

    fn advance_sender(&mut self, cycles: u64) {
        if self.frame_bits == 0 {
            return;
        }
        self.last_activity = self.model.cycles();
        self.bit_left -= cycles;
        if self.bit_left == 0 {
            self.frame >>= 1;
            self.frame_bits -= 1;
            if self.frame_bits == 0 {
                self.bytes_sent += 1;
                self.model.set_id(self.rx_pin, 1);
            } else {
                self.bit_left = self.next_bit();
                self.drive_bit();
            }
        }
    }

    /// Runs until `n` bytes have been received (returning them) or `max_cycles`
    /// pass (an error naming how many arrived).
    pub fn recv_exact(&mut self, n: usize, max_cycles: u64) -> Result<Vec<u8>> {
        let deadline = self.model.cycles() + max_cycles;
        let chunk = self.timing.clocks_for_bits(10);
        while self.received.len() < n {
            let now = self.model.cycles();
            if now >= deadline {
                return Err(Error::Uart(format!(
                    "received {} of {n} bytes within {max_cycles} cycles",
                    self.received.len()
                )));
            }
            self.run(chunk.min(deadline - now))?;
        }
        Ok(self.received.drain(..n).collect())
    }

    /// Runs until everything queued has been sent.
    pub fn flush(&mut self, max_cycles: u64) -> Result<()> {
        let deadline = self.model.cycles() + max_cycles;
        while self.pending_send() > 0 {
            let now = self.model.cycles();
            if now >= deadline {
                return Err(Error::Uart(format!(
                    "{} bytes still unsent after {max_cycles} cycles",
                    self.pending_send()
                )));
            }
            self.run(self.timing.clocks_for_bits(10).min(deadline - now))?;
        }
        Ok(())
    }
}
