//! A short fuzz run of every target, as CI runs it: a few thousand cases each,
//! no panic, no hang, bounded memory. The 1 M-case runs are
//! `cargo run --release -p revspike-fuzz -- --execs 1000000` (README, fuzzing).

use std::time::Duration;

use revspike_fuzz::{fuzz, targets, Options, Target};

fn options(execs: u64) -> Options {
    Options {
        execs,
        seed: 7,
        case_limit: Duration::from_secs(2),
        ..Options::default()
    }
}

#[test]
fn every_target_survives_a_short_run() {
    let execs: u64 = std::env::var("REVSPIKE_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    for t in targets() {
        let r = fuzz(&t, &options(execs));
        eprintln!(
            "{}: {} execs, {} accepted, {} panics, {} hangs, slowest {:.1} ms, {:.0}/s",
            r.target,
            r.execs,
            r.accepted,
            r.panics,
            r.hangs,
            r.slowest.as_secs_f64() * 1e3,
            r.execs_per_second()
        );
        assert_eq!(r.execs, execs);
        assert_eq!(r.panics, 0, "{}: {:?}", t.name, r.findings);
        assert_eq!(r.hangs, 0, "{}: slowest {:?}", t.name, r.slowest);
        assert!(
            r.accepted > 0,
            "{}: no case was valid: the seeds are broken",
            t.name
        );
        assert!(
            r.peak_rss_kib < 2 << 20,
            "{}: {} KiB",
            t.name,
            r.peak_rss_kib
        );
    }
}

fn panics_on_two_zeros(data: &[u8]) -> bool {
    if data.windows(2).any(|w| w == [0, 0]) {
        panic!("two zeros");
    }
    !data.is_empty()
}

#[test]
fn the_harness_finds_a_planted_panic() {
    let t = Target {
        name: "planted",
        what: "a target with a bug",
        seeds: || vec![vec![1, 2, 3, 0, 4]],
        run: panics_on_two_zeros,
    };
    let r = fuzz(&t, &options(2_000));
    assert!(r.panics > 0, "the mutator never made two zeros in a row");
    assert!(
        r.findings[0].message.starts_with("two zeros"),
        "{:?}",
        r.findings[0]
    );
    assert!(r.findings[0].case.windows(2).any(|w| w == [0, 0]));
}
