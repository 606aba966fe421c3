//! Bitstream flow for the Alchitry Cu (iCE40-HX8K, CB132).
//!
//! A rust-hdl top level goes through: Verilog + PCF (rust-hdl) -> synthesis
//! (`yosys synth_ice40`) -> place and route (`nextpnr-ice40`) -> timing and
//! utilization check -> bitstream (`icepack`). Every step leaves its inputs and
//! logs under `<out>/build/`, and the flow writes a machine-readable
//! `report.json` (schema [`REPORT_SCHEMA`]) plus a human `report.txt` next to
//! the bitstream `<out>/revspike-<build>.bin`.
//!
//! A design that infers a latch, fails yosys' `check -assert`, does not fit,
//! or misses its clock target is an error, never a bitstream: a `.bin` that
//! is in the output directory is one that passed every check.
//!
//! [`synth_check`] / [`synth_check_block`] run the synthesis half only, for the
//! "synthesis sanity check" of hardware unit tests.

use rust_hdl::core::prelude::{Atom, AtomKind, Constraint, Probe};
use rust_hdl::fpga::toolchains::icestorm::generate_pcf;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub use rust_hdl::core::prelude::Block;

/// Schema tag written into every `report.json`.
pub const REPORT_SCHEMA: &str = "revspike-bitstream-report/1";

/// Environment variables that override where the tools are found.
pub const ENV_YOSYS: &str = "REVSPIKE_YOSYS";
/// See [`ENV_YOSYS`].
pub const ENV_NEXTPNR: &str = "REVSPIKE_NEXTPNR";
/// See [`ENV_YOSYS`].
pub const ENV_ICEPACK: &str = "REVSPIKE_ICEPACK";

/// Everything that can go wrong in the flow, each with a one-line message
/// naming what was wrong and where to look.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{tool} not found: run scripts/setup.sh (or set {env} to its path)")]
    ToolMissing { tool: String, env: &'static str },
    #[error("{tool} could not be started: {source}")]
    ToolStart {
        tool: String,
        #[source]
        source: io::Error,
    },
    #[error("{tool} failed ({status}): {summary} (log: {})", log.display())]
    ToolFailed {
        tool: String,
        status: String,
        summary: String,
        log: PathBuf,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid flow option: {0}")]
    InvalidOption(String),
    #[error("design check failed: {0}")]
    DesignCheck(String),
    #[error("pin constraints: {0}")]
    Pins(String),
    #[error("latch inferred for {} (a combinational process leaves it unassigned on some path; log: {})", signals.join(", "), log.display())]
    Latch { signals: Vec<String>, log: PathBuf },
    #[error("synthesis check failed: {} (log: {})", problems.join("; "), log.display())]
    SynthCheck { problems: Vec<String>, log: PathBuf },
    #[error("design does not fit the {device}: {} (log: {})", overflows.join(", "), log.display())]
    DoesNotFit {
        device: String,
        overflows: Vec<String>,
        log: PathBuf,
    },
    #[error("timing failure: {} (report: {})", failures.join("; "), report.display())]
    TimingFailure {
        failures: Vec<String>,
        report: PathBuf,
    },
    #[error("bad {what}: {message}")]
    BadReport { what: String, message: String },
}

/// Result of the flow functions.
pub type FlowResult<T> = Result<T, FlowError>;

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FlowError + 'a {
    move |source| FlowError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// iCE40 parts nextpnr-ice40 knows (`--hx8k` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ice40Device {
    Lp384,
    Lp1k,
    Lp4k,
    Lp8k,
    Hx1k,
    Hx4k,
    Hx8k,
    Up5k,
    U4k,
}

/// nextpnr's placement algorithm (`--placer`). Each one reaches a different spread of
/// fmax over seeds on the same netlist, so the placer is part of what a report names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placer {
    /// Analytic placement with simulated-annealing refinement (nextpnr's default).
    Heap,
    /// Simulated annealing only.
    Sa,
    /// Electrostatic placement (nextpnr 0.5 and later).
    Static,
}

impl Placer {
    pub const ALL: [Placer; 3] = [Placer::Heap, Placer::Sa, Placer::Static];

    /// The name nextpnr's `--placer` takes.
    pub fn name(self) -> &'static str {
        match self {
            Placer::Heap => "heap",
            Placer::Sa => "sa",
            Placer::Static => "static",
        }
    }
}

impl fmt::Display for Placer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Placer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Placer::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Placer::ALL.iter().map(|p| p.name()).collect();
                format!("unknown placer `{s}`; known: {}", known.join(", "))
            })
    }
}

impl Ice40Device {
    const ALL: [Ice40Device; 9] = [
        Ice40Device::Lp384,
        Ice40Device::Lp1k,
        Ice40Device::Lp4k,
        Ice40Device::Lp8k,
        Ice40Device::Hx1k,
        Ice40Device::Hx4k,
        Ice40Device::Hx8k,
        Ice40Device::Up5k,
        Ice40Device::U4k,
    ];

    /// Lower-case name, as in the nextpnr flag (`hx8k`).
    pub fn name(self) -> &'static str {
        match self {
            Ice40Device::Lp384 => "lp384",
            Ice40Device::Lp1k => "lp1k",
            Ice40Device::Lp4k => "lp4k",
            Ice40Device::Lp8k => "lp8k",
            Ice40Device::Hx1k => "hx1k",
            Ice40Device::Hx4k => "hx4k",
            Ice40Device::Hx8k => "hx8k",
            Ice40Device::Up5k => "up5k",
            Ice40Device::U4k => "u4k",
        }
    }
}

impl Ice40Device {
    /// Logic cells (LUT4 + flip-flop + carry) the part has.
    pub fn logic_cells(self) -> usize {
        match self {
            Ice40Device::Lp384 => 384,
            Ice40Device::Lp1k | Ice40Device::Hx1k => 1_280,
            Ice40Device::Lp4k | Ice40Device::Hx4k | Ice40Device::U4k => 3_520,
            Ice40Device::Lp8k | Ice40Device::Hx8k => 7_680,
            Ice40Device::Up5k => 5_280,
        }
    }

    /// The part a board carries (a board naming a part nextpnr-ice40 does not know is
    /// a bug in its description, which a test of every board catches).
    pub fn of_board(board: &revspike_proto::board::Board) -> Ice40Device {
        board
            .device
            .parse()
            .unwrap_or_else(|e| panic!("board {}: {e}", board.name))
    }
}

impl fmt::Display for Ice40Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "iCE40-{}", self.name().to_uppercase())
    }
}

impl FromStr for Ice40Device {
    type Err = FlowError;
    fn from_str(s: &str) -> FlowResult<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let lower = lower.strip_prefix("ice40-").unwrap_or(&lower);
        Ice40Device::ALL
            .into_iter()
            .find(|d| d.name() == lower)
            .ok_or_else(|| {
                let known: Vec<&str> = Ice40Device::ALL.iter().map(|d| d.name()).collect();
                FlowError::InvalidOption(format!(
                    "unknown iCE40 device `{s}` (known: {})",
                    known.join(", ")
                ))
            })
    }
}

/// Where the external tools are. Defaults to the names on `PATH`, overridden
/// by [`ENV_YOSYS`], [`ENV_NEXTPNR`], [`ENV_ICEPACK`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub yosys: PathBuf,
    pub nextpnr: PathBuf,
    pub icepack: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        let pick = |env: &str, name: &str| {
            std::env::var_os(env)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(name))
        };
        Tools {
            yosys: pick(ENV_YOSYS, "yosys"),
            nextpnr: pick(ENV_NEXTPNR, "nextpnr-ice40"),
            icepack: pick(ENV_ICEPACK, "icepack"),
        }
    }
}

/// Options of [`build_bitstream`].
#[derive(Debug, Clone)]
pub struct FlowOptions {
    /// Build name (`cu`): names the bitstream `revspike-<build>.bin`.
    pub build: String,
    pub device: Ice40Device,
    pub package: String,
    /// Target clock frequency in MHz; every clock must reach it.
    pub freq_mhz: f64,
    /// nextpnr placer seed.
    pub seed: u64,
    /// nextpnr placer; `None` leaves nextpnr's default and passes no `--placer`.
    pub placer: Option<Placer>,
    pub tools: Tools,
    /// Print `[n/4] ...` progress lines to stderr.
    pub progress: bool,
    /// The command line that started the flow, recorded in the report.
    pub command_line: Option<String>,
}

impl Default for FlowOptions {
    fn default() -> Self {
        let board = &revspike_proto::board::ALCHITRY_CU;
        FlowOptions {
            build: "cu".to_string(),
            device: Ice40Device::of_board(board),
            package: board.package.to_string(),
            freq_mhz: 100.0,
            seed: 1,
            placer: None,
            tools: Tools::default(),
            progress: true,
            command_line: None,
        }
    }
}

impl FlowOptions {
    fn validate(&self) -> FlowResult<()> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name_ok(&self.build) {
            return Err(FlowError::InvalidOption(format!(
                "build name `{}` must be 1-64 characters of [A-Za-z0-9_-]",
                self.build
            )));
        }
        if !name_ok(&self.package) {
            return Err(FlowError::InvalidOption(format!(
                "package `{}` must be 1-64 characters of [A-Za-z0-9_-]",
                self.package
            )));
        }
        if !(self.freq_mhz.is_finite() && self.freq_mhz > 0.0 && self.freq_mhz <= 10_000.0) {
            return Err(FlowError::InvalidOption(format!(
                "target frequency {} MHz must be in (0, 10000]",
                self.freq_mhz
            )));
        }
        Ok(())
    }

    /// File name of the bitstream: `revspike-<build>.bin`.
    pub fn bitstream_name(&self) -> String {
        format!("revspike-{}.bin", self.build)
    }
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/// Used / available count of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub used: u64,
    pub available: u64,
}

impl Usage {
    /// Percentage used (0 when nothing is available).
    pub fn percent(&self) -> f64 {
        if self.available == 0 {
            0.0
        } else {
            100.0 * self.used as f64 / self.available as f64
        }
    }
}

/// Achieved vs. constrained frequency of one clock net, as nextpnr reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fmax {
    pub achieved: f64,
    pub constraint: f64,
}

/// One critical path of the nextpnr report, summarized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticalPath {
    pub from: String,
    pub to: String,
    /// Sum of the cell and routing delays along the path.
    pub delay_ns: f64,
    /// Number of segments (logic and routing) along the path.
    pub segments: usize,
}

/// The parts of nextpnr's `--report` JSON the flow uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NextpnrReport {
    /// Per cell type (`ICESTORM_LC`, `ICESTORM_RAM`, `SB_IO`, `SB_GB`, ...).
    pub utilization: BTreeMap<String, Usage>,
    /// Per clock net (`clock$SB_IO_IN_$glb_clk`), in MHz.
    pub fmax: BTreeMap<String, Fmax>,
    pub critical_paths: Vec<CriticalPath>,
}

/// Timing of one clock against its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockTiming {
    /// Readable clock name (`clock`), the net name with nextpnr's buffer suffixes removed.
    pub name: String,
    /// The clock net as nextpnr names it.
    pub net: String,
    pub target_mhz: f64,
    pub achieved_mhz: f64,
    /// Period slack in ns: target period minus achieved period; negative misses timing.
    pub slack_ns: f64,
    pub met: bool,
}

impl NextpnrReport {
    /// Usage of a cell type, zero of zero when the report does not list it.
    pub fn usage(&self, cell_type: &str) -> Usage {
        self.utilization.get(cell_type).copied().unwrap_or(Usage {
            used: 0,
            available: 0,
        })
    }

    /// Every clock with its slack against the constraint nextpnr used.
    pub fn clocks(&self) -> Vec<ClockTiming> {
        self.fmax
            .iter()
            .map(|(net, f)| ClockTiming {
                name: clock_display_name(net),
                net: net.clone(),
                target_mhz: f.constraint,
                achieved_mhz: f.achieved,
                slack_ns: 1000.0 / f.constraint - 1000.0 / f.achieved,
                met: f.achieved >= f.constraint,
            })
            .collect()
    }

    /// "clock X reached 87.3 MHz < 100 MHz" for every clock that misses its target.
    pub fn timing_failures(&self) -> Vec<String> {
        self.clocks()
            .into_iter()
            .filter(|c| !c.met)
            .map(|c| {
                format!(
                    "clock {} reached {:.1} MHz < {} MHz",
                    c.name,
                    c.achieved_mhz,
                    fmt_mhz(c.target_mhz)
                )
            })
            .collect()
    }

    /// "ICESTORM_LC 9004/7680" for every cell type used beyond what the device has.
    pub fn overflows(&self) -> Vec<String> {
        self.utilization
            .iter()
            .filter(|(_, u)| u.used > u.available)
            .map(|(k, u)| format!("{k} {}/{}", u.used, u.available))
            .collect()
    }
}

fn fmt_mhz(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// `clock$SB_IO_IN_$glb_clk` -> `clock`: drop the suffixes nextpnr adds for the
/// IO buffer and global buffer, keep rust-hdl's `$` hierarchy otherwise.
pub fn clock_display_name(net: &str) -> String {
    let mut name = net;
    loop {
        let before = name;
        for suffix in ["$glb_clk", "$SB_IO_IN_", "$SB_IO_IN", "_$glb_clk"] {
            if let Some(s) = name.strip_suffix(suffix) {
                name = s;
            }
        }
        if name == before {
            break;
        }
    }
    if name.is_empty() {
        net.to_string()
    } else {
        name.to_string()
    }
}

/// Parses nextpnr's `--report` JSON (utilization, fmax, critical paths).
pub fn parse_nextpnr_report(json: &str) -> FlowResult<NextpnrReport> {
    let bad = |message: String| FlowError::BadReport {
        what: "nextpnr report".to_string(),
        message,
    };
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("top level is not an object".into()))?;

    let util_obj = obj
        .get("utilization")
        .and_then(|u| u.as_object())
        .ok_or_else(|| bad("no `utilization` object".into()))?;
    let mut utilization = BTreeMap::new();
    for (cell, u) in util_obj {
        let field = |f: &str| {
            u.get(f)
                .and_then(|x| x.as_u64())
                .ok_or_else(|| bad(format!("utilization.{cell}.{f} is not a count")))
        };
        utilization.insert(
            cell.clone(),
            Usage {
                used: field("used")?,
                available: field("available")?,
            },
        );
    }

    let mut fmax = BTreeMap::new();
    if let Some(f) = obj.get("fmax") {
        let f = f
            .as_object()
            .ok_or_else(|| bad("`fmax` is not an object".into()))?;
        for (net, c) in f {
            let field = |k: &str| {
                c.get(k)
                    .and_then(|x| x.as_f64())
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .ok_or_else(|| bad(format!("fmax.{net}.{k} is not a positive number")))
            };
            fmax.insert(
                net.clone(),
                Fmax {
                    achieved: field("achieved")?,
                    constraint: field("constraint")?,
                },
            );
        }
    }

    let mut critical_paths = Vec::new();
    if let Some(paths) = obj.get("critical_paths").and_then(|p| p.as_array()) {
        for p in paths {
            let s = |k: &str| p.get(k).and_then(|x| x.as_str()).unwrap_or("?").to_string();
            let segs = p.get("path").and_then(|x| x.as_array());
            let delay_ns = segs
                .map(|s| {
                    s.iter()
                        .filter_map(|seg| seg.get("delay").and_then(|d| d.as_f64()))
                        .sum()
                })
                .unwrap_or(0.0);
            critical_paths.push(CriticalPath {
                from: clock_display_name(&s("from")),
                to: clock_display_name(&s("to")),
                delay_ns,
                segments: segs.map_or(0, |s| s.len()),
            });
        }
    }

    Ok(NextpnrReport {
        utilization,
        fmax,
        critical_paths,
    })
}

/// Parses the device utilisation table of a nextpnr log
/// (`Info:          ICESTORM_LC:  9004/ 7680   117%`), which nextpnr prints
/// before it gives up on a design that does not fit (and writes no report).
pub fn parse_nextpnr_log_utilization(log: &str) -> BTreeMap<String, Usage> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.trim().strip_prefix("Info:") else {
            continue;
        };
        let Some((name, counts)) = rest.trim().split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let Some((used, rest)) = counts.split_once('/') else {
            continue;
        };
        let mut rest = rest.split_whitespace();
        let (Some(avail), Some(pct)) = (rest.next(), rest.next()) else {
            continue;
        };
        if !pct.ends_with('%') {
            continue;
        }
        if let (Ok(used), Ok(available)) = (used.trim().parse(), avail.parse()) {
            out.insert(name.to_string(), Usage { used, available });
        }
    }
    out
}

/// Cell counts of a synthesized design (yosys `stat -json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SynthStats {
    pub cells: u64,
    pub cells_by_type: BTreeMap<String, u64>,
    pub wires: u64,
    pub wire_bits: u64,
    /// Yosys warnings (deduplicated), for the record.
    pub warnings: Vec<String>,
}

impl SynthStats {
    fn count(&self, pred: impl Fn(&str) -> bool) -> u64 {
        self.cells_by_type
            .iter()
            .filter(|(k, _)| pred(k))
            .map(|(_, v)| v)
            .sum()
    }
    /// `SB_LUT4` cells.
    pub fn luts(&self) -> u64 {
        self.count(|k| k == "SB_LUT4")
    }
    /// Flip-flops (`SB_DFF*`).
    pub fn flip_flops(&self) -> u64 {
        self.count(|k| k.starts_with("SB_DFF"))
    }
    /// `SB_CARRY` cells.
    pub fn carries(&self) -> u64 {
        self.count(|k| k == "SB_CARRY")
    }
    /// Block RAMs (`SB_RAM40_4K*`).
    pub fn ebrs(&self) -> u64 {
        self.count(|k| k.starts_with("SB_RAM40_4K"))
    }
    /// Latch cells left after synthesis (`$_DLATCH*`, `$dlatch`).
    pub fn latches(&self) -> u64 {
        self.count(|k| k.contains("DLATCH") || k.contains("dlatch"))
    }
}

/// Parses yosys `stat -json` output (the `design` totals, or the sum of modules).
pub fn parse_yosys_stat(json: &str) -> FlowResult<SynthStats> {
    let bad = |message: String| FlowError::BadReport {
        what: "yosys stat".to_string(),
        message,
    };
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let mut stats = SynthStats::default();
    let mut add = |m: &serde_json::Value| {
        let n = |k: &str| m.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        stats.cells += n("num_cells");
        stats.wires += n("num_wires");
        stats.wire_bits += n("num_wire_bits");
        if let Some(t) = m.get("num_cells_by_type").and_then(|x| x.as_object()) {
            for (k, c) in t {
                *stats.cells_by_type.entry(k.clone()).or_default() += c.as_u64().unwrap_or(0);
            }
        }
    };
    if let Some(design) = v.get("design") {
        add(design);
    } else if let Some(mods) = v.get("modules").and_then(|m| m.as_object()) {
        mods.values().for_each(&mut add);
    } else {
        return Err(bad("neither `design` nor `modules`".into()));
    }
    Ok(stats)
}

/// Signals yosys reports as latches (`Latch inferred for signal `\top.\q' ...`).
pub fn latches_in_yosys_log(log: &str) -> Vec<String> {
    let mut out: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("Latch inferred for signal `").map(|(_, r)| r))
        .map(|r| {
            let sig = r.split('\'').next().unwrap_or(r);
            sig.replace('\\', "")
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The problems of a failed yosys run, one per wire: `check` reports every bit
/// of an undriven bus (`Wire top.\d [3] is used but has no driver.`), which is
/// folded into `Wire top.\d (16 bits) is used but has no driver.`. At most 10.
fn yosys_problems(log: &str) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for line in log.lines() {
        let l = line.trim();
        let msg = if let Some(r) = l.strip_prefix("ERROR:") {
            r.trim()
        } else if l.starts_with("Warning: Wire ")
            || l.contains("multiple conflicting drivers")
            || l.contains("is used but has no driver")
            || l.contains("found logic loop")
        {
            l.strip_prefix("Warning:").unwrap_or(l).trim()
        } else if let Some((_, r)) = l.split_once(": ERROR:") {
            // `file.v:4: ERROR: Identifier ... is implicitly declared ...`
            r.trim()
        } else {
            continue;
        };
        let key = fold_bit_index(msg);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => out.push((key, 1)),
        }
    }
    let total = out.len();
    let mut v: Vec<String> = out
        .into_iter()
        .take(10)
        .map(|(k, n)| {
            if n > 1 {
                k.replacen(" [*]", &format!(" ({n} bits)"), 1)
            } else {
                k.replacen(" [*]", "", 1)
            }
        })
        .collect();
    if total > 10 {
        v.push(format!("and {} more", total - 10));
    }
    v
}

/// `Wire top.\d [3] is ...` -> `Wire top.\d [*] is ...`
fn fold_bit_index(msg: &str) -> String {
    if let Some(open) = msg.find(" [") {
        if let Some(close) = msg[open..].find(']') {
            let idx = &msg[open + 2..open + close];
            if !idx.is_empty() && idx.chars().all(|c| c.is_ascii_digit()) {
                return format!("{} [*]{}", &msg[..open], &msg[open + close + 1..]);
            }
        }
    }
    msg.to_string()
}

fn yosys_warnings(log: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in log.lines() {
        if let Some((_, r)) = l.split_once("Warning: ") {
            let w = r.trim().to_string();
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// Resource summary of a placed design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// `ICESTORM_LC`: LUT4 + FF + carry cells.
    pub logic_cells: Usage,
    /// `ICESTORM_RAM`: 4 Kbit block RAMs.
    pub ebr: Usage,
    /// `SB_IO`.
    pub io: Usage,
    /// `SB_GB`: global buffers.
    pub global_buffers: Usage,
    /// `ICESTORM_PLL`.
    pub plls: Usage,
    /// Every cell type nextpnr reports.
    pub all: BTreeMap<String, Usage>,
}

impl Resources {
    fn from_report(r: &NextpnrReport) -> Self {
        Resources {
            logic_cells: r.usage("ICESTORM_LC"),
            ebr: r.usage("ICESTORM_RAM"),
            io: r.usage("SB_IO"),
            global_buffers: r.usage("SB_GB"),
            plls: r.usage("ICESTORM_PLL"),
            all: r.utilization.clone(),
        }
    }
}

/// Tool versions as the tools print them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolVersions {
    pub yosys: Option<String>,
    pub nextpnr: Option<String>,
    pub icepack: Option<String>,
}

/// The bitstream file written by the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BitstreamFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

/// Seconds spent per step.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StepSeconds {
    pub emit: f64,
    pub synth: f64,
    pub pnr: f64,
    pub pack: f64,
}

/// `report.json`: everything needed to know what a bitstream is and how well it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BitstreamReport {
    pub schema: String,
    pub build: String,
    /// Rust type of the top-level block.
    pub top: String,
    /// SHA-256 of the Verilog that was synthesized ([`netlist_sha256`]), so a report
    /// names the design it was made from; absent in reports written before it existed.
    #[serde(default)]
    pub netlist_sha256: Option<String>,
    pub git_commit: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    pub device: Ice40Device,
    pub package: String,
    pub seed: u64,
    /// The `--placer` given to nextpnr; absent when nextpnr chose its default (and in
    /// reports written before the flow had the option).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placer: Option<Placer>,
    pub target_mhz: f64,
    pub tools: ToolVersions,
    pub resources: Resources,
    pub clocks: Vec<ClockTiming>,
    pub timing_met: bool,
    pub critical_paths: Vec<CriticalPath>,
    pub synthesis: SynthStats,
    /// Pre-placement depth estimate by block ([`crate::logic_depth`]); absent in
    /// reports written before it existed.
    #[serde(default)]
    pub depth: Option<crate::logic_depth::DepthReport>,
    /// Every flip-flop and RAM input timed from the routed delays
    /// ([`crate::routed_timing`]), grouped by source and endpoint register; absent in
    /// reports written before it existed.
    #[serde(default)]
    pub endpoints: Option<crate::routed_timing::RoutedTiming>,
    /// Absent when the flow stopped before packing (timing failure).
    pub bitstream: Option<BitstreamFile>,
    /// The tool invocations, in order, as run in `build/`.
    pub commands: Vec<String>,
    /// The command line that started the flow.
    pub command_line: Option<String>,
    pub seconds: StepSeconds,
}

impl BitstreamReport {
    /// Lowest achieved fmax over all clocks (None when the design has no clock).
    pub fn min_fmax_mhz(&self) -> Option<f64> {
        self.clocks
            .iter()
            .map(|c| c.achieved_mhz)
            .min_by(|a, b| a.total_cmp(b))
    }

    /// The human summary written to `report.txt`.
    pub fn summary(&self) -> String {
        use fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "revspike bitstream report: build `{}` (top {})",
            self.build, self.top
        );
        let commit = match (&self.git_commit, self.git_dirty) {
            (Some(c), Some(true)) => format!("{c} + uncommitted changes"),
            (Some(c), _) => c.clone(),
            (None, _) => "unknown".into(),
        };
        let _ = writeln!(s, "commit:  {commit}");
        if let Some(h) = &self.netlist_sha256 {
            let _ = writeln!(s, "netlist: sha256 {h} (the emitted Verilog)");
        }
        let placer = self
            .placer
            .map(|p| format!(", placer {p}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "device:  {} {}, target {} MHz, seed {}{placer}",
            self.device,
            self.package,
            fmt_mhz(self.target_mhz),
            self.seed
        );
        let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "unknown".into());
        let _ = writeln!(
            s,
            "tools:   {}; {}; icepack {}",
            v(&self.tools.yosys),
            v(&self.tools.nextpnr),
            v(&self.tools.icepack)
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "resources                used    total      %");
        let r = &self.resources;
        for (name, u) in [
            ("logic cells (LC)", r.logic_cells),
            ("block RAM (EBR 4K)", r.ebr),
            ("IO", r.io),
            ("global buffers", r.global_buffers),
            ("PLLs", r.plls),
        ] {
            let _ = writeln!(
                s,
                "  {name:<20} {:>6} {:>8} {:>6.1}",
                u.used,
                u.available,
                u.percent()
            );
        }
        let _ = writeln!(
            s,
            "  synthesis: {} LUT4, {} FF, {} carry, {} EBR cells",
            self.synthesis.luts(),
            self.synthesis.flip_flops(),
            self.synthesis.carries(),
            self.synthesis.ebrs()
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "timing                  target   achieved      slack");
        if self.clocks.is_empty() {
            let _ = writeln!(s, "  (no clocked logic)");
        }
        for c in &self.clocks {
            let _ = writeln!(
                s,
                "  {:<18} {:>7.1} MHz {:>6.1} MHz {:>+8.2} ns  {}",
                c.name,
                c.target_mhz,
                c.achieved_mhz,
                c.slack_ns,
                if c.met { "met" } else { "FAILED" }
            );
        }
        if let Some(p) = self
            .critical_paths
            .iter()
            .max_by(|a, b| a.delay_ns.total_cmp(&b.delay_ns))
        {
            let _ = writeln!(
                s,
                "  longest path: {:.2} ns over {} segments, {} -> {}",
                p.delay_ns, p.segments, p.from, p.to
            );
        }
        if let Some(e) = &self.endpoints {
            let _ = writeln!(s);
            s.push_str(&e.summary(12));
        }
        if let Some(d) = &self.depth {
            let _ = writeln!(s);
            s.push_str(&d.summary(12));
        }
        let _ = writeln!(s);
        match &self.bitstream {
            Some(b) => {
                let _ = writeln!(
                    s,
                    "bitstream: {} ({} bytes, sha256 {})",
                    b.path.display(),
                    b.bytes,
                    b.sha256
                );
                let _ = writeln!(s, "flash:     iceprog {}", b.path.display());
            }
            None => {
                let _ = writeln!(s, "bitstream: none (timing failed)");
            }
        }
        let _ = writeln!(
            s,
            "time:      synth {:.1} s, place and route {:.1} s, pack {:.1} s",
            self.seconds.synth, self.seconds.pnr, self.seconds.pack
        );
        s
    }
}

// ---------------------------------------------------------------------------
// Running tools
// ---------------------------------------------------------------------------

fn tool_name(tool: &Path) -> String {
    tool.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| tool.display().to_string())
}

/// Runs `tool args` in `dir`, writes stdout + stderr to `dir/log_name`.
fn run_tool(
    tool: &Path,
    env: &'static str,
    args: &[String],
    dir: &Path,
    log_name: &str,
) -> FlowResult<(Output, PathBuf, String)> {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FlowError::ToolMissing {
                tool: tool_name(tool),
                env,
            },
            _ => FlowError::ToolStart {
                tool: tool_name(tool),
                source: e,
            },
        })?;
    let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&output.stderr));
    let log_path = dir.join(log_name);
    std::fs::write(&log_path, &log).map_err(io_err("write", &log_path))?;
    Ok((output, log_path, log))
}

fn status_text(o: &Output) -> String {
    match o.status.code() {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    }
}

fn first_errors(log: &str) -> String {
    let errs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR"))
        .map(str::trim)
        .take(3)
        .collect();
    if errs.is_empty() {
        log.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string()
    } else {
        errs.join(" | ")
    }
}

fn command_string(tool: &Path, args: &[String]) -> String {
    let mut s = tool.display().to_string();
    for a in args {
        s.push(' ');
        if a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
        {
            s.push_str(a);
        } else {
            s.push('\'');
            s.push_str(&a.replace('\'', "'\\''"));
            s.push('\'');
        }
    }
    s
}

fn tool_version(tool: &Path, arg: &str) -> Option<String> {
    let o = Command::new(tool).arg(arg).output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn icepack_version() -> Option<String> {
    // icepack has no version flag; the distribution package version identifies it.
    let o = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "fpga-icestorm"])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !v.is_empty()).then(|| format!("fpga-icestorm {v}"))
}

fn git_state(dir: &Path) -> (Option<String>, Option<bool>) {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]);
    let dirty = commit
        .as_ref()
        .and_then(|_| run(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    (commit, dirty)
}

fn progress(opts_progress: bool, msg: &str) {
    if opts_progress {
        eprintln!("{msg}");
    }
}

// ---------------------------------------------------------------------------
// Synthesis
// ---------------------------------------------------------------------------

/// The yosys script of both the flow and the sanity check: the iCE40 cell
/// library first (so designs may instantiate `SB_*` primitives), implicit wires
/// are errors (`-noautowire`), undriven / multiply driven wires fail
/// `check -assert`, then `synth_ice40` and the cell statistics.
fn yosys_script(device: Ice40Device, json_out: Option<&str>) -> String {
    let json = json_out.map(|j| format!(" -json {j}")).unwrap_or_default();
    let family = match device {
        Ice40Device::Hx1k | Ice40Device::Hx4k | Ice40Device::Hx8k => "ICE40_HX",
        Ice40Device::Up5k | Ice40Device::U4k => "ICE40_U",
        _ => "ICE40_LP",
    };
    format!(
        "read_verilog -D {family} -lib -specify +/ice40/cells_sim.v\n\
         read_verilog -noautowire top.v\n\
         hierarchy -check -top top\n\
         proc\n\
         check -assert\n\
         synth_ice40 -top top{json}\n\
         tee -q -o stat.json stat -json\n"
    )
}

/// Runs the yosys script in `dir` (which holds `top.v`), checks for latches.
fn run_yosys(
    dir: &Path,
    tools: &Tools,
    device: Ice40Device,
    json_out: Option<&str>,
) -> FlowResult<(SynthStats, String)> {
    let script_path = dir.join("synth.ys");
    std::fs::write(&script_path, yosys_script(device, json_out))
        .map_err(io_err("write", &script_path))?;
    let args: Vec<String> = ["-q", "-l", "yosys.log", "-s", "synth.ys"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cmd = command_string(&tools.yosys, &args);
    let (out, _stdout_log, captured) = run_tool(&tools.yosys, ENV_YOSYS, &args, dir, "yosys.out")?;
    let log_path = dir.join("yosys.log");
    // yosys -l holds the full log; fall back to what it printed when it died before opening it.
    let log = std::fs::read_to_string(&log_path).unwrap_or(captured);
    if !out.status.success() {
        let problems = yosys_problems(&log);
        if problems.is_empty() {
            return Err(FlowError::ToolFailed {
                tool: tool_name(&tools.yosys),
                status: status_text(&out),
                summary: first_errors(&log),
                log: log_path,
            });
        }
        return Err(FlowError::SynthCheck {
            problems,
            log: log_path,
        });
    }
    let stat_path = dir.join("stat.json");
    let stat = std::fs::read_to_string(&stat_path).map_err(io_err("read", &stat_path))?;
    let mut stats = parse_yosys_stat(&stat)?;
    stats.warnings = yosys_warnings(&log);
    let mut latches = latches_in_yosys_log(&log);
    if latches.is_empty() && stats.latches() > 0 {
        latches.push(format!("{} latch cell(s)", stats.latches()));
    }
    if !latches.is_empty() {
        return Err(FlowError::Latch {
            signals: latches,
            log: log_path,
        });
    }
    Ok((stats, cmd))
}

static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

fn scratch_dir() -> FlowResult<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "revspike-synth-check-{}-{}-{nanos}",
        std::process::id(),
        SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    Ok(dir)
}

/// Synthesis sanity check of Verilog whose top module is `top`: runs yosys
/// `synth_ice40` (no place and route) and returns the cell counts. Fails on
/// latches, undriven or multiply driven wires (`check -assert`) and implicitly
/// declared wires. The scratch directory is removed on success and kept (and
/// named in the error) on failure.
pub fn synth_check(verilog: &str) -> FlowResult<SynthStats> {
    synth_check_with(verilog, &Tools::default())
}

/// [`synth_check`] with explicit tool paths.
pub fn synth_check_with(verilog: &str, tools: &Tools) -> FlowResult<SynthStats> {
    let dir = scratch_dir()?;
    let top = dir.join("top.v");
    std::fs::write(&top, verilog).map_err(io_err("write", &top))?;
    let (stats, _) = run_yosys(&dir, tools, Ice40Device::Hx8k, None)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(stats)
}

use crate::emit::hex_sha256;
/// The flow's hash of a netlist ([`crate::emit::netlist_sha256`]).
pub use crate::emit::netlist_sha256;

fn emit_verilog<B: Block>(top: &mut B) -> FlowResult<String> {
    crate::emit::verilog_of_connected(top).map_err(|e| match e {
        crate::emit::HdlError::DesignCheck(d) => FlowError::DesignCheck(d),
        other => FlowError::DesignCheck(other.to_string()),
    })
}

/// [`synth_check`] of a rust-hdl block (connects it, runs rust-hdl's checks,
/// emits its Verilog). Its pins need no locations.
pub fn synth_check_block<B: Block>(mut block: B) -> FlowResult<SynthStats> {
    let v = emit_verilog(&mut block)?;
    synth_check(&v)
}

// ---------------------------------------------------------------------------
// Pin constraints
// ---------------------------------------------------------------------------

/// Walks the top level's ports like rust-hdl's PCF generator does, and records
/// what it would panic on (unsupported constraints) and what it would silently
/// accept (ports without a pin, which nextpnr then puts on any free pin).
#[derive(Default)]
struct PinAudit {
    depth: usize,
    namespace: Vec<String>,
    problems: Vec<String>,
    ports: usize,
}

impl Probe for PinAudit {
    fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth += 1;
        self.namespace.clear();
    }
    fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
        self.namespace.push(name.to_string());
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if self.depth != 1 {
            return;
        }
        let mut full = self.namespace.join("$");
        if !full.is_empty() {
            full.push('$');
        }
        full.push_str(name);
        let mut located = vec![false; signal.bits()];
        for pin in signal.constraints() {
            match pin.constraint {
                Constraint::Location(_) => {
                    if let Some(slot) = located.get_mut(pin.index) {
                        *slot = true;
                    } else {
                        self.problems.push(format!(
                            "port `{full}` has a pin for bit {} but only {} bits",
                            pin.index,
                            signal.bits()
                        ));
                    }
                }
                Constraint::Custom(_) => {}
                other => self.problems.push(format!(
                    "port `{full}` has a constraint the iCE40 PCF cannot express: {other:?}"
                )),
            }
        }
        let is_port = matches!(
            signal.kind(),
            AtomKind::InputParameter | AtomKind::OutputParameter | AtomKind::InOutParameter
        );
        if is_port {
            self.ports += 1;
            let missing: Vec<String> = located
                .iter()
                .enumerate()
                .filter(|(_, l)| !**l)
                .map(|(i, _)| i.to_string())
                .collect();
            if !missing.is_empty() {
                let which = if signal.bits() == 1 {
                    String::new()
                } else {
                    format!(" (bits {})", missing.join(","))
                };
                self.problems.push(format!(
                    "top-level port `{full}` has no pin location{which}"
                ));
            }
        }
    }
    fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
        self.namespace.pop();
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
    }
}

/// The PCF of a connected top level, after checking every port has a pin.
fn emit_pcf<B: Block>(top: &B) -> FlowResult<String> {
    let mut audit = PinAudit::default();
    top.accept("top", &mut audit);
    if !audit.problems.is_empty() {
        return Err(FlowError::Pins(audit.problems.join("; ")));
    }
    if audit.ports == 0 {
        return Err(FlowError::Pins(
            "the top level has no ports: nothing would reach the board".into(),
        ));
    }
    Ok(generate_pcf(top))
}

// ---------------------------------------------------------------------------
// The flow
// ---------------------------------------------------------------------------

/// Builds the bitstream of a rust-hdl top level into `out_dir`:
/// `revspike-<build>.bin`, `report.json`, `report.txt`, and `build/` with the
/// Verilog, PCF, tool logs and intermediate files. Returns the report (also
/// written on a timing failure, without a bitstream, before the error).
pub fn build_bitstream<B: Block>(
    mut top: B,
    out_dir: &Path,
    opts: &FlowOptions,
) -> FlowResult<BitstreamReport> {
    opts.validate()?;
    let t = Instant::now();
    progress(
        opts.progress,
        "emitting Verilog and pin constraints (rust-hdl) ...",
    );
    let verilog = emit_verilog(&mut top)?;
    let pcf = emit_pcf(&top)?;
    let emit_s = t.elapsed().as_secs_f64();
    run_flow(
        &verilog,
        &pcf,
        std::any::type_name::<B>(),
        out_dir,
        opts,
        emit_s,
    )
}

/// The flow from Verilog (top module `top`) and a PCF, for designs that do not
/// come from rust-hdl. `top_name` is recorded in the report.
pub fn build_bitstream_from_verilog(
    verilog: &str,
    pcf: &str,
    top_name: &str,
    out_dir: &Path,
    opts: &FlowOptions,
) -> FlowResult<BitstreamReport> {
    opts.validate()?;
    run_flow(verilog, pcf, top_name, out_dir, opts, 0.0)
}

/// What synthesis alone tells about a build: the pre-placement depth estimate and
/// the logic cells by block, against the part's logic cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthesisEstimate {
    pub device: Ice40Device,
    pub depth: crate::logic_depth::DepthReport,
    pub cells: crate::cell_usage::CellUsage,
}

impl SynthesisEstimate {
    /// The `n` deepest and the `n` largest blocks, for a person.
    pub fn summary(&self, n: usize) -> String {
        format!(
            "{}\n{}",
            self.depth.summary(n),
            self.cells.summary(n, self.device.logic_cells())
        )
    }
}

/// Synthesis, the pre-placement depth estimate and the logic cells by block only (no
/// place and route): emits `top` into `out_dir/build/`, runs `synth_ice40`, judges the
/// paths against `opts.freq_mhz` and writes `build/depth.json` and `build/cells.json`.
/// Minutes faster than [`build_bitstream`].
pub fn estimate_synthesis<B: Block>(
    mut top: B,
    out_dir: &Path,
    opts: &FlowOptions,
) -> FlowResult<SynthesisEstimate> {
    opts.validate()?;
    let build = absolute(out_dir)?.join("build");
    std::fs::create_dir_all(&build).map_err(io_err("create", &build))?;
    progress(opts.progress, "emitting Verilog (rust-hdl) ...");
    let verilog = emit_verilog(&mut top)?;
    let p = build.join("top.v");
    std::fs::write(&p, verilog).map_err(io_err("write", &p))?;
    progress(opts.progress, "synthesis (yosys synth_ice40) ...");
    run_yosys(&build, &opts.tools, opts.device, Some("top.json"))?;
    estimate_netlist(&build, opts).map_err(|summary| FlowError::ToolFailed {
        tool: "yosys".into(),
        status: "ok".into(),
        summary,
        log: build.join("yosys.log"),
    })
}

/// The depth estimate and the logic cells by block of `build/top.json`, also written
/// to `build/depth.json` and `build/cells.json`: which blocks are too deep for the
/// clock and which are large, in seconds rather than after place and route. Fails
/// with what could not be read or written.
fn estimate_netlist(build: &Path, opts: &FlowOptions) -> Result<SynthesisEstimate, String> {
    let json_path = build.join("top.json");
    let json = std::fs::read_to_string(&json_path).map_err(|e| {
        format!(
            "its JSON netlist {} could not be read: {e}",
            json_path.display()
        )
    })?;
    let unreadable = |e: crate::logic_depth::DepthError| {
        format!("its JSON netlist could not be read for the estimate: {e}")
    };
    let depth = crate::logic_depth::estimate(
        &json,
        "top",
        1000.0 / opts.freq_mhz,
        crate::logic_depth::DelayModel::HX,
    )
    .map_err(unreadable)?;
    let cells = crate::cell_usage::cell_usage(&json, "top").map_err(unreadable)?;
    for (name, text) in [
        ("depth.json", serde_json::to_string_pretty(&depth)),
        ("cells.json", serde_json::to_string_pretty(&cells)),
    ] {
        let p = build.join(name);
        std::fs::write(&p, text.unwrap_or_default())
            .map_err(|e| format!("{} could not be written: {e}", p.display()))?;
    }
    Ok(SynthesisEstimate {
        device: opts.device,
        depth,
        cells,
    })
}

fn absolute(p: &Path) -> FlowResult<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        let cwd = std::env::current_dir().map_err(io_err("read", Path::new(".")))?;
        Ok(cwd.join(p))
    }
}

fn run_flow(
    verilog: &str,
    pcf: &str,
    top_name: &str,
    out_dir: &Path,
    opts: &FlowOptions,
    emit_s: f64,
) -> FlowResult<BitstreamReport> {
    let out_abs = absolute(out_dir)?;
    // The commit of the sources this flow was compiled from (the output
    // directory's repository when those are not a git checkout), read before
    // the stale outputs below are removed: rebuilding into a committed output
    // directory must not count its own old report as an uncommitted change.
    let (git_commit, git_dirty) = match git_state(Path::new(env!("CARGO_MANIFEST_DIR"))) {
        (None, _) => git_state(&out_abs),
        known => known,
    };
    let build = out_abs.join("build");
    std::fs::create_dir_all(&build).map_err(io_err("create", &build))?;
    // A bitstream or report left from an earlier run must not outlive a failing one.
    let bin_path = out_abs.join(opts.bitstream_name());
    let report_json = out_abs.join("report.json");
    let report_txt = out_abs.join("report.txt");
    for stale in [&bin_path, &report_json, &report_txt] {
        match std::fs::remove_file(stale) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", stale)(e)),
        }
    }
    for (name, text) in [("top.v", verilog), ("top.pcf", pcf)] {
        let p = build.join(name);
        std::fs::write(&p, text).map_err(io_err("write", &p))?;
    }
    let tools = &opts.tools;
    let mut commands = Vec::new();
    let mut seconds = StepSeconds {
        emit: emit_s,
        ..Default::default()
    };

    // [1/4] synthesis
    progress(opts.progress, "[1/4] synthesis (yosys synth_ice40) ...");
    let t = Instant::now();
    let (synthesis, cmd) = run_yosys(&build, tools, opts.device, Some("top.json"))?;
    commands.push(cmd);
    seconds.synth = t.elapsed().as_secs_f64();
    // A netlist the estimate cannot read only loses the estimate: place and route
    // judges the build.
    let depth = estimate_netlist(&build, opts).ok().map(|e| e.depth);
    if let Some(d) = &depth {
        if opts.progress {
            for line in d.summary(5).lines() {
                progress(true, &format!("      {line}"));
            }
        }
    }

    // [2/4] place and route
    progress(
        opts.progress,
        &format!(
            "[2/4] place and route (nextpnr-ice40 --{} --package {} --freq {} --seed {}{}) ...",
            opts.device.name(),
            opts.package,
            fmt_mhz(opts.freq_mhz),
            opts.seed,
            opts.placer
                .map(|p| format!(" --placer {p}"))
                .unwrap_or_default()
        ),
    );
    let t = Instant::now();
    let mut np_args: Vec<String> = vec![
        format!("--{}", opts.device.name()),
        "--package".into(),
        opts.package.clone(),
        "--freq".into(),
        fmt_mhz(opts.freq_mhz),
        "--pcf".into(),
        "top.pcf".into(),
        "--json".into(),
        "top.json".into(),
        "--asc".into(),
        "top.asc".into(),
        "--report".into(),
        "nextpnr-report.json".into(),
        // The routed delays of every net and cell, for the endpoint timing pass.
        "--sdf".into(),
        "top.sdf".into(),
        "--seed".into(),
        opts.seed.to_string(),
        // Timing is judged here, from the report, so the report always gets written.
        "--timing-allow-fail".into(),
    ];
    if let Some(p) = opts.placer {
        np_args.extend(["--placer".to_string(), p.name().to_string()]);
    }
    let np_report_path = build.join("nextpnr-report.json");
    let _ = std::fs::remove_file(&np_report_path);
    commands.push(command_string(&tools.nextpnr, &np_args));
    let (out, np_log_path, np_log) =
        run_tool(&tools.nextpnr, ENV_NEXTPNR, &np_args, &build, "nextpnr.log")?;
    seconds.pnr = t.elapsed().as_secs_f64();
    if !out.status.success() {
        let over: Vec<String> = parse_nextpnr_log_utilization(&np_log)
            .into_iter()
            .filter(|(_, u)| u.used > u.available)
            .map(|(k, u)| format!("{k} {}/{} ({:.0}%)", u.used, u.available, u.percent()))
            .collect();
        if !over.is_empty() || np_log.contains("no BELs remaining") {
            let overflows = if over.is_empty() {
                vec![first_errors(&np_log)]
            } else {
                over
            };
            return Err(FlowError::DoesNotFit {
                device: format!("{} {}", opts.device, opts.package),
                overflows,
                log: np_log_path,
            });
        }
        return Err(FlowError::ToolFailed {
            tool: tool_name(&tools.nextpnr),
            status: status_text(&out),
            summary: first_errors(&np_log),
            log: np_log_path,
        });
    }
    let np_json =
        std::fs::read_to_string(&np_report_path).map_err(io_err("read", &np_report_path))?;
    let np = parse_nextpnr_report(&np_json)?;

    // [3/4] checks
    progress(opts.progress, "[3/4] utilization and timing check ...");
    let overflows = np.overflows();
    if !overflows.is_empty() {
        return Err(FlowError::DoesNotFit {
            device: format!("{} {}", opts.device, opts.package),
            overflows,
            log: np_log_path,
        });
    }
    let failures = np.timing_failures();
    let endpoints = routed_endpoints(&build, opts);
    if let Some(e) = &endpoints {
        if opts.progress {
            for line in e.summary(8).lines() {
                progress(true, &format!("      {line}"));
            }
        }
    }
    let mut report = BitstreamReport {
        schema: REPORT_SCHEMA.to_string(),
        build: opts.build.clone(),
        top: top_name.to_string(),
        netlist_sha256: Some(netlist_sha256(verilog)),
        git_commit,
        git_dirty,
        device: opts.device,
        package: opts.package.clone(),
        seed: opts.seed,
        placer: opts.placer,
        target_mhz: opts.freq_mhz,
        tools: ToolVersions {
            yosys: tool_version(&tools.yosys, "-V"),
            nextpnr: tool_version(&tools.nextpnr, "--version"),
            icepack: icepack_version(),
        },
        resources: Resources::from_report(&np),
        clocks: np.clocks(),
        timing_met: failures.is_empty(),
        critical_paths: np.critical_paths.clone(),
        synthesis,
        depth,
        endpoints,
        bitstream: None,
        commands,
        command_line: opts.command_line.clone(),
        seconds,
    };
    if !failures.is_empty() {
        write_reports(&report, &report_json, &report_txt)?;
        return Err(FlowError::TimingFailure {
            failures,
            report: report_json,
        });
    }

    // [4/4] pack
    progress(opts.progress, "[4/4] pack bitstream (icepack) ...");
    let t = Instant::now();
    // icepack runs in build/, the bitstream goes next to it.
    let pack_args = vec![
        "top.asc".to_string(),
        format!("../{}", opts.bitstream_name()),
    ];
    report
        .commands
        .push(command_string(&tools.icepack, &pack_args));
    let (out, pack_log_path, pack_log) = run_tool(
        &tools.icepack,
        ENV_ICEPACK,
        &pack_args,
        &build,
        "icepack.log",
    )?;
    report.seconds.pack = t.elapsed().as_secs_f64();
    if !out.status.success() {
        let _ = std::fs::remove_file(&bin_path);
        return Err(FlowError::ToolFailed {
            tool: tool_name(&tools.icepack),
            status: status_text(&out),
            summary: first_errors(&pack_log),
            log: pack_log_path,
        });
    }
    let bin = std::fs::read(&bin_path).map_err(io_err("read", &bin_path))?;
    if bin.is_empty() {
        return Err(FlowError::ToolFailed {
            tool: tool_name(&tools.icepack),
            status: status_text(&out),
            summary: "wrote an empty bitstream".into(),
            log: pack_log_path,
        });
    }
    report.bitstream = Some(BitstreamFile {
        path: display_path(&bin_path),
        bytes: bin.len() as u64,
        sha256: hex_sha256(&bin),
    });
    write_reports(&report, &report_json, &report_txt)?;
    progress(
        opts.progress,
        &format!(
            "done: {} ({} LC of {}, fmax {}) in {:.1} s",
            bin_path.display(),
            report.resources.logic_cells.used,
            report.resources.logic_cells.available,
            report
                .min_fmax_mhz()
                .map(|f| format!("{f:.1} MHz"))
                .unwrap_or_else(|| "n/a".into()),
            report.seconds.emit + report.seconds.synth + report.seconds.pnr + report.seconds.pack
        ),
    );
    Ok(report)
}

/// The path relative to the current directory when it lies below it, so the
/// report shows `bitstreams/alchitry-cu/revspike-cu.bin` rather than a home path.
fn display_path(p: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
}

/// The endpoint timing pass over nextpnr's SDF, against the build's clock. Like the
/// depth estimate it only informs: a missing or unreadable SDF loses the section (with
/// a line saying why), never the build, which nextpnr's own report judges.
fn routed_endpoints(
    build: &Path,
    opts: &FlowOptions,
) -> Option<crate::routed_timing::RoutedTiming> {
    let sdf = build.join("top.sdf");
    let timed = std::fs::read_to_string(&sdf)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            crate::routed_timing::analyse(&text, 1000.0 / opts.freq_mhz).map_err(|e| e.to_string())
        });
    match timed {
        Ok(t) => Some(t),
        Err(e) => {
            progress(
                opts.progress,
                &format!("      no endpoint timing: {}: {e}", sdf.display()),
            );
            None
        }
    }
}

fn write_reports(report: &BitstreamReport, json: &Path, txt: &Path) -> FlowResult<()> {
    let text = serde_json::to_string_pretty(report).map_err(|e| FlowError::BadReport {
        what: "revspike report".into(),
        message: e.to_string(),
    })?;
    std::fs::write(json, text + "\n").map_err(io_err("write", json))?;
    std::fs::write(txt, report.summary()).map_err(io_err("write", txt))?;
    Ok(())
}

/// Reads a `report.json` written by the flow.
pub fn read_report(path: &Path) -> FlowResult<BitstreamReport> {
    let text = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    let report: BitstreamReport =
        serde_json::from_str(&text).map_err(|e| FlowError::BadReport {
            what: format!("revspike report {}", path.display()),
            message: e.to_string(),
        })?;
    if report.schema != REPORT_SCHEMA {
        return Err(FlowError::BadReport {
            what: format!("revspike report {}", path.display()),
            message: format!("schema `{}`, expected `{REPORT_SCHEMA}`", report.schema),
        });
    }
    Ok(report)
}

// ---------------------------------------------------------------------------
// Board check top level
// ---------------------------------------------------------------------------

pub use board_check::BoardCheckTop;

/// The board check design (see [`BoardCheckTop`]).
pub mod board_check {
    use rust_hdl::prelude::*;

    use crate::board_io;
    use revspike_proto::board::ALCHITRY_CU;

    /// Board bring-up design for the Alchitry Cu: the LEDs count (the top LED
    /// toggles about every 0.7 s at 100 MHz) and the UART is looped back
    /// (`usb_rx` -> `usb_tx`), so a terminal on the FT2232H's second port
    /// echoes what it sends. It proves the clock, LED and UART pins and is the
    /// flow's own end-to-end test design.
    #[derive(LogicBlock)]
    pub struct BoardCheckTop {
        pub clock: Signal<In, Clock>,
        pub leds: Signal<Out, Bits<8>>,
        pub usb_rx: Signal<In, Bit>,
        pub usb_tx: Signal<Out, Bit>,
        counter: DFF<Bits<32>>,
    }

    impl Default for BoardCheckTop {
        fn default() -> Self {
            let mut usb_rx = board_io::input(&ALCHITRY_CU, "usb_rx");
            usb_rx.connect();
            BoardCheckTop {
                clock: board_io::clock(&ALCHITRY_CU),
                leds: board_io::output(&ALCHITRY_CU, "leds"),
                usb_rx,
                usb_tx: board_io::output(&ALCHITRY_CU, "usb_tx"),
                counter: Default::default(),
            }
        }
    }

    impl Logic for BoardCheckTop {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, counter);
            self.counter.d.next = self.counter.q.val() + 1;
            self.leds.next = self.counter.q.val().get_bits::<8>(24);
            self.usb_tx.next = self.usb_rx.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placers_parse_by_their_nextpnr_names() {
        for p in Placer::ALL {
            assert_eq!(p.name().parse::<Placer>(), Ok(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
        assert_eq!(
            "annealing".parse::<Placer>(),
            Err("unknown placer `annealing`; known: heap, sa, static".to_string())
        );
    }

    /// The pin constraints of both board top levels come from the board's one
    /// description: every pad it lists for a port, and nothing else.
    #[test]
    fn the_top_levels_pins_are_the_boards() {
        use revspike_proto::board::{ALCHITRY_CU, BOARDS};
        let board = &ALCHITRY_CU;
        let want = |names: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = std::iter::once(&board.clock)
                .chain(board.pins)
                .filter(|p| names.contains(&p.name))
                .flat_map(|p| {
                    p.pads.iter().enumerate().map(move |(i, pad)| {
                        if p.pads.len() == 1 {
                            format!("set_io {} {pad}", p.name)
                        } else {
                            format!("set_io {}[{i}] {pad}", p.name)
                        }
                    })
                })
                .collect();
            v.sort();
            v
        };
        let lines = |pcf: String| -> Vec<String> {
            let mut v: Vec<String> = pcf.lines().map(str::to_string).collect();
            v.sort();
            v
        };
        let mut top = crate::top::cu_top();
        crate::emit::verilog_of_connected(&mut top).unwrap();
        assert_eq!(
            lines(emit_pcf(&top).unwrap()),
            want(&["clock", "reset_n", "usb_rx", "usb_tx", "leds"])
        );
        let mut check = board_check::BoardCheckTop::default();
        crate::emit::verilog_of_connected(&mut check).unwrap();
        assert_eq!(
            lines(emit_pcf(&check).unwrap()),
            want(&["clock", "usb_rx", "usb_tx", "leds"])
        );
        for b in BOARDS {
            assert_eq!(Ice40Device::of_board(b).name(), b.device, "{}", b.name);
        }
        assert_eq!(FlowOptions::default().package, board.package);
    }

    #[test]
    fn clock_names_lose_buffer_suffixes() {
        assert_eq!(clock_display_name("clock$SB_IO_IN_$glb_clk"), "clock");
        assert_eq!(clock_display_name("pll$clock_out$glb_clk"), "pll$clock_out");
        assert_eq!(clock_display_name("clk"), "clk");
    }

    #[test]
    fn nextpnr_log_overflow_is_found() {
        let log = "Info: Device utilisation:\n\
                   Info: \t         ICESTORM_LC:  9004/ 7680   117%\n\
                   Info: \t        ICESTORM_RAM:     0/   32     0%\n\
                   Info: \t               SB_IO:     3/  256     1%\n\
                   ERROR: Unable to place cell 's', no BELs remaining to implement cell type 'ICESTORM_LC'\n";
        let u = parse_nextpnr_log_utilization(log);
        assert_eq!(
            u["ICESTORM_LC"],
            Usage {
                used: 9004,
                available: 7680
            }
        );
        assert_eq!(u["SB_IO"].used, 3);
        assert_eq!(u.len(), 3);
    }

    #[test]
    fn latch_lines_are_found() {
        let log = "Latch inferred for signal `\\top.\\q' from process `\\top.$proc$latch.v:2$381': $auto$x\n";
        assert_eq!(latches_in_yosys_log(log), vec!["top.q".to_string()]);
        assert!(
            latches_in_yosys_log("No latch inferred for signal `\\top.\\x' from process")
                .is_empty()
        );
    }

    #[test]
    fn undriven_bus_bits_fold_into_one_problem() {
        let mut log = String::new();
        for bit in 0..16 {
            log.push_str(&format!(
                "Warning: Wire top$neuron.\\zfin$0$d [{bit}] is used but has no driver.\n"
            ));
        }
        log.push_str("Warning: Wire top.\\w is used but has no driver.\n");
        log.push_str("ERROR: Found 17 problems in 'check -assert'.\n");
        assert_eq!(
            yosys_problems(&log),
            vec![
                "Wire top$neuron.\\zfin$0$d (16 bits) is used but has no driver.".to_string(),
                "Wire top.\\w is used but has no driver.".to_string(),
                "Found 17 problems in 'check -assert'.".to_string(),
            ]
        );
    }

    #[test]
    fn devices_parse_and_reject() {
        assert_eq!("hx8k".parse::<Ice40Device>().unwrap(), Ice40Device::Hx8k);
        assert_eq!(
            "iCE40-UP5K".parse::<Ice40Device>().unwrap(),
            Ice40Device::Up5k
        );
        let e = "hx9k".parse::<Ice40Device>().unwrap_err().to_string();
        assert!(e.contains("unknown iCE40 device `hx9k`"), "{e}");
    }

    #[test]
    fn options_are_validated() {
        let mut o = FlowOptions::default();
        assert!(o.validate().is_ok());
        o.freq_mhz = 0.0;
        assert!(o.validate().is_err());
        o.freq_mhz = 100.0;
        o.build = "../x".into();
        assert!(o.validate().unwrap_err().to_string().contains("build name"));
    }
}
