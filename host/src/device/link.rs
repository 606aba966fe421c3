//! The transport the host drives: any byte transport, with byte counters for the
//! throughput figures and optional fault injection for robustness tests.

use revspike_proto::protocol::{Transport, SLIP_END, SLIP_ESC};

/// Deliberate damage to the link, to exercise the host's recovery paths against a
/// real device. Counter-based, so a run is reproducible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Flip one bit in every `n`th frame sent (0: never).
    pub corrupt_sent_every: u32,
    /// Flip one bit in the first byte of every `n`th frame received (0: never).
    pub corrupt_received_every: u32,
}

impl Faults {
    pub fn any(&self) -> bool {
        self.corrupt_sent_every > 0 || self.corrupt_received_every > 0
    }
}

/// Counts of what crossed the link and what was damaged on purpose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub corrupted_sent: u64,
    pub corrupted_received: u64,
}

/// A transport with counters and fault injection.
pub struct LinkTransport {
    inner: Box<dyn Transport + Send>,
    faults: Faults,
    sends: u64,
    rx_frames: u64,
    rx_in_frame: bool,
    pub counters: LinkCounters,
}

impl LinkTransport {
    pub fn new(inner: Box<dyn Transport + Send>, faults: Faults) -> Self {
        LinkTransport {
            inner,
            faults,
            sends: 0,
            rx_frames: 0,
            rx_in_frame: false,
            counters: LinkCounters::default(),
        }
    }
}

/// Flips a bit of a byte in the middle of `bytes`, choosing a byte that is neither
/// END nor next to one, so the frame keeps its boundaries and fails its CRC (or its
/// escaping) rather than vanishing.
fn corrupt(bytes: &mut [u8], salt: u64) -> bool {
    let n = bytes.len();
    if n < 3 {
        return false;
    }
    let start = 1 + (salt as usize % (n - 2));
    for k in 0..n - 2 {
        let i = 1 + (start - 1 + k) % (n - 2);
        if bytes[i] != SLIP_END && bytes[i - 1] != SLIP_END && bytes[i + 1] != SLIP_END {
            let flipped = bytes[i] ^ (1 << (salt % 8));
            if flipped != SLIP_END {
                bytes[i] = flipped;
                return true;
            }
        }
    }
    false
}

impl Transport for LinkTransport {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.counters.bytes_sent += bytes.len() as u64;
        let is_frame = bytes.iter().any(|&b| b != SLIP_END);
        if is_frame {
            self.sends += 1;
        }
        let every = self.faults.corrupt_sent_every as u64;
        if is_frame && every > 0 && self.sends.is_multiple_of(every) {
            let mut damaged = bytes.to_vec();
            if corrupt(&mut damaged, self.sends.wrapping_mul(7919)) {
                self.counters.corrupted_sent += 1;
            }
            return self.inner.send(&damaged);
        }
        self.inner.send(bytes)
    }

    fn recv(&mut self) -> Result<Vec<u8>, String> {
        let mut bytes = self.inner.recv()?;
        self.counters.bytes_received += bytes.len() as u64;
        let every = self.faults.corrupt_received_every as u64;
        for b in bytes.iter_mut() {
            // Frames are counted as they start (the first byte after END), so the
            // damage is per frame whatever the chunking of the port.
            if *b == SLIP_END {
                self.rx_in_frame = false;
                continue;
            }
            if !self.rx_in_frame {
                self.rx_in_frame = true;
                self.rx_frames += 1;
                if every > 0 && self.rx_frames.is_multiple_of(every) {
                    let mut flipped = *b ^ 0x01;
                    if flipped == SLIP_END || flipped == SLIP_ESC {
                        flipped = *b ^ 0x02;
                    }
                    *b = flipped;
                    self.counters.corrupted_received += 1;
                }
            }
        }
        Ok(bytes)
    }

    fn pause(&mut self, micros: u64) -> Result<(), String> {
        self.inner.pause(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revspike_proto::protocol::{encode_frame, FrameDecoder, FrameError};

    #[test]
    fn a_corrupted_frame_keeps_its_boundaries_and_fails_its_check() {
        for salt in 0..64u64 {
            let mut wire = encode_frame(0x06, 3, &[1, 2, 3, 0xC0, 0xDB, 9, 9, 9]);
            assert!(corrupt(&mut wire, salt));
            let mut d = FrameDecoder::new();
            d.push(&wire);
            match d.next_frame() {
                Some(Err(FrameError::BadCrc { .. }))
                | Some(Err(FrameError::BadEscape))
                | Some(Err(FrameError::Length { .. })) => {}
                other => panic!("salt {salt}: damaged frame decoded as {other:?}"),
            }
        }
    }

    struct Echo(Vec<u8>);
    impl Transport for Echo {
        fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
            self.0.extend_from_slice(bytes);
            Ok(())
        }
        fn recv(&mut self) -> Result<Vec<u8>, String> {
            Ok(std::mem::take(&mut self.0))
        }
    }

    /// Hands back what was sent one byte per `recv`, like a slow port.
    struct Trickle(std::collections::VecDeque<u8>);
    impl Transport for Trickle {
        fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
            self.0.extend(bytes);
            Ok(())
        }
        fn recv(&mut self) -> Result<Vec<u8>, String> {
            Ok(self.0.pop_front().into_iter().collect())
        }
    }

    #[test]
    fn received_damage_is_per_frame_whatever_the_chunking() {
        let mut t = LinkTransport::new(
            Box::new(Trickle(Default::default())),
            Faults {
                corrupt_sent_every: 0,
                corrupt_received_every: 3,
            },
        );
        for seq in 0..9u8 {
            t.send(&encode_frame(0x86, seq, &[0xC1, 1, 2, 3])).unwrap();
        }
        let mut d = FrameDecoder::new();
        loop {
            let b = t.recv().unwrap();
            if b.is_empty() {
                break;
            }
            d.push(&b);
        }
        let results: Vec<bool> = d.map(|r| r.is_ok()).collect();
        assert_eq!(
            results,
            vec![true, true, false, true, true, false, true, true, false]
        );
        assert_eq!(t.counters.corrupted_received, 3);
    }

    #[test]
    fn counts_bytes_and_corrupts_every_nth_frame_only() {
        let mut t = LinkTransport::new(
            Box::new(Echo(Vec::new())),
            Faults {
                corrupt_sent_every: 2,
                corrupt_received_every: 0,
            },
        );
        let f = encode_frame(0x01, 0, &[5; 10]);
        for _ in 0..4 {
            t.send(&f).unwrap();
            t.send(&[SLIP_END; 3]).unwrap();
        }
        let echoed = t.recv().unwrap();
        assert_eq!(t.counters.bytes_sent, 4 * (f.len() as u64 + 3));
        assert_eq!(t.counters.bytes_received, echoed.len() as u64);
        assert_eq!(t.counters.corrupted_sent, 2);
        let mut d = FrameDecoder::new();
        d.push(&echoed);
        let ok = d.by_ref().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 2);
    }
}
