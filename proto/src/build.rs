//! Named hardware builds and their capacity.
//!
//! One parameterized core is instantiated per build (see `revspike_hdl::builds`); this
//! is the single description of what each build holds, used by the hardware generator,
//! by the host to refuse models that do not fit before anything is sent, and in the
//! IDENTIFY answer of the link.

use revspike_golden::gen::GenOptions;
use revspike_golden::model::{Grouping, Model};
use serde::Serialize;

use crate::bit_timing::{BitTiming, TimingError};
use crate::board::{Board, ALCHITRY_CU};

/// Stages, blocks per stage and timesteps the sequencer supports (SEMANTICS.md maxima).
pub const MAX_STAGES: usize = 4;
pub const MAX_BLOCKS: usize = 4;
pub const MAX_TIMESTEPS: usize = 16;
pub const MAX_GROUP_LEN: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Build {
    pub name: &'static str,
    /// Processing-element lanes P. A layer wider than P runs as channel tiles of P
    /// outputs each, every tile streaming the layer's events again.
    pub lanes: usize,
    /// The widest stage and the most classes (channels the core's memories hold;
    /// at most 4 tiles of P lanes and at most the row bits).
    pub max_width: usize,
    /// Bits per row of the unified row memory (max(P, 64)).
    pub row_bits: usize,
    /// Rows of the unified memory: descriptors, weight rows and parameter rows.
    pub rows: usize,
    /// Entries of the input event memory (events plus page markers, all groups).
    pub input_entries: usize,
    /// Entries of the reversible state buffer: (T-1) * sum of widths must fit.
    pub state_buffer_entries: usize,
    /// The build has a conv stem unit (model version 2; [`crate::stem_plan`]).
    pub stem: bool,

    /// The board's clock ([`Build::board`]).
    pub clock_hz: u32,
    pub baud: u32,
}

/// The Cu's oscillator, as the builds' clock field holds it.
const CU_CLOCK_HZ: u32 = {
    assert!(ALCHITRY_CU.clock_hz <= u32::MAX as u64);
    ALCHITRY_CU.clock_hz as u32
};

impl Build {
    /// The board the build's top level is placed on: the Alchitry Cu, the only board
    /// (the simulation builds that do not fit it run on a simulated one).
    pub const fn board(&self) -> &'static Board {
        &ALCHITRY_CU
    }

    /// The UART bit period of this build's clock and baud rate (exact for every named
    /// build, which `bit_timing` checks when the crate compiles).
    pub const fn bit_timing(&self) -> Result<BitTiming, TimingError> {
        BitTiming::from_rates(self.clock_hz, self.baud)
    }
    pub const fn max_width(&self) -> usize {
        self.max_width
    }
    /// Entries of the z memory: z's N words, then at least 192 for the conv stem's row
    /// bitmaps ([`crate::stem_plan`]); one EBR (256) on the Cu.
    pub const fn z_entries(&self) -> usize {
        (self.max_width + 192).next_power_of_two()
    }
    pub const fn max_classes(&self) -> usize {
        self.max_width
    }
    /// Generator bounds for fast tests on this build: [`GenOptions::small`] with this
    /// build's widths and classes.
    pub fn small_gen_options(&self) -> GenOptions {
        GenOptions {
            max_width: self.max_width,
            max_classes: self.max_width,
            ..GenOptions::small()
        }
    }
    /// [`Build::small_gen_options`] with conv stems of up to 4 layers whose output
    /// channels the build's lanes hold (version 2 models).
    pub fn stem_gen_options(&self) -> GenOptions {
        GenOptions {
            max_stem_layers: 4,
            max_stem_channels: self.lanes.min(32),
            ..self.small_gen_options()
        }
    }
    /// Channel tiles a layer of `outputs` outputs runs as.
    pub const fn tiles(&self, outputs: usize) -> usize {
        outputs.div_ceil(self.lanes)
    }
    pub const fn words_per_row(&self) -> usize {
        self.row_bits / 16
    }
}

/// The Alchitry Cu (iCE40-HX8K): 64 channels on 32 lanes, 1,280 rows x 64 bits in 20 EBRs,
/// and the conv stem unit, whose maps share those memories (docs/architecture.md, the
/// conv stem).
///
/// 32 lanes, not 64: the link, not the core, bounds inferences per second (a tile's
/// extra pass costs microseconds against milliseconds of UART per image), and the
/// 1,150 logic cells 32 more lanes take filled the device to 94 %, where place and
/// route reached 85 MHz instead of 100.
///
/// The link runs at 12 Mbaud (25/3 clocks per bit, a fractional bit timer in the
/// 100 MHz domain: docs/protocol.md, bit timing).
pub const CU: Build = Build {
    name: "cu",
    lanes: 32,
    max_width: 64,
    row_bits: 64,
    rows: 1280,
    input_entries: 1024,
    state_buffer_entries: 512,
    stem: true,
    clock_hz: CU_CLOCK_HZ,
    baud: 12_000_000,
};

/// The Cu build with its link at 4 Mbaud, for hosts whose USB serial port cannot
/// keep up with 12 Mbaud.
pub const CU_4M: Build = Build {
    name: "cu-4m",
    baud: 4_000_000,
    ..CU
};

/// A small build that keeps simulation tests fast: 8 lanes, so layers wider than 8 run
/// as two channel tiles.
pub const SMALL: Build = Build {
    name: "small",
    lanes: 8,
    max_width: 16,
    row_bits: 64,
    rows: 512,
    input_entries: 256,
    state_buffer_entries: 256,
    stem: true,
    clock_hz: CU_CLOCK_HZ,
    baud: 12_000_000,
};

/// Simulation-only: 128 lanes and large memories, for cycle benchmarks of wide models.
pub const WIDE: Build = Build {
    name: "wide",
    lanes: 128,
    max_width: 128,
    row_bits: 128,
    rows: 4096,
    input_entries: 2048,
    state_buffer_entries: 2048,
    stem: true,
    clock_hz: CU_CLOCK_HZ,
    baud: 12_000_000,
};

pub const BUILDS: [&Build; 4] = [&CU, &CU_4M, &SMALL, &WIDE];

pub fn by_name(name: &str) -> Option<&'static Build> {
    BUILDS.iter().copied().find(|b| b.name == name)
}

/// The named build, or an error that lists the known ones.
pub fn named(name: &str) -> Result<&'static Build, UnknownBuild> {
    by_name(name).ok_or_else(|| UnknownBuild(name.to_string()))
}

/// A build name that names no build.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown build '{0}' (builds: {names})", names = BUILDS.map(|b| b.name).join(", "))]
pub struct UnknownBuild(pub String);

/// One capacity a model exceeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excess {
    pub what: String,
    pub needed: usize,
    pub available: usize,
}

impl std::fmt::Display for Excess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} needs {}, build has {}",
            self.what, self.needed, self.available
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("model does not fit build '{build}': {}", .excess.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct FitError {
    pub build: &'static str,
    pub excess: Vec<Excess>,
}

/// Input-memory entries a sample needs in the worst case (every value nonzero):
/// one per value, plus a page marker at every 256th value of a group.
pub fn input_entries_needed(model: &Model) -> usize {
    let g = model.input.group_len;
    let groups = match model.input.grouping {
        Grouping::Split => model.timesteps,
        Grouping::Repeat => 1,
    };
    groups * (g + crate::cycle_model::page_markers(g))
}

impl Build {
    /// What a build without a stem unit says of a stem.
    fn no_stem_unit(&self) -> String {
        format!("stem layers (build `{}` has no conv stem unit)", self.name)
    }

    /// Checks every capacity of this build; lists all that a model exceeds.
    pub fn check(&'static self, model: &Model) -> Result<(), FitError> {
        let mut excess = Vec::new();
        let mut need = |what: String, needed: usize, available: usize| {
            if needed > available {
                excess.push(Excess {
                    what,
                    needed,
                    available,
                });
            }
        };
        // A build without a stem unit refuses a stem; its plan (`crate::stem_plan`) is
        // still checked below, to say what the stem would need.
        if !self.stem {
            need(self.no_stem_unit(), model.stem.len(), 0);
        }
        for (l, st) in model.stages.iter().enumerate() {
            need(format!("stages[{l}].width"), st.width, self.max_width());
        }
        need("classes".into(), model.classes, self.max_classes());
        need("stages".into(), model.stages.len(), MAX_STAGES);
        for (l, st) in model.stages.iter().enumerate() {
            need(format!("stages[{l}].blocks"), st.blocks.len(), MAX_BLOCKS);
        }
        need("timesteps".into(), model.timesteps, MAX_TIMESTEPS);
        if model.stem.is_empty() {
            need(
                "input.group_len".into(),
                model.input.group_len,
                MAX_GROUP_LEN,
            );
            need(
                "input memory entries".into(),
                input_entries_needed(model),
                self.input_entries,
            );
        }
        let rows = crate::image::rows_needed(model, self);
        need("row memory rows".into(), rows, self.rows);
        need(
            "row memory address".into(),
            rows,
            1 << crate::image::ROW_ADDR_BITS,
        );
        let stride: usize = model.stages.iter().map(|s| s.width).sum();
        need(
            "state buffer entries ((T-1) * sum of widths)".into(),
            model.timesteps.saturating_sub(1) * stride,
            self.state_buffer_entries,
        );
        if let Err(e) = crate::stem_plan::StemPlan::new(model, self) {
            excess.extend(e);
        }
        if excess.is_empty() {
            Ok(())
        } else {
            Err(FitError {
                build: self.name,
                excess,
            })
        }
    }
}

impl Build {
    /// A person's account of how `model` sits on this build: whether it takes it (and
    /// every capacity it exceeds), and for a stem its plan: where each map lives, the line
    /// buffers, the bitmaps and the row-step table.
    pub fn fit_report(&'static self, model: &Model) -> String {
        let build = self;
        use std::fmt::Write;
        let mut s = String::new();
        let rows = crate::image::rows_needed(model, build);
        match build.check(model) {
            Ok(()) => {
                let _ = writeln!(
                    s,
                    "build {}: fits ({rows} of {} rows)",
                    build.name, build.rows
                );
            }
            Err(e) => {
                let _ = writeln!(s, "build {}: does not fit", build.name);
                for x in &e.excess {
                    let _ = writeln!(s, "  {x}");
                }
            }
        }
        if let Ok(Some(plan)) = crate::stem_plan::StemPlan::new(model, build) {
            use crate::stem_plan::StemMemory;
            let r = plan.row_counts(model, build);
            let unit = if build.stem {
                String::new()
            } else {
                format!(" (build `{}` has no conv stem unit)", build.name)
            };
            let _ = writeln!(
                s,
                "stem plan on {}{unit}: {} row steps per group, {} group(s), {} rows ({} layer \
                 field rows, {} step rows, {} weight rows, {} parameter rows)",
                build.name,
                plan.schedule.len(),
                plan.groups,
                r.total(),
                r.layers,
                r.steps,
                r.weights,
                r.params
            );
            let e = plan.input_base();
            let _ = writeln!(
                s,
                "  {:<32} {} group(s) of {} bytes: input memory words 0..{e}",
                "stage 0's event list",
                plan.groups,
                plan.output_len()
            );
            let mut used: Vec<(StemMemory, usize)> = StemMemory::ALL
                .iter()
                .map(|&m| (m, if m == StemMemory::Input { e } else { 0 }))
                .collect();
            for (what, st) in plan.stores() {
                let _ = writeln!(
                    s,
                    "  {what:<32} {} x {} bytes: {} words {}..{}, bitmaps {}..{}",
                    st.slots,
                    st.slot_bytes,
                    st.memory.name(),
                    st.base,
                    st.end(),
                    st.bitmap_base,
                    st.bitmap_end()
                );
                for (m, u) in used.iter_mut() {
                    if *m == st.memory {
                        *u += st.words();
                    } else if *m == StemMemory::Bitmaps {
                        *u += st.bitmap_words();
                    }
                }
            }
            let _ = writeln!(
                s,
                "  {:<32} {} rows of the row memory, one per row step",
                "row-step table", r.steps
            );
            for (m, u) in used {
                let _ = writeln!(s, "  {:<18} {u} of {} words", m.name(), m.words(build));
            }
        }
        s
    }
}

impl Build {
    /// The IDENTIFY answer of this build.
    pub fn info(&self) -> crate::protocol::BuildInfo {
        crate::protocol::BuildInfo {
            protocol_version: crate::protocol::PROTOCOL_VERSION,
            name: self.name.to_string(),
            lanes: self.lanes as u16,
            row_bits: self.row_bits as u16,
            rows: self.rows as u16,
            max_width: self.max_width() as u16,
            max_classes: self.max_classes() as u16,
            max_stages: MAX_STAGES as u16,
            max_blocks: MAX_BLOCKS as u16,
            max_timesteps: MAX_TIMESTEPS as u16,
            input_entries: self.input_entries as u16,
            state_entries: self.state_buffer_entries as u16,
            rx_fifo: crate::protocol::RX_FIFO_DEPTH as u16,
            max_payload: crate::protocol::MAX_PAYLOAD as u16,
            clock_hz: self.clock_hz,
            baud: self.baud,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_found_by_name_or_the_error_lists_the_builds() {
        for b in BUILDS {
            assert_eq!(named(b.name), Ok(b));
            // Every build's clock is its board's oscillator.
            assert_eq!(u64::from(b.clock_hz), b.board().clock_hz, "{}", b.name);
        }
        assert_eq!(
            named("cu2").unwrap_err().to_string(),
            "unknown build 'cu2' (builds: cu, cu-4m, small, wide)"
        );
    }
}
