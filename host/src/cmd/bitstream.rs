//! `revspike bitstream`: builds the FPGA bitstream of a named build with the
//! yosys / nextpnr-ice40 / icepack flow (`revspike_hdl::flow`) and writes the
//! bitstream, `report.json` and `report.txt`.

use anyhow::{bail, Context, Result};
use clap::Args;
use revspike_hdl::flow::{
    self, BitstreamReport, FlowOptions, Ice40Device, Placer, SynthesisEstimate,
};
use revspike_hdl::seed_sweep::{parse_seeds, SeedRow, SeedSweep};
use revspike_proto::build::CU;
use std::path::{Path, PathBuf};

/// Builds with a board top level, and what each one is.
pub const BOARD_BUILDS: [(&str, &str); 2] = [
    ("cu", "the revspike accelerator on the Alchitry Cu"),
    (
        "board-check",
        "Alchitry Cu bring-up: LEDs count, the USB-UART echoes",
    ),
];

/// Arguments of `revspike bitstream`.
#[derive(Debug, Clone, Args)]
pub struct BitstreamArgs {
    /// Build to make the bitstream of: `cu` (the accelerator) or `board-check` (LED
    /// counter + UART echo, for bring-up).
    #[arg(long, default_value = "cu")]
    pub build: String,
    /// Output directory [default: bitstreams/BOARD, e.g. bitstreams/alchitry-cu, or
    /// bitstreams/BOARD/BUILD for other builds].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// nextpnr placer seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Place and route at each of these seeds (`1-6`, `1,4,9-11`), each into
    /// OUT/seed-N, and print a table of what each reached; succeeds when at least one
    /// seed meets the clock.
    #[arg(long, value_name = "LIST", conflicts_with_all = ["seed", "estimate"])]
    pub seeds: Option<String>,
    /// nextpnr placer: heap, sa or static (static needs nextpnr 0.5 or later, as
    /// scripts/bitstream.sh installs) [default: nextpnr's own].
    #[arg(long, value_name = "PLACER")]
    pub placer: Option<Placer>,
    /// Target clock frequency in MHz; a clock that misses it fails the build.
    #[arg(long, default_value_t = 100.0)]
    pub freq: f64,
    /// Print report.json to stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Synthesize only and print the pre-placement depth estimate and the logic cells
    /// by block (seconds to minutes, instead of place and route); writes
    /// build/depth.json and build/cells.json.
    #[arg(long)]
    pub estimate: bool,
}

impl BitstreamArgs {
    /// The output directory this invocation writes to.
    pub fn out_dir(&self) -> PathBuf {
        match &self.out {
            Some(p) => p.clone(),
            None if self.build == "cu" => PathBuf::from("bitstreams").join(CU.board().name),
            None => PathBuf::from("bitstreams")
                .join(CU.board().name)
                .join(&self.build),
        }
    }
}

/// The Alchitry Cu build's board top level: the link in front of the spiking core.
fn cu_top() -> impl flow::Block {
    revspike_hdl::top::cu_top()
}

/// Whether `cu_top` is still the board check stand-in.
fn cu_top_is_stand_in() -> bool {
    type_name_of(&cu_top()).ends_with("BoardCheckTop")
}

fn type_name_of<T>(_: &T) -> &'static str {
    std::any::type_name::<T>()
}

/// What to do with a board top level: the whole flow, or synthesis and the
/// depth estimate only.
trait FlowStep {
    type Out;
    fn run<B: flow::Block>(
        self,
        top: B,
        out: &Path,
        opts: &FlowOptions,
    ) -> flow::FlowResult<Self::Out>;
}

struct FullFlow;

impl FlowStep for FullFlow {
    type Out = BitstreamReport;
    fn run<B: flow::Block>(
        self,
        top: B,
        out: &Path,
        opts: &FlowOptions,
    ) -> flow::FlowResult<BitstreamReport> {
        flow::build_bitstream(top, out, opts)
    }
}

struct Estimate;

impl FlowStep for Estimate {
    type Out = SynthesisEstimate;
    fn run<B: flow::Block>(
        self,
        top: B,
        out: &Path,
        opts: &FlowOptions,
    ) -> flow::FlowResult<SynthesisEstimate> {
        flow::estimate_synthesis(top, out, opts)
    }
}

/// Runs `step` on the top level of the named build.
fn on_build<S: FlowStep>(step: S, build: &str, out: &Path, opts: &FlowOptions) -> Result<S::Out> {
    let result = match build {
        "cu" => step.run(cu_top(), out, opts),
        "board-check" => step.run(flow::BoardCheckTop::default(), out, opts),
        other => {
            let known: Vec<String> = BOARD_BUILDS
                .iter()
                .map(|(n, what)| format!("{n} ({what})"))
                .collect();
            bail!(
                "build `{other}` has no board top level; known: {}",
                known.join(", ")
            );
        }
    };
    Ok(result?)
}

fn build_named(build: &str, out: &Path, opts: &FlowOptions) -> Result<BitstreamReport> {
    on_build(FullFlow, build, out, opts)
}

/// Runs `revspike bitstream`.
pub fn run(args: &BitstreamArgs) -> Result<()> {
    let out = args.out_dir();
    let opts = FlowOptions {
        build: args.build.clone(),
        device: Ice40Device::of_board(CU.board()),
        package: CU.board().package.into(),
        freq_mhz: args.freq,
        seed: args.seed,
        placer: args.placer,
        command_line: Some(command_line()),
        ..FlowOptions::default()
    };
    if args.build == "cu" && cu_top_is_stand_in() {
        super::note(format_args!(
            "note: the cu top level is not wired in yet; building the board check design \
             (LED counter + UART echo) as revspike-cu.bin"
        ));
    }
    if args.estimate {
        let estimate = on_build(Estimate, &args.build, &out, &opts)
            .with_context(|| format!("estimate of build `{}`", args.build))?;
        let text = if args.json {
            serde_json::to_string_pretty(&estimate)? + "\n"
        } else {
            estimate.summary(20)
        };
        return super::write_out(None, &text);
    }
    if let Some(list) = &args.seeds {
        let seeds = parse_seeds(list).map_err(anyhow::Error::msg)?;
        let sweep = sweep(&args.build, &seeds, &out, &opts)?;
        let text = if args.json {
            serde_json::to_string_pretty(&sweep)? + "\n"
        } else {
            sweep.summary()
        };
        super::write_out(None, &text)?;
        return match sweep.best() {
            Some(b) if sweep.met() == 0 => bail!(
                "build `{}`: no seed met {} MHz (best {:.1} MHz at seed {})",
                args.build,
                args.freq,
                b.fmax_mhz,
                b.seed
            ),
            _ => Ok(()),
        };
    }
    let report = build_named(&args.build, &out, &opts)
        .with_context(|| format!("bitstream of build `{}`", args.build))?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.summary()
    };
    super::write_out(None, &text)
}

/// Runs the flow at each seed into `out/seed-N`. A seed that misses the clock is a row
/// of the table; any other failure (a tool missing, the design not fitting) stops the
/// sweep, since every seed would fail the same way.
fn sweep(build: &str, seeds: &[u64], out: &Path, opts: &FlowOptions) -> Result<SeedSweep> {
    let mut sweep = SeedSweep {
        target_mhz: opts.freq_mhz,
        rows: Vec::new(),
    };
    for (i, &seed) in seeds.iter().enumerate() {
        let dir = out.join(format!("seed-{seed}"));
        if opts.progress {
            super::note(format_args!(
                "[seed {}/{}] place and route at seed {seed} into {} ...",
                i + 1,
                seeds.len(),
                dir.display()
            ));
        }
        let one = FlowOptions {
            seed,
            progress: false,
            ..opts.clone()
        };
        let report = match build_named(build, &dir, &one) {
            Ok(r) => r,
            Err(e) => match e.downcast_ref::<flow::FlowError>() {
                Some(flow::FlowError::TimingFailure { report, .. }) => flow::read_report(report)?,
                _ => return Err(e.context(format!("bitstream of build `{build}` at seed {seed}"))),
            },
        };
        let row = SeedRow::of(&report, dir);
        if opts.progress {
            super::note(format_args!("      {}", row.line()));
        }
        sweep.rows.push(row);
    }
    Ok(sweep)
}

fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(build: &str) -> BitstreamArgs {
        BitstreamArgs {
            build: build.into(),
            out: None,
            seed: 1,
            seeds: None,
            placer: None,
            freq: 100.0,
            json: false,
            estimate: false,
        }
    }

    #[test]
    fn a_seed_sweep_runs_each_seed_into_its_own_directory() {
        let dir = std::env::temp_dir().join(format!("revspike-cli-seeds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = FlowOptions {
            build: "board-check".into(),
            progress: false,
            ..FlowOptions::default()
        };
        let s = sweep("board-check", &[3, 1], &dir, &opts).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            s.rows.iter().map(|r| r.seed).collect::<Vec<_>>(),
            vec![3, 1]
        );
        for r in &s.rows {
            assert!(r.met && r.fmax_mhz > 100.0, "{r:?}");
            let report = flow::read_report(&r.dir.join("report.json")).unwrap();
            assert_eq!(report.seed, r.seed);
            assert!(r.dir.join("revspike-board-check.bin").exists());
        }
        assert_eq!(s.met(), 2);
        // Every seed misses an impossible clock: the rows say so, from each seed's report.
        let fast = FlowOptions {
            freq_mhz: 2000.0,
            ..opts
        };
        let s = sweep("board-check", &[1, 2], &dir, &fast).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(s.met(), 0);
        assert!(s.rows.iter().all(|r| !r.met && r.fmax_mhz < 2000.0));
        assert!(!dir.join("seed-1/revspike-board-check.bin").exists());
        assert!(s.summary().contains("0 of 2 seeds meet 2000 MHz"));
        let mut a = args("board-check");
        a.out = Some(dir.clone());
        a.freq = 2000.0;
        a.seeds = Some("1".into());
        let e = run(&a).unwrap_err().to_string();
        assert!(
            e.starts_with("build `board-check`: no seed met 2000 MHz (best"),
            "{e}"
        );
        a.seeds = Some("2-1".into());
        assert!(run(&a).unwrap_err().to_string().contains("runs backwards"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_output_directories() {
        assert_eq!(
            args("cu").out_dir(),
            PathBuf::from("bitstreams/alchitry-cu")
        );
        assert_eq!(
            args("board-check").out_dir(),
            PathBuf::from("bitstreams/alchitry-cu/board-check")
        );
        let mut a = args("cu");
        a.out = Some(PathBuf::from("/tmp/x"));
        assert_eq!(a.out_dir(), PathBuf::from("/tmp/x"));
    }

    #[test]
    fn unknown_build_is_an_error_naming_the_known_ones() {
        let e = build_named("small", Path::new("/nonexistent"), &FlowOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("build `small` has no board top level; known: cu (")
                && e.contains("board-check ("),
            "{e}"
        );
    }

    /// What `on_build` would run the flow on, without running it.
    struct TopType;

    impl FlowStep for TopType {
        type Out = &'static str;
        fn run<B: flow::Block>(
            self,
            _: B,
            _: &Path,
            _: &FlowOptions,
        ) -> flow::FlowResult<&'static str> {
            Ok(std::any::type_name::<B>())
        }
    }

    #[test]
    fn each_board_build_gets_the_top_level_of_its_own_shape() {
        let on = |b: &str| {
            on_build(
                TopType,
                b,
                Path::new("/nonexistent"),
                &FlowOptions::default(),
            )
        };
        // The Cu's top level has the core of the Cu build's shape, stem unit included.
        let top = on("cu").unwrap();
        assert!(top.ends_with("Top<32, 64, 1>"), "{top}");
        assert_eq!((CU.lanes, CU.row_bits, CU.stem), (32, 64, true));
        assert!(on("board-check").unwrap().ends_with("BoardCheckTop"));
        for (name, _) in BOARD_BUILDS {
            assert!(on(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn estimate_synthesizes_only_and_reports_depth() {
        let dir =
            std::env::temp_dir().join(format!("revspike-cli-estimate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let estimate = on_build(Estimate, "board-check", &dir, &FlowOptions::default())
            .unwrap_or_else(|e| panic!("{e:#}"));
        let depth = &estimate.depth;
        assert!(depth.endpoints > 0 && !depth.blocks.is_empty());
        assert!(dir.join("build/depth.json").exists());
        // The logic cells by block add up, and the file says the same.
        let cells = &estimate.cells;
        let sum: usize = cells.blocks.iter().map(|b| b.logic_cells()).sum();
        assert!(sum > 0 && sum == cells.total.logic_cells());
        assert!(cells.total.luts > 0 && cells.total.flip_flops > 0);
        let file: revspike_hdl::cell_usage::CellUsage =
            serde_json::from_str(&std::fs::read_to_string(dir.join("build/cells.json")).unwrap())
                .unwrap();
        assert_eq!(&file, cells);
        assert!(estimate
            .summary(5)
            .contains("logic cells before placement: about"));
        assert!(
            !dir.join("build/nextpnr.log").exists(),
            "no place and route"
        );
        let e = on_build(Estimate, "small", &dir, &FlowOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("build `small` has no board top level"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn board_check_build_writes_bitstream_and_report() {
        let dir =
            std::env::temp_dir().join(format!("revspike-cli-bitstream-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = args("board-check");
        a.out = Some(dir.clone());
        a.placer = Some(Placer::Heap);
        run(&a).unwrap_or_else(|e| panic!("{e:#}"));
        let report = flow::read_report(&dir.join("report.json")).unwrap();
        assert_eq!(report.build, "board-check");
        // The placer reached nextpnr and the report names it.
        assert_eq!(report.placer, Some(Placer::Heap));
        let pnr: Vec<&String> = report
            .commands
            .iter()
            .filter(|c| c.contains(" --seed 1 "))
            .collect();
        assert!(
            pnr.len() == 1 && pnr[0].ends_with(" --placer heap"),
            "{:?}",
            report.commands
        );
        assert!(report.top.ends_with("BoardCheckTop"));
        assert!(report.timing_met && report.resources.logic_cells.used > 0);
        let bin = std::fs::metadata(dir.join("revspike-board-check.bin")).unwrap();
        assert_eq!(Some(bin.len()), report.bitstream.map(|b| b.bytes));
        assert!(report.command_line.is_some());
        // The pre-placement estimate ran on the real netlist and agrees in kind
        // with place and route: a design that met 100 MHz has shallow paths.
        let depth = report.depth.expect("depth estimate in the report");
        assert!(depth.endpoints > 0 && !depth.blocks.is_empty());
        assert!(
            depth.worst_ns() > 0.0 && depth.worst_ns() < 12.0,
            "{}",
            depth.worst_ns()
        );
        let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        assert!(text.contains("pre-placement estimate"), "{text}");
        assert!(text.contains(", seed 1, placer heap\n"), "{text}");
        // The endpoint pass over the routed delays times every input and finds the
        // same worst path as nextpnr: its slack is the clock's slack.
        let ends = report.endpoints.expect("endpoint timing in the report");
        assert!(ends.endpoints > 0 && ends.failing == 0 && !ends.groups.is_empty());
        let clock = &report.clocks[0];
        assert!(
            (ends.worst_slack_ns - clock.slack_ns).abs() < 0.02,
            "{} against nextpnr's {}",
            ends.worst_slack_ns,
            clock.slack_ns
        );
        assert!(text.contains("routed endpoints: 0 of"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
