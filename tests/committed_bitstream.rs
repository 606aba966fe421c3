//! The committed Alchitry Cu bitstream and its report agree with each other, with the
//! current Cu build, and with the figures the READMEs quote: a bitstream rebuilt without
//! its report (or the reverse), or docs left behind, fail here.

use std::path::{Path, PathBuf};

use revspike_proto::build::CU;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn report() -> Value {
    let path = root().join("bitstreams/alchitry-cu/report.json");
    let text = std::fs::read_to_string(&path).expect("bitstreams/alchitry-cu/report.json");
    serde_json::from_str(&text).expect("the report is JSON")
}

#[test]
fn the_committed_bitstream_meets_timing_and_matches_its_report() {
    let r = report();
    assert_eq!(r["build"], "cu");
    assert_eq!(r["git_dirty"], false, "made from a clean tree");
    assert_eq!(r["timing_met"], true);
    let clocks = r["clocks"].as_array().expect("clocks");
    assert!(!clocks.is_empty());
    for c in clocks {
        let (got, want) = (c["achieved_mhz"].as_f64(), c["target_mhz"].as_f64());
        assert!(got >= want && want >= Some(100.0), "clock {c}");
    }
    let lc = &r["resources"]["logic_cells"];
    assert!(lc["used"].as_u64() <= lc["available"].as_u64(), "{lc}");
    // The routed endpoint pass agrees: no input misses the clock, and its least slack
    // is nextpnr's slack for the clock.
    let ends = &r["endpoints"];
    assert_eq!(ends["failing"], 0, "{ends}");
    assert!(ends["endpoints"].as_u64() > Some(1000), "{ends}");
    let (worst, slack) = (
        ends["worst_slack_ns"].as_f64(),
        clocks[0]["slack_ns"].as_f64(),
    );
    assert!(
        matches!((worst, slack), (Some(w), Some(s)) if (w - s).abs() < 0.02),
        "endpoint slack {worst:?} against nextpnr's {slack:?}"
    );
    // Made from the Cu build as it is now (lanes and channels).
    let top = r["top"].as_str().expect("top");
    assert!(
        top.ends_with(&format!(
            "Top<{}, {}, {}>",
            CU.lanes,
            CU.row_bits,
            usize::from(CU.stem)
        )),
        "report of {top}, but the Cu build has {} lanes",
        CU.lanes
    );
    let bin = root().join(r["bitstream"]["path"].as_str().expect("bitstream path"));
    let bytes = std::fs::read(&bin).expect("the committed .bin");
    assert_eq!(Some(bytes.len() as u64), r["bitstream"]["bytes"].as_u64());
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(Some(sha.as_str()), r["bitstream"]["sha256"].as_str());
}

#[test]
fn the_readmes_quote_the_committed_figures() {
    let r = report();
    let mhz = format!(
        "{:.1} MHz",
        r["clocks"][0]["achieved_mhz"].as_f64().unwrap()
    );
    let lc = r["resources"]["logic_cells"]["used"].as_u64().unwrap();
    let lc = format!("{},{:03}", lc / 1000, lc % 1000);
    let seed = format!("--seed {}", r["seed"]);
    // The placer, when the report names one, is part of the command that reproduces it.
    let placer = r["placer"]
        .as_str()
        .map(|p| format!("--placer {p}"))
        .unwrap_or_default();
    for doc in [
        "README.md",
        "bitstreams/alchitry-cu/README.md",
        "bitstreams/README.md",
    ] {
        let text = std::fs::read_to_string(root().join(doc)).expect(doc);
        // The bitstreams index gives the command, not the figures.
        let figures = if doc == "bitstreams/README.md" {
            vec![&seed, &placer]
        } else {
            vec![&mhz, &lc, &seed, &placer]
        };
        for needle in figures {
            assert!(
                text.contains(needle.as_str()),
                "{doc} does not quote {needle}"
            );
        }
    }
}

#[test]
fn the_committed_bitstream_is_the_current_designs() {
    let r = report();
    let recorded = r["netlist_sha256"]
        .as_str()
        .expect("the report names its netlist (netlist_sha256)");
    let now = revspike_hdl::top::top_verilog(&CU).expect("the Cu top level emits");
    assert_eq!(
        revspike_hdl::flow::netlist_sha256(&now),
        recorded,
        "the Cu design has changed since bitstreams/alchitry-cu was built: rebuild it \
         (scripts/bitstream.sh --build cu --placer static --seed N) and commit it with its \
         report"
    );
}
