//! `yosys synth_ice40` on emitted Verilog: cell counts and a latch check.

use std::fmt;
use std::process::Command;

/// iCE40 cell counts after synthesis.
#[derive(Debug, Default, Clone)]
pub struct Ice40Stats {
    pub luts: usize,
    pub flops: usize,
    pub carries: usize,
    pub rams: usize,
    pub cells: usize,
    pub latches: usize,
}

impl fmt::Display for Ice40Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cells: {} LUT4, {} DFF, {} CARRY, {} RAM, {} latches",
            self.cells, self.luts, self.flops, self.carries, self.rams, self.latches
        )
    }
}

/// Synthesize `verilog` (top module `top`) for iCE40 and count cells.
pub fn ice40_stats(name: &str, verilog: &str) -> Result<Ice40Stats, String> {
    let dir = std::env::temp_dir().join(format!("revspike_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("top.v"), verilog).map_err(|e| e.to_string())?;
    let out = Command::new("yosys")
        .current_dir(&dir)
        .arg("-q")
        .arg("-p")
        .arg("read_verilog top.v; synth_ice40 -top top; tee -o stat.txt stat")
        .output()
        .map_err(|e| format!("running yosys: {e}"))?;
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("yosys failed: {log}"));
    }
    let stat = std::fs::read_to_string(dir.join("stat.txt")).map_err(|e| e.to_string())?;
    let mut s = Ice40Stats::default();
    for line in stat.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() == 2 {
            let n: usize = t[1].parse().unwrap_or(0);
            match t[0] {
                "SB_LUT4" => s.luts += n,
                "SB_CARRY" => s.carries += n,
                x if x.starts_with("SB_DFF") => s.flops += n,
                x if x.starts_with("SB_RAM") => s.rams += n,
                x if x.contains("DLATCH") || x.contains("dlatch") => s.latches += n,
                _ => {}
            }
        }
        if line.trim_start().starts_with("Number of cells:") {
            s.cells = line
                .split(':')
                .nth(1)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        }
    }
    if log.contains("Latch inferred") {
        s.latches += 1;
    }
    Ok(s)
}

/// `verilator --lint-only` on `verilog` (top module `top`): errors only, width
/// warnings are rust-hdl's style. SystemVerilog keywords used as names show up here.
pub fn verilator_lint(name: &str, verilog: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("revspike_lint_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("top.v"), verilog).map_err(|e| e.to_string())?;
    let out = Command::new("verilator")
        .current_dir(&dir)
        .args([
            "--lint-only",
            "-Wno-fatal",
            "-Wno-WIDTH",
            "--top-module",
            "top",
            "top.v",
        ])
        .output()
        .map_err(|e| format!("running verilator: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("%Error")).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}
