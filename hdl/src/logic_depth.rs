//! Pre-placement timing estimate of a `synth_ice40` netlist, by block.
//!
//! Place and route of the Cu build takes about 20 minutes and names one critical
//! path per clock. Closing timing needs the whole picture at once: which blocks
//! have register-to-register paths too deep for the clock, and how many endpoints
//! each has. This walks the synthesized netlist (yosys' JSON) once, in well under a
//! second, and estimates the arrival time at every flip-flop and block-RAM input
//! with a fixed delay per LUT, carry step and routed net.
//!
//! The delays are iCE40-HX figures with a pessimistic routing guess (no placement
//! exists yet): on the Cu build at 94 % utilization the estimate ran about 10 %
//! above nextpnr's routed delay for the link's worst path. Use it to rank blocks
//! and to see whether a change made a path shallower, not as a sign-off.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Delay model, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DelayModel {
    pub ff_clk_to_q: f64,
    pub ebr_clk_to_data: f64,
    pub lut: f64,
    /// Carry-in to carry-out of one SB_CARRY.
    pub carry_step: f64,
    /// I0/I1 to carry-out of one SB_CARRY.
    pub carry_in: f64,
    /// A general routed net between two cells.
    pub net: f64,
    /// A carry-out feeding the next LUT's I3 (the adder's sum LUT) in the same tile.
    pub carry_to_lut: f64,
    pub setup: f64,
}

impl DelayModel {
    /// iCE40-HX: cell delays from the device's timing data, routing guessed.
    pub const HX: DelayModel = DelayModel {
        ff_clk_to_q: 0.54,
        ebr_clk_to_data: 2.25,
        lut: 0.45,
        carry_step: 0.13,
        carry_in: 0.25,
        net: 1.2,
        carry_to_lut: 0.3,
        setup: 0.3,
    };
}

/// The deepest estimated path into one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockDepth {
    /// Hierarchical prefix of the endpoint (`core.neuron`, `link.urx`).
    pub block: String,
    /// Estimated delay of the worst path ending in this block, ns.
    pub worst_ns: f64,
    /// Endpoints (flip-flop or RAM input bits) of this block over the budget.
    pub over_budget: usize,
    /// Endpoint of the worst path (`cell.port`).
    pub endpoint: String,
    /// LUT levels on the worst path (carry steps not counted).
    pub lut_levels: usize,
    /// Named nets along the worst path, source first, with their arrival times.
    pub path: Vec<(String, f64)>,
}

/// The estimate for a whole netlist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthReport {
    /// Clock period the endpoints were judged against, ns.
    pub budget_ns: f64,
    pub model: DelayModel,
    /// Flip-flop and RAM input bits examined.
    pub endpoints: usize,
    /// Of those, estimated over the budget.
    pub over_budget: usize,
    /// Every block with an endpoint, worst first.
    pub blocks: Vec<BlockDepth>,
}

impl DepthReport {
    /// Worst estimated path of the design, ns.
    pub fn worst_ns(&self) -> f64 {
        self.blocks.first().map_or(0.0, |b| b.worst_ns)
    }

    /// A few lines for a person: the `n` deepest blocks.
    pub fn summary(&self, n: usize) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "pre-placement estimate: {} of {} endpoints over {:.1} ns (worst {:.1} ns)",
            self.over_budget,
            self.endpoints,
            self.budget_ns,
            self.worst_ns()
        );
        let _ = writeln!(
            s,
            "  {:<28} {:>8} {:>6} {:>6}",
            "block", "worst", "levels", "over"
        );
        for b in self.blocks.iter().take(n) {
            let _ = writeln!(
                s,
                "  {:<28} {:>5.1} ns {:>6} {:>6}",
                b.block, b.worst_ns, b.lut_levels, b.over_budget
            );
        }
        s
    }
}

/// What went wrong reading a netlist.
#[derive(Debug, thiserror::Error)]
pub enum DepthError {
    #[error("netlist is not yosys JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("netlist has no module {0:?}")]
    NoModule(String),
}

/// A combinational driver: the cell and its (input bit, delay through the cell, is carry-in) arcs.
struct Driver {
    inputs: Vec<(u64, f64, bool)>,
}

pub(crate) fn bits(v: &Value) -> Vec<Option<u64>> {
    v.as_array()
        .map(|a| a.iter().map(|b| b.as_u64()).collect())
        .unwrap_or_default()
}

/// The first bit of a cell's port (`None`: unconnected or a constant).
pub(crate) fn port_bit(con: &serde_json::Map<String, Value>, port: &str) -> Option<u64> {
    con.get(port)
        .and_then(|v| bits(v).first().copied().flatten())
}

/// The block a net or cell belongs to: its first two hierarchy levels (`core.neuron`).
pub(crate) fn block_of(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 {
        parts[..2].join(".")
    } else {
        parts[0].to_string()
    }
}

/// Readable name of each bit of `module`: the shortest visible net name.
pub(crate) fn net_names(module: &Value) -> HashMap<u64, String> {
    let mut names: HashMap<u64, String> = HashMap::new();
    if let Some(nets) = module.get("netnames").and_then(Value::as_object) {
        for (name, net) in nets {
            let hidden = net.get("hide_name").and_then(Value::as_u64) == Some(1);
            if hidden {
                continue;
            }
            for (i, b) in bits(&net["bits"]).into_iter().enumerate() {
                if let Some(b) = b {
                    let full = if net["bits"].as_array().map_or(0, Vec::len) > 1 {
                        format!("{name}[{i}]")
                    } else {
                        name.clone()
                    };
                    let e = names.entry(b).or_insert_with(|| full.clone());
                    if full.len() < e.len() {
                        *e = full;
                    }
                }
            }
        }
    }
    names
}

/// The module `top` of a yosys JSON netlist.
pub(crate) fn top_module<'a>(doc: &'a Value, top: &str) -> Result<&'a Value, DepthError> {
    doc.get("modules")
        .and_then(|ms| ms.get(top))
        .ok_or_else(|| DepthError::NoModule(top.to_string()))
}

/// Estimates every flip-flop and RAM input of module `top` in a yosys JSON netlist
/// (after `synth_ice40`), judged against `budget_ns`.
pub fn estimate(
    json: &str,
    top: &str,
    budget_ns: f64,
    m: DelayModel,
) -> Result<DepthReport, DepthError> {
    let doc: Value = serde_json::from_str(json)?;
    let module = top_module(&doc, top)?;

    let names = net_names(module);

    let mut drivers: HashMap<u64, Driver> = HashMap::new();
    let mut sources: HashMap<u64, f64> = HashMap::new();
    let mut carry_outs: std::collections::HashSet<u64> = Default::default();
    let mut endpoints: Vec<(String, u64)> = Vec::new();
    let empty = serde_json::Map::new();
    let cells = module
        .get("cells")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (cname, cell) in cells {
        let ty = cell.get("type").and_then(Value::as_str).unwrap_or("");
        let con = cell
            .get("connections")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let one = |p: &str| port_bit(con, p);
        let endpoint_name = |port: &str| {
            let base = if cname.starts_with('$') {
                con.get(port)
                    .and_then(|v| bits(v).first().copied().flatten())
                    .and_then(|b| names.get(&b).cloned())
                    .unwrap_or_else(|| cname.clone())
            } else {
                cname.clone()
            };
            format!("{base}.{port}")
        };
        match ty {
            "SB_LUT4" => {
                if let Some(o) = one("O") {
                    let inputs = ["I0", "I1", "I2", "I3"]
                        .iter()
                        .filter_map(|p| one(p).map(|b| (b, m.lut, false)))
                        .collect();
                    drivers.insert(o, Driver { inputs });
                }
            }
            "SB_CARRY" => {
                if let Some(co) = one("CO") {
                    let mut inputs = Vec::new();
                    if let Some(b) = one("CI") {
                        inputs.push((b, m.carry_step, true));
                    }
                    for p in ["I0", "I1"] {
                        if let Some(b) = one(p) {
                            inputs.push((b, m.carry_in, false));
                        }
                    }
                    carry_outs.insert(co);
                    drivers.insert(co, Driver { inputs });
                }
            }
            t if t.starts_with("SB_DFF") => {
                if let Some(q) = one("Q") {
                    sources.insert(q, m.ff_clk_to_q);
                }
                for p in ["D", "E", "R", "S"] {
                    if let Some(b) = one(p) {
                        endpoints.push((endpoint_name(p), b));
                    }
                }
            }
            t if t.starts_with("SB_RAM40") => {
                for (p, v) in con {
                    if p == "RDATA" {
                        for b in bits(v).into_iter().flatten() {
                            sources.insert(b, m.ebr_clk_to_data);
                        }
                    } else if !p.ends_with("CLK") && !p.ends_with("CLKE") {
                        for b in bits(v).into_iter().flatten() {
                            endpoints.push((format!("{cname}.{p}"), b));
                        }
                    }
                }
            }
            _ => {
                // IO pins, global buffers, PLLs: their outputs start paths at time 0.
                for (p, v) in con {
                    let dir = cell
                        .get("port_directions")
                        .and_then(|d| d.get(p))
                        .and_then(Value::as_str);
                    if dir == Some("output") {
                        for b in bits(v).into_iter().flatten() {
                            sources.entry(b).or_insert(0.0);
                        }
                    }
                }
            }
        }
    }

    // Arrival time and predecessor of every bit, by an explicit-stack depth-first
    // walk (netlists are deep; recursion would overflow). A combinational loop
    // is cut where it closes.
    #[derive(Clone, Copy)]
    enum Mark {
        Open,
        Done(f64, Option<u64>, usize),
    }
    let mut memo: HashMap<u64, Mark> = HashMap::new();
    let arrival = |root: u64, memo: &mut HashMap<u64, Mark>| {
        let mut stack = vec![root];
        while let Some(&b) = stack.last() {
            if matches!(memo.get(&b), Some(Mark::Done(..))) {
                stack.pop();
                continue;
            }
            if let Some(&t) = sources.get(&b) {
                memo.insert(b, Mark::Done(t, None, 0));
                stack.pop();
                continue;
            }
            let Some(d) = drivers.get(&b) else {
                memo.insert(b, Mark::Done(0.0, None, 0));
                stack.pop();
                continue;
            };
            if memo.get(&b).is_none() {
                memo.insert(b, Mark::Open);
                for &(ib, _, _) in &d.inputs {
                    if memo.get(&ib).is_none() {
                        stack.push(ib);
                    }
                }
                continue;
            }
            // All inputs are done (or open on a loop, which counts as 0).
            let mut best = (0.0, None, 0);
            for &(ib, cell_delay, is_ci) in &d.inputs {
                // An input still open closes a combinational loop: cut it there.
                let Some(&Mark::Done(a, _, levels)) = memo.get(&ib) else {
                    continue;
                };
                let route = if carry_outs.contains(&ib) {
                    if is_ci {
                        0.0
                    } else {
                        m.carry_to_lut
                    }
                } else {
                    m.net
                };
                let is_lut = !carry_outs.contains(&b);
                let v = a + route + cell_delay;
                if v > best.0 {
                    best = (v, Some(ib), levels + usize::from(is_lut));
                }
            }
            memo.insert(b, Mark::Done(best.0, best.1, best.2));
            stack.pop();
        }
        match memo.get(&root) {
            Some(Mark::Done(a, _, l)) => (*a, *l),
            _ => (0.0, 0),
        }
    };

    let mut per_block: BTreeMap<String, BlockDepth> = BTreeMap::new();
    let mut over_total = 0;
    for (ep, b) in &endpoints {
        let (a, levels) = arrival(*b, &mut memo);
        let t = a + m.net + m.setup;
        let block = block_of(ep);
        let over = t > budget_ns;
        over_total += usize::from(over);
        let entry = per_block.entry(block.clone()).or_insert(BlockDepth {
            block,
            worst_ns: f64::NEG_INFINITY,
            over_budget: 0,
            endpoint: String::new(),
            lut_levels: 0,
            path: Vec::new(),
        });
        entry.over_budget += usize::from(over);
        if t > entry.worst_ns {
            entry.worst_ns = t;
            entry.endpoint = ep.clone();
            entry.lut_levels = levels;
            let mut path = Vec::new();
            let mut cur = Some(*b);
            let mut seen = std::collections::HashSet::new();
            while let Some(c) = cur.filter(|c| seen.insert(*c)) {
                let (at, prev) = match memo.get(&c) {
                    Some(Mark::Done(at, prev, _)) => (*at, *prev),
                    _ => (0.0, None),
                };
                if let Some(n) = names.get(&c) {
                    path.push((n.clone(), (at * 100.0).round() / 100.0));
                }
                cur = prev;
            }
            path.reverse();
            entry.path = path;
        }
    }
    let mut blocks: Vec<BlockDepth> = per_block.into_values().collect();
    for b in &mut blocks {
        b.worst_ns = (b.worst_ns * 100.0).round() / 100.0;
    }
    blocks.sort_by(|a, b| {
        b.worst_ns
            .total_cmp(&a.worst_ns)
            .then(a.block.cmp(&b.block))
    });
    Ok(DepthReport {
        budget_ns,
        model: m,
        endpoints: endpoints.len(),
        over_budget: over_total,
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FF a -> LUT -> LUT -> FF b, and FF a -> FF c directly, in blocks `x` and `y`.
    fn netlist() -> String {
        r#"{"modules":{"top":{
            "netnames":{
              "x.a.q":{"hide_name":0,"bits":[2]},
              "x.n1":{"hide_name":0,"bits":[3]},
              "x.n2":{"hide_name":0,"bits":[4]},
              "y.c.q":{"hide_name":0,"bits":[5]}
            },
            "cells":{
              "x.a.q_SB_DFF_Q":{"type":"SB_DFF","connections":{"C":[1],"D":[5],"Q":[2]}},
              "$abc$1":{"type":"SB_LUT4","connections":{"I0":[2],"I1":"0","O":[3]}},
              "$abc$2":{"type":"SB_LUT4","connections":{"I0":[3],"I1":[2],"O":[4]}},
              "x.b.q_SB_DFF_Q":{"type":"SB_DFF","connections":{"C":[1],"D":[4],"Q":[6]}},
              "y.c.q_SB_DFF_Q":{"type":"SB_DFF","connections":{"C":[1],"D":[2],"Q":[5]}}
            }
        }}}"#
            .to_string()
    }

    #[test]
    fn two_luts_deep_path_is_estimated_and_attributed() {
        let m = DelayModel::HX;
        let r = estimate(&netlist(), "top", 4.0, m).unwrap();
        assert_eq!(r.endpoints, 3);
        let want = m.ff_clk_to_q + 2.0 * (m.net + m.lut) + m.net + m.setup;
        let x = r.blocks.iter().find(|b| b.block == "x.b").unwrap();
        assert!((x.worst_ns - want).abs() < 0.01, "{} vs {want}", x.worst_ns);
        assert_eq!(x.lut_levels, 2);
        assert_eq!(x.over_budget, 1);
        let names: Vec<&str> = x.path.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x.a.q", "x.n1", "x.n2"]);
        // The direct FF-to-FF path is one net: under budget, and ranked below.
        let y = r.blocks.iter().find(|b| b.block == "y.c").unwrap();
        assert_eq!(y.over_budget, 0);
        assert!(y.worst_ns < x.worst_ns);
        assert_eq!(r.blocks[0].block, "x.b");
        assert_eq!(r.over_budget, 1);
        assert!(r.summary(5).contains("x.b"));
    }

    #[test]
    fn carry_chain_steps_are_cheap_and_not_levels() {
        // FF -> 8 carries chained -> LUT -> FF: one LUT level, carries at carry_step each.
        let mut cells =
            String::from(r#""src":{"type":"SB_DFF","connections":{"D":[99],"Q":[10]}},"#);
        cells.push_str(
            r#""c0":{"type":"SB_CARRY","connections":{"I0":[10],"I1":[10],"CI":"0","CO":[20]}},"#,
        );
        for i in 1..8 {
            cells.push_str(&format!(
                r#""c{i}":{{"type":"SB_CARRY","connections":{{"I0":[10],"I1":[10],"CI":[{}],"CO":[{}]}}}},"#,
                19 + i,
                20 + i
            ));
        }
        cells.push_str(r#""l":{"type":"SB_LUT4","connections":{"I3":[27],"O":[30]}},"#);
        cells.push_str(r#""dst.r_SB_DFF_Q":{"type":"SB_DFF","connections":{"D":[30],"Q":[31]}}"#);
        let json = format!(r#"{{"modules":{{"top":{{"netnames":{{}},"cells":{{{cells}}}}}}}}}"#);
        let m = DelayModel::HX;
        let r = estimate(&json, "top", 10.0, m).unwrap();
        let d = r
            .blocks
            .iter()
            .find(|b| b.block == "dst.r_SB_DFF_Q")
            .unwrap();
        let want = m.ff_clk_to_q
            + m.net
            + m.carry_in
            + 7.0 * m.carry_step
            + m.carry_to_lut
            + m.lut
            + m.net
            + m.setup;
        assert!((d.worst_ns - want).abs() < 0.01, "{} vs {want}", d.worst_ns);
        assert_eq!(d.lut_levels, 1);
    }

    #[test]
    fn a_combinational_loop_terminates() {
        let json = r#"{"modules":{"top":{"netnames":{},"cells":{
            "l1":{"type":"SB_LUT4","connections":{"I0":[3],"O":[2]}},
            "l2":{"type":"SB_LUT4","connections":{"I0":[2],"O":[3]}},
            "f.q":{"type":"SB_DFF","connections":{"D":[3],"Q":[4]}}
        }}}}"#;
        let r = estimate(json, "top", 10.0, DelayModel::HX).unwrap();
        assert_eq!(r.endpoints, 1);
        assert!(r.worst_ns().is_finite());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            estimate("not json", "top", 10.0, DelayModel::HX),
            Err(DepthError::Json(_))
        ));
        assert!(matches!(
            estimate(r#"{"modules":{}}"#, "top", 10.0, DelayModel::HX),
            Err(DepthError::NoModule(_))
        ));
    }
}
