//! UART bit timing as an exact fraction of the clock.
//!
//! A bit lasts `clocks / bits` clock cycles (12 Mbaud at 100 MHz: 25 / 3 = 8.33). The
//! hardware transmitter advances a free-running accumulator by `bits` every clock and
//! starts a new bit each time it passes `clocks`, so the average rate is exact and
//! every bit edge lies within one clock of its ideal time; the receiver does the same
//! from each start bit, sampling within one clock of mid-bit (`hdl/src/uart_rx.rs`,
//! `docs/protocol.md`, bit timing). A rate whose exact fraction does not fit the
//! accumulators is approximated by the closest fraction that does, and refused when
//! that is more than [`MAX_RATE_ERROR_PPM`] off; every named build is checked when
//! this crate compiles.

use crate::build::BUILDS;

/// Largest numerator (`clocks`) the hardware accumulators hold.
pub const MAX_CLOCKS: u32 = 1023;
/// Fewest clocks per bit the receiver samples reliably at (mid-bit within one clock).
pub const MIN_CLOCKS_PER_BIT: u32 = 4;
/// Largest rate error a build may have: 0.5 %.
pub const MAX_RATE_ERROR_PPM: u64 = 5_000;

/// The bit period: `bits` bits take exactly `clocks` clock cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BitTiming {
    pub clocks: u32,
    pub bits: u32,
}

/// Why a clock and baud rate pair has no usable bit timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingError {
    /// A zero clock or baud rate.
    Zero,
    /// Fewer than [`MIN_CLOCKS_PER_BIT`] clocks per bit.
    TooFast,
    /// No fraction with at most [`MAX_CLOCKS`] clocks comes within 0.5 % of the rate
    /// (the baud rate is too slow for the accumulators).
    TooSlow,
}

impl TimingError {
    pub const fn message(self) -> &'static str {
        match self {
            TimingError::Zero => "clock and baud rate must be nonzero",
            TimingError::TooFast => "fewer than 4 clocks per bit; the UART cannot sample mid-bit",
            TimingError::TooSlow => {
                "no bit period of at most 1023 clocks is within 0.5 % of the baud rate"
            }
        }
    }
}

impl std::fmt::Display for TimingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TimingError {}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl BitTiming {
    /// The bit timing of `baud` at `clock_hz`: the exact fraction when it fits the
    /// accumulators, else the closest one that does, within [`MAX_RATE_ERROR_PPM`].
    pub const fn from_rates(clock_hz: u32, baud: u32) -> Result<BitTiming, TimingError> {
        if clock_hz == 0 || baud == 0 {
            return Err(TimingError::Zero);
        }
        let (c, b) = (clock_hz as u64, baud as u64);
        if c < MIN_CLOCKS_PER_BIT as u64 * b {
            return Err(TimingError::TooFast);
        }
        let g = gcd(c, b);
        if c / g <= MAX_CLOCKS as u64 {
            return Ok(BitTiming {
                clocks: (c / g) as u32,
                bits: (b / g) as u32,
            });
        }
        // The closest fraction clocks/bits with clocks <= MAX_CLOCKS.
        let mut best = BitTiming { clocks: 0, bits: 0 };
        let mut best_err = u64::MAX;
        let mut bits = 1u64;
        loop {
            let clocks = (c * bits + b / 2) / b;
            if clocks > MAX_CLOCKS as u64 {
                break;
            }
            let t = BitTiming {
                clocks: clocks as u32,
                bits: bits as u32,
            };
            let err = t.error_ppm(clock_hz, baud);
            if err < best_err {
                best_err = err;
                best = t;
            }
            bits += 1;
        }
        if best_err > MAX_RATE_ERROR_PPM {
            return Err(TimingError::TooSlow);
        }
        Ok(best)
    }

    /// Relative error of the rate this timing runs at against `baud`, in parts per
    /// million (0 when exact).
    pub const fn error_ppm(&self, clock_hz: u32, baud: u32) -> u64 {
        // Actual rate clock * bits / clocks against baud.
        let actual = clock_hz as u128 * self.bits as u128;
        let want = baud as u128 * self.clocks as u128;
        let diff = actual.abs_diff(want);
        if want == 0 {
            return u64::MAX;
        }
        (diff * 1_000_000).div_ceil(want) as u64
    }

    /// Clocks per bit, for figures.
    pub fn clocks_per_bit(&self) -> f64 {
        self.clocks as f64 / self.bits as f64
    }

    /// Clock cycles `n` bits take, rounded up.
    pub const fn clocks_for_bits(&self, n: u64) -> u64 {
        (n * self.clocks as u64).div_ceil(self.bits as u64)
    }

    /// Clock cycle (from the first) at which bit edge `k` of a free-running bit clock
    /// falls: the first cycle at which the accumulator has passed `k` bit periods.
    pub const fn edge(&self, k: u64) -> u64 {
        self.clocks_for_bits(k)
    }

    /// Whole bytes (10 bits each, 8N1) that fit in `cycles` clocks, rounded up.
    pub const fn bytes_in_cycles(&self, cycles: u64) -> u64 {
        (cycles * self.bits as u64).div_ceil(10 * self.clocks as u64)
    }
}

// Every named build has a bit timing within 0.5 % (exact for all of today's builds).
const _: () = {
    let mut i = 0;
    while i < BUILDS.len() {
        let b = BUILDS[i];
        match BitTiming::from_rates(b.clock_hz, b.baud) {
            Ok(t) => assert!(t.error_ppm(b.clock_hz, b.baud) <= MAX_RATE_ERROR_PPM),
            Err(_) => panic!("a named build has no UART bit timing within 0.5 %"),
        }
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_fractions_and_approximations() {
        let t = BitTiming::from_rates(100_000_000, 12_000_000).unwrap();
        assert_eq!((t.clocks, t.bits), (25, 3));
        assert_eq!(t.error_ppm(100_000_000, 12_000_000), 0);
        let t = BitTiming::from_rates(100_000_000, 4_000_000).unwrap();
        assert_eq!((t.clocks, t.bits), (25, 1));
        // 115200 at 100 MHz is 15625/18 clocks: too big, approximated within 0.5 %.
        let t = BitTiming::from_rates(100_000_000, 115_200).unwrap();
        assert!(t.clocks <= MAX_CLOCKS);
        assert!(t.error_ppm(100_000_000, 115_200) < 100, "{t:?}");
        assert_eq!(
            BitTiming::from_rates(100_000_000, 30_000_000),
            Err(TimingError::TooFast)
        );
        assert_eq!(
            BitTiming::from_rates(100_000_000, 9_600),
            Err(TimingError::TooSlow)
        );
        assert_eq!(BitTiming::from_rates(0, 1), Err(TimingError::Zero));
    }

    #[test]
    fn edges_are_within_one_clock_of_ideal() {
        let t = BitTiming::from_rates(100_000_000, 12_000_000).unwrap();
        for k in 0..1000u64 {
            let ideal = k as f64 * 25.0 / 3.0;
            let e = t.edge(k) as f64;
            assert!(e >= ideal && e - ideal < 1.0, "edge {k}: {e} vs {ideal}");
        }
        assert_eq!(t.edge(3), 25);
        assert_eq!(t.bytes_in_cycles(250), 3);
    }
}
