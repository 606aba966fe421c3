//! Timing of every endpoint of a routed design, from nextpnr's SDF.
//!
//! nextpnr names one critical path per clock. When a full design misses its clock,
//! that path is rarely the whole story: at high utilization tens of paths through
//! different blocks miss by similar margins, and removing the worst only shows the
//! next. This pass reads the routed delays nextpnr writes (`--sdf`: every net's
//! routed delay and every cell's arcs and setup times) and times every flip-flop and
//! block-RAM input, so the report can say how many inputs miss, by how much, and
//! which register feeds which: the groups to work on, all at once.
//!
//! Paths start at a clocked output (clock to Q, RAM clock to RDATA), run through
//! combinational cell arcs and routed nets, and end at an input with a setup check.
//! The clock network is taken as ideal, as nextpnr does for a single global clock
//! (its fmax and this pass's worst path agree; the flow's tests check that).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What went wrong reading an SDF file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SdfError {
    #[error("SDF is malformed: {0}")]
    Malformed(String),
    #[error("SDF has a combinational loop through {0}")]
    Loop(String),
}

/// Failing or near-failing inputs that share a source register and an endpoint register.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointGroup {
    /// The register (or block RAM) the worst path into this group starts at.
    pub from: String,
    /// The register (or block RAM) the group's inputs belong to.
    pub to: String,
    /// Which input: `data`, `enable`, `reset`, or a RAM port (`read address`, ...).
    pub pin: String,
    /// Inputs (bits) of `to`'s `pin` whose worst path starts at `from`.
    pub endpoints: usize,
    /// Of those, over the period.
    pub failing: usize,
    /// Slack of the group's worst input, ns (negative: misses the clock).
    pub worst_slack_ns: f64,
    /// The worst path's delay, setup included, ns.
    pub delay_ns: f64,
    /// Of that delay, routed nets.
    pub routing_ns: f64,
    /// Cells the worst path passes through (carry steps included).
    pub cells: usize,
}

/// Endpoint timing of one routed design against one clock period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutedTiming {
    pub period_ns: f64,
    /// Flip-flop and block-RAM input bits with a setup check.
    pub endpoints: usize,
    /// Of those, reached later than the period allows.
    pub failing: usize,
    /// Slack of the worst input, ns.
    pub worst_slack_ns: f64,
    /// The groups with the least slack, worst first (at most [`MAX_GROUPS`]).
    pub groups: Vec<EndpointGroup>,
}

/// Groups kept in a report.
pub const MAX_GROUPS: usize = 24;

impl RoutedTiming {
    /// The longest register-to-register delay, ns (the clock nextpnr would reach).
    pub fn worst_delay_ns(&self) -> f64 {
        self.period_ns - self.worst_slack_ns
    }

    /// A few lines for a person: the counts and the `n` worst groups.
    pub fn summary(&self, n: usize) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "routed endpoints: {} of {} inputs miss {:.2} ns (worst slack {:+.2} ns, {:.1} MHz)",
            self.failing,
            self.endpoints,
            self.period_ns,
            self.worst_slack_ns,
            1000.0 / self.worst_delay_ns()
        );
        let _ = writeln!(
            s,
            "  {:>7} {:>5} {:>5} {:>7} {:>5}  from -> to (input)",
            "slack", "fail", "of", "route", "cells"
        );
        for g in self.groups.iter().take(n) {
            let _ = writeln!(
                s,
                "  {:>+7.2} {:>5} {:>5} {:>4.1} ns {:>5}  {} -> {} ({})",
                g.worst_slack_ns,
                g.failing,
                g.endpoints,
                g.routing_ns,
                g.cells,
                g.from,
                g.to,
                g.pin
            );
        }
        s
    }
}

/// An S-expression of the SDF text: an atom or a parenthesized list.
#[derive(Debug)]
enum Sx<'a> {
    Atom(&'a str),
    List(Vec<Sx<'a>>),
}

impl<'a> Sx<'a> {
    fn atom(&self) -> Option<&'a str> {
        match self {
            Sx::Atom(a) => Some(a),
            Sx::List(_) => None,
        }
    }
    fn list(&self) -> &[Sx<'a>] {
        match self {
            Sx::List(l) => l,
            Sx::Atom(_) => &[],
        }
    }
    /// The keyword a list starts with (`CELL`, `IOPATH`).
    fn head(&self) -> Option<&'a str> {
        self.list().first().and_then(Sx::atom)
    }
    fn children<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s Sx<'a>> {
        self.list().iter().filter(move |c| c.head() == Some(key))
    }
}

/// Parses the text into one top-level list. Atoms keep SDF's escapes (`\$`, `\[`).
fn parse(text: &str) -> Result<Sx<'_>, SdfError> {
    let b = text.as_bytes();
    let mut stack: Vec<Vec<Sx>> = vec![Vec::new()];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' => {
                stack.push(Vec::new());
                i += 1;
            }
            b')' => {
                let done = stack
                    .pop()
                    .filter(|_| !stack.is_empty())
                    .ok_or_else(|| SdfError::Malformed(format!("unbalanced ')' at byte {i}")))?;
                stack.last_mut().expect("outer list").push(Sx::List(done));
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'"' => {
                let start = i + 1;
                let end = text[start..].find('"').map(|e| start + e).ok_or_else(|| {
                    SdfError::Malformed(format!("unterminated string at byte {i}"))
                })?;
                stack
                    .last_mut()
                    .expect("list")
                    .push(Sx::Atom(&text[start..end]));
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'(' | b')' | b'"' => break,
                        c if c.is_ascii_whitespace() => break,
                        _ => i += 1,
                    }
                }
                let end = i.min(b.len());
                stack
                    .last_mut()
                    .expect("list")
                    .push(Sx::Atom(&text[start..end]));
            }
        }
    }
    if stack.len() != 1 {
        return Err(SdfError::Malformed(
            "truncated: a list is not closed".into(),
        ));
    }
    let mut top = stack.pop().expect("top");
    match top.len() {
        1 => Ok(top.remove(0)),
        0 => Err(SdfError::Malformed("empty".into())),
        _ => Err(SdfError::Malformed("more than one top-level list".into())),
    }
}

/// `\$nextpnr_x\[2\]` -> `$nextpnr_x[2]`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `cell/pin` (escaped) -> (cell, pin), split at the last unescaped `/`.
fn split_pin(s: &str) -> Option<(String, String)> {
    let b = s.as_bytes();
    let mut cut = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'/' => {
                cut = Some(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    let c = cut?;
    Some((unescape(&s[..c]), s[c + 1..].to_string()))
}

/// The largest value of a delay triple list `(a:b:c)`, in ps.
fn delay_ps(v: &Sx) -> Option<f64> {
    let a = v.list().first()?.atom()?;
    a.split(':')
        .filter_map(|x| x.parse::<f64>().ok())
        .reduce(f64::max)
}

/// The worst of an arc's rise and fall delays, in ps.
fn arc_ps(values: &[Sx]) -> Result<f64, SdfError> {
    values
        .iter()
        .filter_map(delay_ps)
        .reduce(f64::max)
        .ok_or_else(|| SdfError::Malformed("an arc has no delay value".into()))
}

/// A port name, with an edge specifier `(posedge CLK)` reduced to `CLK`.
fn port(sx: &Sx) -> Option<String> {
    match sx {
        Sx::Atom(a) => Some(unescape(a)),
        Sx::List(l) => l.get(1).and_then(Sx::atom).map(unescape),
    }
}

/// The register a placed cell belongs to, by the names yosys and nextpnr give it:
/// `link.frame.rstate.q_SB_DFFESR_Q_2_D_SB_LUT4_O_LC` -> `link.frame.rstate`,
/// `core.rowmem.mem0.0.8_RAM` -> `core.rowmem.mem0`.
pub fn register_of(cell: &str) -> String {
    let mut name = match cell.find("_SB_") {
        Some(p) if p > 0 => &cell[..p],
        _ => cell,
    };
    for suffix in ["$CARRY", "_DFFLC", "_LC", "_RAM", "$sb_io"] {
        name = name.strip_suffix(suffix).unwrap_or(name);
    }
    let mut parts: Vec<&str> = name.split('.').collect();
    while parts.len() > 1 {
        let last = parts[parts.len() - 1];
        if last == "q" || last == "d" || last.chars().all(|c| c.is_ascii_digit()) {
            parts.pop();
        } else {
            break;
        }
    }
    parts.join(".")
}

/// What an input pin is, for a person: `data`, `enable`, `reset`, a RAM port.
fn pin_kind(pin: &str) -> &'static str {
    let base = pin.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    match base {
        "CEN" => "enable",
        "SR" => "reset",
        "RADDR" => "read address",
        "WADDR" => "write address",
        "WDATA" => "write data",
        "MASK" => "write mask",
        "WE" | "WCLKE" => "write enable",
        "RE" | "RCLKE" => "read enable",
        _ => "data",
    }
}

/// The best (latest) arrival known at a pin, and where its path came from.
#[derive(Clone, Copy)]
struct Arrival {
    ps: f64,
    route_ps: f64,
    cells: usize,
    /// Cell index of the clocked output the path starts at.
    src: usize,
}

/// Times every input of the routed design in `sdf` against `period_ns`.
pub fn analyse(sdf: &str, period_ns: f64) -> Result<RoutedTiming, SdfError> {
    let top = parse(sdf)?;
    if top.head() != Some("DELAYFILE") {
        return Err(SdfError::Malformed("not a DELAYFILE".into()));
    }
    // Time unit: nextpnr writes 1ps; 1ns is accepted too.
    let scale_ns = match top
        .children("TIMESCALE")
        .next()
        .and_then(|t| t.list().get(1))
        .and_then(Sx::atom)
    {
        None | Some("1ps") => 0.001,
        Some("1ns") => 1.0,
        Some(other) => return Err(SdfError::Malformed(format!("TIMESCALE {other}"))),
    };

    // Pins are numbered per (cell, port).
    let mut cells: Vec<String> = Vec::new();
    let mut cell_idx: HashMap<String, usize> = HashMap::new();
    let mut pins: HashMap<(usize, String), usize> = HashMap::new();
    let mut pin_cell: Vec<usize> = Vec::new();
    let mut pin_name: Vec<String> = Vec::new();
    let mut pin_of = |cell: String, port: String| -> usize {
        let n = cells.len();
        let c = *cell_idx.entry(cell.clone()).or_insert_with(|| {
            cells.push(cell);
            n
        });
        let next = pin_cell.len();
        *pins.entry((c, port.clone())).or_insert_with(|| {
            pin_cell.push(c);
            pin_name.push(port);
            next
        })
    };

    // Edges: (from pin, to pin, delay ps, is a routed net).
    let mut edges: Vec<(usize, usize, f64, bool)> = Vec::new();
    // Clocked outputs: (pin, clock-to-output ps).
    let mut starts: Vec<(usize, f64)> = Vec::new();
    // Inputs with a setup check: (pin, setup ps), in pin order so that the report is
    // the same on every run.
    let mut checks: BTreeMap<usize, f64> = BTreeMap::new();

    for cell in top.children("CELL") {
        let inst = cell
            .children("INSTANCE")
            .next()
            .ok_or_else(|| SdfError::Malformed("a CELL has no INSTANCE".into()))?;
        let inst = unescape(inst.list().get(1).and_then(Sx::atom).unwrap_or(""));
        // Clock pins of this cell: the reference of its timing checks.
        let mut clocks: Vec<String> = vec!["CLK".into(), "RCLK".into(), "WCLK".into()];
        for tc in cell.children("TIMINGCHECK") {
            for chk in tc.list().iter().skip(1) {
                let l = chk.list();
                if !matches!(chk.head(), Some("SETUPHOLD") | Some("SETUP")) || l.len() < 4 {
                    continue;
                }
                let (Some(data), Some(clk)) = (port(&l[1]), port(&l[2])) else {
                    return Err(SdfError::Malformed(format!("a timing check of {inst}")));
                };
                let setup = delay_ps(&l[3])
                    .ok_or_else(|| SdfError::Malformed(format!("a setup time of {inst}")))?;
                let p = pin_of(inst.clone(), data);
                let e = checks.entry(p).or_insert(setup);
                *e = e.max(setup);
                if !clocks.contains(&clk) {
                    clocks.push(clk);
                }
            }
        }
        for d in cell.children("DELAY") {
            for abs in d.children("ABSOLUTE") {
                for arc in abs.list().iter().skip(1) {
                    let l = arc.list();
                    match arc.head() {
                        Some("IOPATH") if l.len() >= 4 => {
                            let (Some(i), Some(o)) = (port(&l[1]), port(&l[2])) else {
                                return Err(SdfError::Malformed(format!("an IOPATH of {inst}")));
                            };
                            let ps = arc_ps(&l[3..])?;
                            let to = pin_of(inst.clone(), o);
                            if clocks.contains(&i) {
                                starts.push((to, ps));
                            } else {
                                let from = pin_of(inst.clone(), i);
                                edges.push((from, to, ps, false));
                            }
                        }
                        Some("INTERCONNECT") if l.len() >= 4 => {
                            let ends = (
                                l[1].atom().and_then(split_pin),
                                l[2].atom().and_then(split_pin),
                            );
                            let (Some((fc, fp)), Some((tc, tp))) = ends else {
                                return Err(SdfError::Malformed(format!(
                                    "an INTERCONNECT without cell/pin ends in {inst:?}"
                                )));
                            };
                            let ps = arc_ps(&l[3..])?;
                            let from = pin_of(fc, fp);
                            let to = pin_of(tc, tp);
                            edges.push((from, to, ps, true));
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    // Longest arrival by topological order over the combinational graph.
    let n = pin_cell.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for (k, &(f, t, _, _)) in edges.iter().enumerate() {
        out[f].push(k);
        indeg[t] += 1;
    }
    let mut arr: Vec<Option<Arrival>> = vec![None; n];
    for &(p, ps) in &starts {
        let a = Arrival {
            ps,
            route_ps: 0.0,
            cells: 1,
            src: pin_cell[p],
        };
        if arr[p].is_none_or(|b| b.ps < a.ps) {
            arr[p] = Some(a);
        }
    }
    let mut queue: Vec<usize> = (0..n).filter(|&p| indeg[p] == 0).collect();
    let mut seen = 0;
    while let Some(p) = queue.pop() {
        seen += 1;
        for &k in &out[p] {
            let (_, t, ps, net) = edges[k];
            if let Some(a) = arr[p] {
                let b = Arrival {
                    ps: a.ps + ps,
                    route_ps: a.route_ps + if net { ps } else { 0.0 },
                    cells: a.cells + usize::from(!net),
                    src: a.src,
                };
                if arr[t].is_none_or(|c| c.ps < b.ps) {
                    arr[t] = Some(b);
                }
            }
            indeg[t] -= 1;
            if indeg[t] == 0 {
                queue.push(t);
            }
        }
    }
    if seen != n {
        let stuck = (0..n).find(|&p| indeg[p] > 0).expect("a pin in the loop");
        return Err(SdfError::Loop(format!(
            "{}/{}",
            cells[pin_cell[stuck]], pin_name[stuck]
        )));
    }

    // Judge every checked input and group by (source register, endpoint register, pin).
    let period_ps = period_ns / scale_ns;
    let mut groups: HashMap<(String, String, &'static str), EndpointGroup> = HashMap::new();
    let mut endpoints = 0;
    let mut failing = 0;
    let mut worst = f64::INFINITY;
    for (&p, &setup) in &checks {
        let Some(a) = arr[p] else { continue };
        endpoints += 1;
        let delay = a.ps + setup;
        let slack = (period_ps - delay) * scale_ns;
        let fails = slack < 0.0;
        failing += usize::from(fails);
        worst = worst.min(slack);
        let key = (
            register_of(&cells[a.src]),
            register_of(&cells[pin_cell[p]]),
            pin_kind(&pin_name[p]),
        );
        let g = groups.entry(key.clone()).or_insert_with(|| EndpointGroup {
            from: key.0.clone(),
            to: key.1.clone(),
            pin: key.2.to_string(),
            endpoints: 0,
            failing: 0,
            worst_slack_ns: f64::INFINITY,
            delay_ns: 0.0,
            routing_ns: 0.0,
            cells: 0,
        });
        g.endpoints += 1;
        g.failing += usize::from(fails);
        if slack < g.worst_slack_ns {
            g.worst_slack_ns = slack;
            g.delay_ns = delay * scale_ns;
            g.routing_ns = a.route_ps * scale_ns;
            g.cells = a.cells;
        }
    }
    let mut groups: Vec<EndpointGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| {
        a.worst_slack_ns
            .total_cmp(&b.worst_slack_ns)
            .then(b.failing.cmp(&a.failing))
            .then(a.from.cmp(&b.from))
            .then(a.to.cmp(&b.to))
            .then(a.pin.cmp(&b.pin))
    });
    groups.truncate(MAX_GROUPS);
    Ok(RoutedTiming {
        period_ns,
        endpoints,
        failing,
        worst_slack_ns: if endpoints == 0 { period_ns } else { worst },
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two registers `a` and `b` and a RAM: a -> LUT -> b (data), a -> b (enable),
    /// RAM -> LUT -> b, and a's output through a carry into the RAM's read address.
    const SDF: &str = r#"(DELAYFILE
  (SDFVERSION "3.0")
  (DESIGN "top")
  (DIVIDER /)
  (TIMESCALE 1ps)
  (CELL (CELLTYPE "top") (INSTANCE )
    (DELAY (ABSOLUTE
      (INTERCONNECT blk.a.q_SB_DFF_Q_DFFLC/O blk.f_SB_LUT4_O_LC/I0 (1000:1000:1000) (1000:1000:1000))
      (INTERCONNECT blk.f_SB_LUT4_O_LC/O blk.b.q_SB_DFFE_Q_LC/I2 (2000:2000:2000) (1500:1500:1500))
      (INTERCONNECT blk.a.q_SB_DFF_Q_DFFLC/O blk.b.q_SB_DFFE_Q_LC/CEN (3000:3000:3000) (3000:3000:3000))
      (INTERCONNECT mem.m.0.1_RAM/RDATA_3 blk.f_SB_LUT4_O_LC/I1 (500:500:500) (500:500:500))
      (INTERCONNECT blk.a.q_SB_DFF_Q_DFFLC/O \$nextpnr_ICESTORM_LC_0/I1 (100:100:100) (100:100:100))
      (INTERCONNECT \$nextpnr_ICESTORM_LC_0/COUT mem.m.0.1_RAM/RADDR_2 (700:700:700) (700:700:700))
    ))
  )
  (CELL (CELLTYPE "ICESTORM_LC") (INSTANCE blk.a.q_SB_DFF_Q_DFFLC)
    (DELAY (ABSOLUTE (IOPATH CLK O (540:540:540) (540:540:540))))
    (TIMINGCHECK (SETUPHOLD (posedge I0) (posedge CLK) (468:468:468) (0:0:0)))
  )
  (CELL (CELLTYPE "ICESTORM_LC") (INSTANCE blk.f_SB_LUT4_O_LC)
    (DELAY (ABSOLUTE
      (IOPATH I0 O (448:448:448) (448:448:448))
      (IOPATH I1 O (399:399:399) (399:399:399))
    ))
  )
  (CELL (CELLTYPE "ICESTORM_LC") (INSTANCE blk.b.q_SB_DFFE_Q_LC)
    (DELAY (ABSOLUTE (IOPATH (posedge CLK) O (540:540:540) (540:540:540))))
    (TIMINGCHECK
      (SETUPHOLD (posedge I2) (posedge CLK) (398:398:398) (0:0:0))
      (SETUPHOLD (negedge I2) (posedge CLK) (398:398:398) (0:0:0))
      (SETUPHOLD (posedge CEN) (posedge CLK) (100:100:100) (0:0:0))
    )
  )
  (CELL (CELLTYPE "ICESTORM_LC") (INSTANCE \$nextpnr_ICESTORM_LC_0)
    (DELAY (ABSOLUTE (IOPATH I1 COUT (259:259:259) (259:259:259))))
  )
  (CELL (CELLTYPE "ICESTORM_RAM") (INSTANCE mem.m.0.1_RAM)
    (DELAY (ABSOLUTE (IOPATH RCLK RDATA_3 (2146:2146:2146) (2146:2146:2146))))
    (TIMINGCHECK (SETUPHOLD (posedge RADDR_2) (posedge RCLK) (100:100:100) (0:0:0)))
  )
)
"#;

    fn group<'a>(t: &'a RoutedTiming, from: &str, to: &str, pin: &str) -> &'a EndpointGroup {
        t.groups
            .iter()
            .find(|g| g.from == from && g.to == to && g.pin == pin)
            .unwrap_or_else(|| panic!("no group {from} -> {to} ({pin}) in {:#?}", t.groups))
    }

    #[test]
    fn every_input_is_timed_from_its_latest_source() {
        let t = analyse(SDF, 4.0).unwrap();
        // b.I2, b.CEN and the RAM's read address have arrivals; a.I0 has none.
        assert_eq!(t.endpoints, 3);
        // b.I2: the RAM's path (2146 + 500 + 399) is later than a's (540 + 1000 +
        // 448); then the net's worse edge (2000) and the setup (398): 5443 ps.
        let d = group(&t, "mem.m", "blk.b", "data");
        assert!((d.delay_ns - (2.146 + 0.5 + 0.399 + 2.0 + 0.398)).abs() < 1e-9);
        assert!((d.routing_ns - 2.5).abs() < 1e-9);
        assert_eq!(d.cells, 2);
        assert_eq!((d.endpoints, d.failing), (1, 1));
        let e = group(&t, "blk.a", "blk.b", "enable");
        assert!((e.delay_ns - 3.64).abs() < 1e-9);
        assert_eq!(e.failing, 0);
        let r = group(&t, "blk.a", "mem.m", "read address");
        assert!((r.delay_ns - (0.54 + 0.1 + 0.259 + 0.7 + 0.1)).abs() < 1e-9);
        assert_eq!(t.failing, 1);
        assert!((t.worst_slack_ns - (4.0 - 5.443)).abs() < 1e-9);
        assert!((t.worst_delay_ns() - 5.443).abs() < 1e-9);
        // Worst first.
        assert_eq!(t.groups[0].to, "blk.b");
        assert_eq!(t.groups[0].pin, "data");
        let s = t.summary(5);
        assert!(
            s.starts_with("routed endpoints: 1 of 3 inputs miss 4.00 ns"),
            "{s}"
        );
        assert!(s.contains("mem.m -> blk.b (data)"), "{s}");
    }

    #[test]
    fn a_met_design_has_no_failing_inputs() {
        let t = analyse(SDF, 10.0).unwrap();
        assert_eq!(t.failing, 0);
        assert!(t
            .groups
            .iter()
            .all(|g| g.failing == 0 && g.worst_slack_ns > 0.0));
    }

    #[test]
    fn register_names_drop_what_synthesis_and_packing_add() {
        for (cell, reg) in [
            (
                "link.frame.rstate.q_SB_DFFESR_Q_2_D_SB_LUT4_O_LC",
                "link.frame.rstate",
            ),
            (
                "core.argmax.cand_ch.q_SB_DFFE_Q_3_DFFLC",
                "core.argmax.cand_ch",
            ),
            ("core.rowmem.mem0.0.8_RAM", "core.rowmem.mem0"),
            ("core.neuron.s0_sp.d_SB_LUT4_O_6_LC", "core.neuron.s0_sp"),
            (
                "core.seq.ch_next_SB_LUT4_O_I3_SB_CARRY_CO_6$CARRY",
                "core.seq.ch_next",
            ),
            ("$nextpnr_ICESTORM_LC_65", "$nextpnr_ICESTORM_LC_65"),
        ] {
            assert_eq!(register_of(cell), reg, "{cell}");
        }
    }

    #[test]
    fn bad_sdf_is_an_error_not_a_panic() {
        let cut = &SDF[..SDF.len() / 2];
        assert_eq!(
            analyse(cut, 10.0).unwrap_err(),
            SdfError::Malformed("truncated: a list is not closed".into())
        );
        assert!(matches!(
            analyse("(DESIGN x)", 10.0),
            Err(SdfError::Malformed(_))
        ));
        assert!(matches!(analyse("", 10.0), Err(SdfError::Malformed(_))));
        assert!(matches!(
            analyse("(DELAYFILE))", 10.0),
            Err(SdfError::Malformed(_))
        ));
        let looped = r#"(DELAYFILE (TIMESCALE 1ps)
          (CELL (CELLTYPE "top") (INSTANCE ) (DELAY (ABSOLUTE
            (INTERCONNECT x/O y/I0 (1:1:1))
            (INTERCONNECT y/O x/I0 (1:1:1)))))
          (CELL (CELLTYPE "ICESTORM_LC") (INSTANCE x) (DELAY (ABSOLUTE (IOPATH I0 O (1:1:1)))))
          (CELL (CELLTYPE "ICESTORM_LC") (INSTANCE y) (DELAY (ABSOLUTE (IOPATH I0 O (1:1:1))))))"#;
        assert!(matches!(analyse(looped, 10.0), Err(SdfError::Loop(_))));
    }

    #[test]
    fn every_cut_of_a_file_is_an_answer_not_a_panic() {
        // A file cut anywhere (a run stopped while nextpnr wrote it) either reads or
        // says why; the whole file reads.
        for end in 0..SDF.len() {
            if let Ok(t) = analyse(&SDF[..end], 10.0) {
                assert!(t.endpoints <= 3);
            }
        }
        // SDF escapes: one in front of an ASCII character, one in front of a character
        // of two bytes.
        let odd = SDF.replace("blk.b", "bl\\k.\\\u{e9}b");
        assert_eq!(analyse(&odd, 10.0).map(|t| t.endpoints), Ok(3));
    }
}
