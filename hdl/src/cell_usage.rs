//! Logic cells by block of a `synth_ice40` netlist, before placement.
//!
//! Fitting a build into the HX8K's 7,680 logic cells needs to know where they go, and
//! nextpnr only reports the total. An iCE40 logic cell holds one LUT4, one flip-flop
//! and one carry step, and nextpnr packs a flip-flop with the LUT that drives it only
//! when that LUT drives nothing else; so a block costs its LUTs, plus each flip-flop
//! loaded from anywhere else (a memory's read-out, another flip-flop, a LUT with other
//! loads: a delay line costs a cell per bit), plus each carry step with no LUT of its
//! own. On the Cu builds that lands within half a percent of nextpnr's packed total.
//!
//! Blocks are named as in the depth estimate ([`crate::logic_depth`]), from the net a
//! cell drives. yosys names the LUTs it makes after what they feed, so logic between
//! two blocks (a multiplexer or an OR tree in front of a block's input) counts in the
//! block it feeds: the PE array's read-out tree, for one, counts in the neuron unit.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::logic_depth::{bits, block_of, net_names, port_bit, top_module, DepthError};

/// The cells of one block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCells {
    /// Hierarchical prefix (`core.neuron`, `link.srx`), as in the depth estimate.
    pub block: String,
    pub luts: usize,
    pub flip_flops: usize,
    /// Flip-flops with no LUT of their own to share a cell with.
    pub flip_flops_alone: usize,
    /// Carry steps with no LUT of their own (compares, counters' carry-outs).
    pub carries_alone: usize,
}

impl BlockCells {
    /// Logic cells this block takes.
    pub fn logic_cells(&self) -> usize {
        self.luts + self.flip_flops_alone + self.carries_alone
    }

    fn add(&mut self, o: &BlockCells) {
        self.luts += o.luts;
        self.flip_flops += o.flip_flops;
        self.flip_flops_alone += o.flip_flops_alone;
        self.carries_alone += o.carries_alone;
    }
}

/// A whole netlist's cells, by block, largest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellUsage {
    pub total: BlockCells,
    pub blocks: Vec<BlockCells>,
}

impl CellUsage {
    /// The `n` largest blocks for a person, against `device_cells` logic cells.
    pub fn summary(&self, n: usize, device_cells: usize) -> String {
        use std::fmt::Write;
        let pct = |c: usize| 100.0 * c as f64 / device_cells.max(1) as f64;
        let mut s = String::new();
        let t = &self.total;
        let _ = writeln!(
            s,
            "logic cells before placement: about {} of {} ({:.0} %): {} LUT4s, {} flip-flops \
             ({} without a LUT of their own), {} carries without one",
            t.logic_cells(),
            device_cells,
            pct(t.logic_cells()),
            t.luts,
            t.flip_flops,
            t.flip_flops_alone,
            t.carries_alone
        );
        let _ = writeln!(
            s,
            "  {:<28} {:>6} {:>6} {:>6} {:>9}",
            "block", "cells", "LUT4", "FF", "FF alone"
        );
        let mut row = |name: &str, b: &BlockCells| {
            let _ = writeln!(
                s,
                "  {:<28} {:>6} {:>6} {:>6} {:>9}",
                name,
                b.logic_cells(),
                b.luts,
                b.flip_flops,
                b.flip_flops_alone
            );
        };
        for b in self.blocks.iter().take(n) {
            row(&b.block, b);
        }
        if self.blocks.len() > n {
            let mut rest = BlockCells::default();
            for b in &self.blocks[n..] {
                rest.add(b);
            }
            row(&format!("({} more blocks)", self.blocks.len() - n), &rest);
        }
        s
    }
}

/// Counts the logic cells of module `top` in a yosys JSON netlist (after
/// `synth_ice40`), by block.
pub fn cell_usage(json: &str, top: &str) -> Result<CellUsage, DepthError> {
    let doc: Value = serde_json::from_str(json)?;
    let module = top_module(&doc, top)?;
    let names = net_names(module);
    let empty = serde_json::Map::new();
    let cells = module
        .get("cells")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    // Who drives each bit (cell type) and how many cell inputs load it.
    let mut driver: HashMap<u64, &str> = HashMap::new();
    let mut loads: HashMap<u64, usize> = HashMap::new();
    // A LUT's (I1, I2, I3): a carry step with the same (I0, I1, CI) shares its cell.
    let mut lut_carry_inputs: HashSet<[Option<u64>; 3]> = HashSet::new();
    for cell in cells.values() {
        let ty = cell.get("type").and_then(Value::as_str).unwrap_or("");
        let Some(con) = cell.get("connections").and_then(Value::as_object) else {
            continue;
        };
        for (port, v) in con {
            let dir = cell
                .get("port_directions")
                .and_then(|d| d.get(port))
                .and_then(Value::as_str);
            let output = match dir {
                Some(d) => d == "output",
                None => matches!(port.as_str(), "O" | "Q" | "CO" | "RDATA"),
            };
            for b in bits(v).into_iter().flatten() {
                if output {
                    driver.insert(b, ty);
                } else {
                    *loads.entry(b).or_default() += 1;
                }
            }
        }
        if ty == "SB_LUT4" {
            let one = |p: &str| port_bit(con, p);
            lut_carry_inputs.insert([one("I1"), one("I2"), one("I3")]);
        }
    }

    let mut per_block: BTreeMap<String, BlockCells> = BTreeMap::new();
    for (cname, cell) in cells {
        let ty = cell.get("type").and_then(Value::as_str).unwrap_or("");
        let Some(con) = cell.get("connections").and_then(Value::as_object) else {
            continue;
        };
        let one = |p: &str| port_bit(con, p);
        let block = |out: Option<u64>| {
            block_of(
                out.and_then(|b| names.get(&b))
                    .map_or(cname.as_str(), String::as_str),
            )
        };
        match ty {
            "SB_LUT4" => bump(&mut per_block, block(one("O")), |c| c.luts += 1),
            t if t.starts_with("SB_DFF") => {
                let d = one("D");
                let packs = d.is_some_and(|d| {
                    driver.get(&d) == Some(&"SB_LUT4") && loads.get(&d) == Some(&1)
                });
                bump(&mut per_block, block(one("Q")), |c| {
                    c.flip_flops += 1;
                    c.flip_flops_alone += usize::from(!packs);
                });
            }
            "SB_CARRY" if !lut_carry_inputs.contains(&[one("I0"), one("I1"), one("CI")]) => {
                bump(&mut per_block, block(one("CO")), |c| c.carries_alone += 1);
            }
            _ => {}
        }
    }
    let mut blocks: Vec<BlockCells> = per_block.into_values().collect();
    blocks.sort_by(|a, b| {
        b.logic_cells()
            .cmp(&a.logic_cells())
            .then(a.block.cmp(&b.block))
    });
    let mut total = BlockCells {
        block: "total".into(),
        ..BlockCells::default()
    };
    for b in &blocks {
        total.add(b);
    }
    Ok(CellUsage { total, blocks })
}

fn bump(
    per_block: &mut BTreeMap<String, BlockCells>,
    block: String,
    f: impl FnOnce(&mut BlockCells),
) {
    f(per_block
        .entry(block.clone())
        .or_insert_with(|| BlockCells {
            block,
            ..BlockCells::default()
        }));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Block `a`: a LUT that only feeds a flip-flop (one cell), a LUT that feeds a
    /// flip-flop and another LUT (the flip-flop needs a cell of its own), and a
    /// flip-flop loaded from a memory's read-out. Block `b`: a two-flip-flop delay
    /// line and an adder step (carry + sum LUT, one cell) beside a compare's carry
    /// with no LUT.
    fn netlist() -> String {
        r#"{"modules":{"top":{
            "netnames":{
              "a.x.o":{"hide_name":0,"bits":[10]},
              "a.y.o":{"hide_name":0,"bits":[11]},
              "a.r.q":{"hide_name":0,"bits":[12,13,14]},
              "a.m.o":{"hide_name":0,"bits":[15]},
              "b.d.q":{"hide_name":0,"bits":[20,21]},
              "b.sum.o":{"hide_name":0,"bits":[22]},
              "b.co.o":{"hide_name":0,"bits":[23,24]},
              "$hidden":{"hide_name":1,"bits":[12]}
            },
            "cells":{
              "l1":{"type":"SB_LUT4","connections":{"I0":[2],"I1":[3],"O":[10]}},
              "f1":{"type":"SB_DFF","connections":{"C":[1],"D":[10],"Q":[12]}},
              "l2":{"type":"SB_LUT4","connections":{"I0":[2],"O":[11]}},
              "f2":{"type":"SB_DFFE","connections":{"C":[1],"E":[3],"D":[11],"Q":[13]}},
              "l3":{"type":"SB_LUT4","connections":{"I0":[11],"O":[15]}},
              "ram":{"type":"SB_RAM40_4K","connections":{"RCLK":[1],"RDATA":[30]}},
              "f3":{"type":"SB_DFF","connections":{"C":[1],"D":[30],"Q":[14]}},
              "d0":{"type":"SB_DFF","connections":{"C":[1],"D":[12],"Q":[20]}},
              "d1":{"type":"SB_DFF","connections":{"C":[1],"D":[20],"Q":[21]}},
              "c0":{"type":"SB_CARRY","connections":{"I0":[20],"I1":[21],"CI":"0","CO":[23]}},
              "s0":{"type":"SB_LUT4","connections":{"I0":"0","I1":[20],"I2":[21],"I3":"0","O":[22]}},
              "c1":{"type":"SB_CARRY","connections":{"I0":[21],"I1":[2],"CI":[23],"CO":[24]}}
            }
        }}}"#
            .to_string()
    }

    #[test]
    fn cells_are_counted_the_way_they_pack() {
        let u = cell_usage(&netlist(), "top").unwrap();
        let a = u.blocks.iter().find(|b| b.block == "a.r").unwrap();
        assert_eq!((a.flip_flops, a.flip_flops_alone), (3, 2), "{a:?}");
        let ax = u.blocks.iter().find(|b| b.block == "a.x").unwrap();
        let ay = u.blocks.iter().find(|b| b.block == "a.y").unwrap();
        let am = u.blocks.iter().find(|b| b.block == "a.m").unwrap();
        assert_eq!((ax.luts, ay.luts, am.luts), (1, 1, 1));
        let d = u.blocks.iter().find(|b| b.block == "b.d").unwrap();
        assert_eq!((d.flip_flops, d.flip_flops_alone), (2, 2), "a delay line");
        let co = u.blocks.iter().find(|b| b.block == "b.co").unwrap();
        assert_eq!(co.carries_alone, 1, "only the carry without its own LUT");
        assert_eq!(u.total.luts, 4);
        assert_eq!(u.total.flip_flops, 5);
        assert_eq!(u.total.flip_flops_alone, 4);
        assert_eq!(u.total.logic_cells(), 4 + 4 + 1);
        // Largest first, and the summary names them with the rest folded.
        assert_eq!(u.blocks[0].logic_cells(), 2);
        let s = u.summary(2, 100);
        assert!(
            s.starts_with("logic cells before placement: about 9 of 100 (9 %)"),
            "{s}"
        );
        assert!(
            s.contains(&format!("({} more blocks)", u.blocks.len() - 2)),
            "{s}"
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(cell_usage("[", "top"), Err(DepthError::Json(_))));
        assert!(matches!(
            cell_usage(r#"{"modules":{"other":{}}}"#, "top"),
            Err(DepthError::NoModule(_))
        ));
        let empty = cell_usage(r#"{"modules":{"top":{}}}"#, "top").unwrap();
        assert_eq!(empty.total.logic_cells(), 0);
        assert!(empty.blocks.is_empty());
    }
}
