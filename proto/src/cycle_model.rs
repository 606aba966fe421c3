//! The core's cycle model: how many clock cycles a `run` takes, from the model, the
//! build and the golden model's count of nonzero inputs per layer evaluation.
//!
//! It follows the sequencer's phases (docs/architecture.md, cycle budget of a layer)
//! and is exact: the Verilator co-simulation asserts that every run's cycle counter
//! equals [`run_cycles`]. A change to the sequencer that moves a count must move it
//! here too, so the figures the docs derive from it stay true.

use revspike_golden::model::Model;
use revspike_golden::sim::Inference;

use crate::build::Build;

/// Cycles of the sequencer's fixed phases.
pub mod phases {
    /// StepStart, once per timestep.
    pub const STEP_START: u64 = 1;
    /// Fetch and Decode of a descriptor.
    pub const FETCH_DECODE: u64 = 2;
    /// Group0..Group2: locate the source list (the input group through the table).
    pub const LOCATE: u64 = 3;
    /// The Stream phase's last cycle, which finds the list's end.
    pub const STREAM_END: u64 = 1;
    /// StreamTail: the last event on its way to the lanes.
    pub const TAIL: u64 = 3;
    /// Flush: the neuron unit empties after the last channel is drained.
    pub const FLUSH: u64 = 12;
    /// Retire.
    pub const RETIRE: u64 = 1;
    /// Finish, once per run.
    pub const FINISH: u64 = 1;
    /// Argmax: the logit memory read one class every second cycle, plus two.
    pub const fn argmax(classes: u64) -> u64 {
        2 * classes + 2
    }
}

/// A tile's fixed cycles, around its events and its drained channels.
pub const TILE_FIXED: u64 = phases::FETCH_DECODE
    + phases::LOCATE
    + phases::STREAM_END
    + phases::TAIL
    + phases::FLUSH
    + phases::RETIRE;

/// Where a run's cycles go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCycles {
    /// One per streamed list entry, per tile: nonzero inputs and the input's page
    /// markers (the synapse work; lanes take one event per cycle).
    pub events: u64,
    /// One per drained channel (the per-neuron requantization).
    pub drain: u64,
    /// Everything else: descriptor fetch, list location, pipeline tails and flushes,
    /// timestep starts, the argmax.
    pub fixed: u64,
    /// The conv stem, before the first timestep ([`crate::stem_plan`]).
    pub stem: u64,
}

impl RunCycles {
    pub fn total(&self) -> u64 {
        self.events + self.drain + self.fixed + self.stem
    }
}

/// Page markers of one input group in the input memory (one per 256 values).
pub fn page_markers(group_len: usize) -> usize {
    group_len.saturating_sub(1) / 256
}

/// The stem's share of a run of a version 2 model, from the stem plan's executable
/// model (its phases are the design's budget until the stem unit is measured).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StemShare {
    /// The stem's cycles over every group of the sample.
    pub stem: u64,
    /// Per group: the entries stage 0's `down` streams per tile, its event list being
    /// the stem output compacted as a version 1 input (nonzero bytes and page markers).
    pub stage0_stream: Vec<u64>,
}

/// The cycles a `run` of `model` takes on `build`, given the golden model's inference
/// of the same input (its `layer_events`: nonzero inputs per dense layer evaluation,
/// in program order; an `up` at t = 0 is absent, the core runs it as an empty tile).
///
/// Models with a stem go through [`run_cycles_planned`].
pub fn run_cycles(model: &Model, build: &Build, gold: &Inference) -> RunCycles {
    assert!(model.stem.is_empty(), "a stem's share comes from its plan");
    run_cycles_planned(model, build, gold, None)
}

/// [`run_cycles`], with the stem's share for a model with a stem.
pub fn run_cycles_planned(
    model: &Model,
    build: &Build,
    gold: &Inference,
    stem: Option<&StemShare>,
) -> RunCycles {
    let mut c = RunCycles::default();
    let mut events = gold.layer_events.iter().map(|&(nz, _)| nz as u64);
    let mut next = || events.next().expect("one count per layer evaluation");
    let markers = page_markers(model.input.group_len) as u64;
    let tile = |c: &mut RunCycles, entries: Option<u64>, outputs: usize| {
        for k in 0..build.tiles(outputs) {
            let m = (outputs - k * build.lanes).min(build.lanes) as u64;
            c.drain += m;
            match entries {
                Some(e) => {
                    c.events += e;
                    c.fixed += TILE_FIXED;
                }
                // Skipped at t = 0: Group2 goes straight to the tail.
                None => c.fixed += TILE_FIXED - phases::STREAM_END,
            }
        }
    };
    for t in 0..model.timesteps {
        c.fixed += phases::STEP_START;
        for (l, st) in model.stages.iter().enumerate() {
            let nz = next();
            let down = match (l, stem) {
                (0, Some(sh)) => sh.stage0_stream[t % sh.stage0_stream.len()],
                (0, None) => nz + markers,
                _ => nz,
            };
            tile(&mut c, Some(down), st.width);
            if st.up.is_some() {
                let up = if t == 0 { None } else { Some(next()) };
                tile(&mut c, up, st.width);
            }
            for _ in &st.blocks {
                let e = next();
                tile(&mut c, Some(e), st.width);
            }
        }
        let e = next();
        tile(&mut c, Some(e), model.classes);
    }
    c.fixed += phases::argmax(model.classes as u64) + phases::FINISH;
    c.stem = stem.map_or(0, |s| s.stem);
    c
}
