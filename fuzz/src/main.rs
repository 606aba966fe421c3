//! `revspike-fuzz`: runs the fuzz targets and prints executions, panics, hangs
//! and peak memory per target.
//!
//! `cargo run --release -p revspike-fuzz -- --execs 1000000` runs every target,
//! each in a process of its own (so each peak memory figure is its own), and
//! exits non-zero when any target panicked or hung. Findings are saved under
//! `--out` (default target/fuzz-findings); a file there can be replayed with
//! `--replay FILE --target NAME` and kept as a regression seed in
//! fuzz/seeds/NAME/.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use revspike_fuzz::{fuzz, targets, Options, Report};

#[derive(Parser, Debug)]
#[command(
    name = "revspike-fuzz",
    about = "Mutation fuzzing of revspike's parsers"
)]
struct Args {
    /// Cases per target.
    #[arg(long, default_value_t = 100_000)]
    execs: u64,
    /// RNG seed (a run is reproducible from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Targets to run (default: all).
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// A case slower than this counts as a hang, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    case_limit_ms: u64,
    /// Where findings are saved.
    #[arg(long, default_value = "target/fuzz-findings")]
    out: PathBuf,
    /// Run the targets in this process (one JSON line each) instead of a child each.
    #[arg(long)]
    in_process: bool,
    /// Run one saved case through --target and print what happened.
    #[arg(long, value_name = "FILE", requires = "targets")]
    replay: Option<PathBuf>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("revspike-fuzz: {e:#}");
        std::process::exit(2);
    }
}

fn report_json(r: &Report) -> serde_json::Value {
    serde_json::json!({
        "target": r.target,
        "execs": r.execs,
        "accepted": r.accepted,
        "panics": r.panics,
        "hangs": r.hangs,
        "slowest_ms": r.slowest.as_secs_f64() * 1e3,
        "seconds": r.seconds,
        "execs_per_second": r.execs_per_second(),
        "peak_rss_kib": r.peak_rss_kib,
        "findings": r.findings.iter().map(|f| serde_json::json!({
            "message": f.message,
            "bytes": f.case.len(),
        })).collect::<Vec<_>>(),
    })
}

fn run() -> Result<()> {
    let a = Args::parse();
    let all = targets();
    let names: Vec<String> = if a.targets.is_empty() {
        all.iter().map(|t| t.name.to_string()).collect()
    } else {
        a.targets.clone()
    };
    for n in &names {
        if !all.iter().any(|t| t.name == n) {
            let known: Vec<&str> = all.iter().map(|t| t.name).collect();
            bail!("unknown target '{n}' (targets: {})", known.join(", "));
        }
    }
    if let Some(p) = &a.replay {
        let case = std::fs::read(p).with_context(|| format!("{}", p.display()))?;
        let t = all.iter().find(|t| t.name == names[0]).expect("checked");
        let accepted = (t.run)(&case);
        println!("{}: {} bytes, accepted: {accepted}", t.name, case.len());
        return Ok(());
    }
    let options = Options {
        execs: a.execs,
        seed: a.seed,
        case_limit: Duration::from_millis(a.case_limit_ms),
        out: Some(a.out.clone()),
        ..Options::default()
    };
    let mut rows = Vec::new();
    for n in &names {
        let t = all.iter().find(|t| t.name == n).expect("checked");
        if a.in_process {
            let r = fuzz(t, &options);
            println!("{}", report_json(&r));
            continue;
        }
        let exe = std::env::current_exe().context("own executable")?;
        let out = Command::new(exe)
            .args(["--in-process", "--target", n])
            .args([
                "--execs",
                &a.execs.to_string(),
                "--seed",
                &a.seed.to_string(),
            ])
            .args(["--case-limit-ms", &a.case_limit_ms.to_string()])
            .arg("--out")
            .arg(&a.out)
            .output()
            .context("starting a target's process")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = match text.lines().last().map(serde_json::from_str) {
            Some(Ok(v)) if out.status.success() => v,
            _ => bail!(
                "target {n}: its process failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        };
        eprintln!(
            "{n}: {} execs, {} panics, {} hangs, {:.0} s",
            v["execs"],
            v["panics"],
            v["hangs"],
            v["seconds"].as_f64().unwrap_or(0.0)
        );
        rows.push(v);
    }
    if a.in_process {
        return Ok(());
    }
    println!(
        "target   executions  accepted   panics  hangs (>{} ms)  slowest ms  execs/s  peak RSS MiB",
        a.case_limit_ms
    );
    let mut bad = 0;
    for v in &rows {
        let panics = v["panics"].as_u64().unwrap_or(0);
        let hangs = v["hangs"].as_u64().unwrap_or(0);
        bad += panics + hangs;
        println!(
            "{:<8} {:>10}  {:>8}  {:>7}  {:>14}  {:>10.1}  {:>7.0}  {:>12.1}",
            v["target"].as_str().unwrap_or("?"),
            v["execs"],
            v["accepted"],
            panics,
            hangs,
            v["slowest_ms"].as_f64().unwrap_or(0.0),
            v["execs_per_second"].as_f64().unwrap_or(0.0),
            v["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
        );
        for f in v["findings"].as_array().into_iter().flatten() {
            println!("         panic: {}", f["message"].as_str().unwrap_or("?"));
        }
    }
    let sum = |k: &str| rows.iter().map(|v| v[k].as_u64().unwrap_or(0)).sum::<u64>();
    let peak = rows
        .iter()
        .map(|v| v["peak_rss_kib"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    println!("figure: fuzz_targets {}", rows.len());
    println!("figure: fuzz_execs {}", sum("execs"));
    println!("figure: fuzz_panics {}", sum("panics"));
    println!("figure: fuzz_hangs {}", sum("hangs"));
    println!("figure: fuzz_peak_rss_mib {:.0}", peak as f64 / 1024.0);
    if bad > 0 {
        bail!(
            "{bad} panics or hangs (cases saved under {})",
            a.out.display()
        );
    }
    Ok(())
}
