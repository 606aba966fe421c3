//! Place and route of one netlist at several nextpnr seeds.
//!
//! Near a device's capacity the clock a design reaches moves with the placer's seed
//! by several percent, more than most single changes move it. A change is judged by
//! the spread over a few seeds, and a bitstream is built at a seed that meets the
//! clock. `revspike bitstream --seeds 1-6` runs the flow once per seed and prints this
//! module's table.

use crate::flow::BitstreamReport;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The most seeds one sweep runs (each is a full place and route).
pub const MAX_SEEDS: usize = 64;

/// Parses a seed list: `4`, `1-6`, `1,3,8-10`. Seeds are kept in the order given,
/// without repeats.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let too_many = || {
        format!("seed list `{text}`: more than {MAX_SEEDS} seeds (each is a full place and route)")
    };
    let mut seeds: Vec<u64> = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let num = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("seed list `{text}`: `{s}` is not a seed number"))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if hi < lo {
            return Err(format!("seed list `{text}`: range `{part}` runs backwards"));
        }
        // Checked before the range is walked, so a huge range costs nothing.
        if hi - lo >= MAX_SEEDS as u64 {
            return Err(too_many());
        }
        for s in lo..=hi {
            if !seeds.contains(&s) {
                seeds.push(s);
            }
        }
        if seeds.len() > MAX_SEEDS {
            return Err(too_many());
        }
    }
    Ok(seeds)
}

/// One seed's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedRow {
    pub seed: u64,
    /// Lowest clock reached, MHz.
    pub fmax_mhz: f64,
    pub met: bool,
    /// Inputs that miss the clock, of all timed ones (the routed endpoint pass).
    pub failing: Option<(usize, usize)>,
    /// The least-slack group, `from -> to (input)`.
    pub worst_group: Option<String>,
    /// The directory with that seed's report (and bitstream, if it met the clock).
    pub dir: PathBuf,
}

impl SeedRow {
    /// The row of a finished flow run (met or not) written to `dir`.
    pub fn of(report: &BitstreamReport, dir: PathBuf) -> SeedRow {
        SeedRow {
            seed: report.seed,
            fmax_mhz: report.min_fmax_mhz().unwrap_or(f64::INFINITY),
            met: report.timing_met,
            failing: report.endpoints.as_ref().map(|e| (e.failing, e.endpoints)),
            worst_group: report
                .endpoints
                .as_ref()
                .and_then(|e| e.groups.first())
                .map(|g| format!("{} -> {} ({})", g.from, g.to, g.pin)),
            dir,
        }
    }

    /// One line for a person, as each seed finishes.
    pub fn line(&self) -> String {
        let miss = match self.failing {
            Some((f, n)) => format!(", {f} of {n} inputs miss"),
            None => String::new(),
        };
        let worst = match &self.worst_group {
            Some(g) => format!("; least slack {g}"),
            None => String::new(),
        };
        format!(
            "seed {}: {:.1} MHz, {}{miss}{worst}",
            self.seed,
            self.fmax_mhz,
            if self.met { "met" } else { "FAILED" }
        )
    }
}

/// A sweep's rows, in the order run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedSweep {
    pub target_mhz: f64,
    pub rows: Vec<SeedRow>,
}

impl SeedSweep {
    /// The seed with the highest fmax (the first of equals).
    pub fn best(&self) -> Option<&SeedRow> {
        self.rows
            .iter()
            .fold(None, |b: Option<&SeedRow>, r| match b {
                Some(b) if b.fmax_mhz >= r.fmax_mhz => Some(b),
                _ => Some(r),
            })
    }

    pub fn met(&self) -> usize {
        self.rows.iter().filter(|r| r.met).count()
    }

    /// The table and the verdict.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>6} {:>9} {:>7} {:>11}",
            "seed", "fmax", "timing", "inputs miss"
        );
        for r in &self.rows {
            let miss = r
                .failing
                .map_or("-".to_string(), |(f, n)| format!("{f} / {n}"));
            let _ = writeln!(
                s,
                "{:>6} {:>5.1} MHz {:>7} {:>11}",
                r.seed,
                r.fmax_mhz,
                if r.met { "met" } else { "FAILED" },
                miss
            );
        }
        let list: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{:.1}", r.fmax_mhz))
            .collect();
        let _ = writeln!(
            s,
            "{} of {} seeds meet {} MHz ({} MHz)",
            self.met(),
            self.rows.len(),
            self.target_mhz,
            list.join(", ")
        );
        if let Some(b) = self.best() {
            let _ = writeln!(
                s,
                "best: seed {} at {:.1} MHz ({})",
                b.seed,
                b.fmax_mhz,
                b.dir.display()
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists_parse_or_say_what_is_wrong() {
        assert_eq!(parse_seeds("4"), Ok(vec![4]));
        assert_eq!(parse_seeds("1-6"), Ok(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(parse_seeds("8, 1-3,2"), Ok(vec![8, 1, 2, 3]));
        assert!(parse_seeds("6-1").unwrap_err().contains("runs backwards"));
        assert!(parse_seeds("1-x")
            .unwrap_err()
            .contains("`x` is not a seed number"));
        assert!(parse_seeds("")
            .unwrap_err()
            .contains("is not a seed number"));
        assert!(parse_seeds("0-1000000000000")
            .unwrap_err()
            .contains("more than 64"));
        let many: Vec<String> = (0..65).map(|s| s.to_string()).collect();
        assert!(parse_seeds(&many.join(","))
            .unwrap_err()
            .contains("more than 64"));
    }

    fn row(seed: u64, fmax: f64) -> SeedRow {
        SeedRow {
            seed,
            fmax_mhz: fmax,
            met: fmax >= 100.0,
            failing: Some((usize::from(fmax < 100.0) * 7, 9000)),
            worst_group: Some("a -> b (enable)".into()),
            dir: PathBuf::from(format!("/out/seed-{seed}")),
        }
    }

    #[test]
    fn the_best_seed_and_the_count_that_meet() {
        let sweep = SeedSweep {
            target_mhz: 100.0,
            rows: vec![row(1, 98.2), row(2, 104.4), row(3, 104.4), row(4, 100.3)],
        };
        assert_eq!(sweep.best().map(|r| r.seed), Some(2));
        assert_eq!(sweep.met(), 3);
        let s = sweep.summary();
        assert!(
            s.contains("3 of 4 seeds meet 100 MHz (98.2, 104.4, 104.4, 100.3 MHz)"),
            "{s}"
        );
        assert!(s.contains("best: seed 2 at 104.4 MHz (/out/seed-2)"), "{s}");
        assert!(s.contains("FAILED"), "{s}");
        assert_eq!(
            row(1, 98.2).line(),
            "seed 1: 98.2 MHz, FAILED, 7 of 9000 inputs miss; least slack a -> b (enable)"
        );
        assert_eq!(SeedSweep::default().best(), None);
    }
}
