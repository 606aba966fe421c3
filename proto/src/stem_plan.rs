//! The conv stem on the core: where its maps live, the order it computes their rows in,
//! the step table and layer rows the stem unit reads, and an executable model of exactly
//! that, with the cycles the design spends.
//!
//! This is the plan the stem hardware is built to (docs/architecture.md, the conv stem).
//! The model runs a sample through the stem the way the core does: row by row in the
//! plan's schedule, every group in turn, each step given only what its step row and its
//! layer's rows say (byte addresses, slot and region sizes), through line buffers that
//! wrap, reading windows through nonzero bitmaps. A wrong schedule, a line buffer too
//! small or a wrong address shows up here as a read of the wrong row (every slot carries
//! the row it holds) or as a map that differs from the golden model's.
//!
//! - **Windowed gather, lanes over output channels.** An output position's window is
//!   at most k byte ranges of the input map (the kx cells of one input row are adjacent
//!   bytes in `(y, x, c)` order); its nonzero bytes stream one per cycle as events
//!   `(window index, value)` to the PE lanes, and the lanes hold the position's Co sums
//!   (so Co <= P: one tile). The neuron unit then requantizes and spikes them one
//!   channel per cycle. Padding is never read: the ranges are clipped.
//! - **Byte-addressed stores with nonzero bitmaps.** A store is dense, two bytes per
//!   16-bit word, with one bitmap bit per byte in the z memory. The gather reads a bitmap
//!   word per 16 bytes and visits only its set bits: a nonzero input costs one cycle, a
//!   zero costs nothing unless all bytes of its bitmap word in range are zero (one cycle
//!   for the word).
//! - **Line buffers.** Intermediate maps are never stored whole: a layer's output row is
//!   computed just before the next layer needs it, into a ring of row slots (for the
//!   shipped 3x3 stride-2 stem: 3 rows). The input map(s) are stored whole and packed;
//!   the last layer stores nothing: its bytes go through the input compactor into stage
//!   0's event list, the version 1 input path, so timesteps and rewinds are unchanged.
//! - **Memories borrowed before timestep 0.** The stem runs once per sample (every
//!   group) at the start of `run`, before the first timestep, when the event-list memory
//!   and the reversible state buffer hold nothing yet: the line buffers live there.

use std::collections::HashMap;

use revspike_golden::model::{Grouping, Model};

use crate::build::{Build, Excess};
use crate::contract::{stem_layer, stem_step, Field, FieldOverflow};

/// Bytes a bitmap word covers; line buffer slots are whole chunks, so a row starts a
/// bitmap word.
pub const CHUNK_BYTES: usize = 16;
/// Data words per chunk (two bytes per 16-bit word).
pub const CHUNK_WORDS: usize = CHUNK_BYTES / 2;
/// The most bytes a store may span: byte addresses are 12-bit fields.
pub const MAX_STORE_BYTES: usize = (1 << stem_step::ROW0_BYTE.width) - 1;
/// Conv weight rows packed to a row memory row at most ([`stem_layer::WEIGHT_PACK`]).
pub const MAX_WEIGHTS_PER_ROW: usize = 4;

/// The memories the stem stores bytes in (16-bit words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StemMemory {
    /// The input memory: the input map(s) from [`StemPlan::input_base`]; below it, stage
    /// 0's event list, which the last layer's output goes to.
    Input,
    /// The event-list memory's six lists, idle before timestep 0: line buffers.
    EventLists,
    /// The reversible state buffer, idle before timestep 0: line buffers.
    StateBuffer,
    /// The z memory past z's N words: every store's bitmap, so the gather reads a bitmap
    /// word and a data word in the same cycle.
    Bitmaps,
}

impl StemMemory {
    pub const ALL: [StemMemory; 4] = [
        StemMemory::Input,
        StemMemory::EventLists,
        StemMemory::StateBuffer,
        StemMemory::Bitmaps,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StemMemory::Input => "input memory",
            StemMemory::EventLists => "event-list memory",
            StemMemory::StateBuffer => "state buffer",
            StemMemory::Bitmaps => "z memory (bitmaps)",
        }
    }

    /// The memory's code in a layer's `src_memory` and `dst_memory` fields.
    pub const fn code(self) -> u64 {
        self as u64
    }

    pub fn from_code(code: u64) -> Option<StemMemory> {
        StemMemory::ALL.into_iter().find(|m| m.code() == code)
    }

    /// Words of this memory the stem may use on `build`, from [`StemMemory::first_word`].
    pub fn words(self, build: &Build) -> usize {
        match self {
            StemMemory::Input => build.input_entries,
            // The six lists of N channels; the group table above them is the input
            // compactor's, which the last layer writes while the rings are in use.
            StemMemory::EventLists => 6 * build.max_width,
            StemMemory::StateBuffer => build.state_buffer_entries,
            StemMemory::Bitmaps => build.z_entries() - build.max_width,
        }
    }

    /// The word of the memory's address space where the stem's words start (the
    /// bitmaps follow z's N words).
    pub fn first_word(self, build: &Build) -> usize {
        match self {
            StemMemory::Bitmaps => build.max_width,
            _ => 0,
        }
    }
}

/// A byte-addressed store of rows: byte `b` (from the store's start) is the low (even
/// `b`) or high byte of data word `base + b / 2` of `memory`, and its nonzero bit is bit
/// `b % 16` of bitmap word `bitmap_base + b / 16` of the z memory. Row `r` starts at
/// byte `(r % slots) * slot_bytes`.
///
/// A line buffer is a ring of `slots` chunk-aligned slots. The input store is every
/// group's input map packed (row `g * H + y` is group g's row y), which never wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowStore {
    pub memory: StemMemory,
    /// First data word.
    pub base: usize,
    /// First bitmap word (in the z memory's address space).
    pub bitmap_base: usize,
    pub slots: usize,
    /// Bytes from one row to the next.
    pub slot_bytes: usize,
    /// Bytes of a row (W * C).
    pub row_bytes: usize,
}

impl RowStore {
    /// Bytes the store spans.
    pub fn region_bytes(&self) -> usize {
        self.slots * self.slot_bytes
    }
    /// Data words.
    pub fn words(&self) -> usize {
        self.region_bytes().div_ceil(2)
    }
    pub fn bitmap_words(&self) -> usize {
        self.region_bytes().div_ceil(CHUNK_BYTES)
    }
    pub fn end(&self) -> usize {
        self.base + self.words()
    }
    pub fn bitmap_end(&self) -> usize {
        self.bitmap_base + self.bitmap_words()
    }
    /// The first byte of row `row`.
    pub fn row_byte(&self, row: usize) -> usize {
        (row % self.slots) * self.slot_bytes
    }
    /// The data word holding byte `byte` (its low byte when `byte` is even).
    pub fn data_word(&self, byte: usize) -> usize {
        self.base + byte / 2
    }
    /// The bitmap word holding byte `byte`'s nonzero bit.
    pub fn bitmap_word(&self, byte: usize) -> usize {
        self.bitmap_base + byte / CHUNK_BYTES
    }
}

/// One stem layer as the core runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    /// `[H, W, Ci]` and `[H', W', Co]`.
    pub input: [usize; 3],
    pub output: [usize; 3],
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// Where it reads its input rows: the packed input map(s) for layer 0, the previous
    /// layer's line buffer otherwise.
    pub src: RowStore,
    /// Its line buffer; `None` for the last layer, whose output is stage 0's event list.
    pub dst: Option<RowStore>,
}

/// One step of the stem's schedule: compute row `row` of layer `layer`'s output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowStep {
    pub layer: usize,
    pub row: usize,
}

/// The window walker's inputs for one row step (`hdl/src/window_walker.rs`): the
/// layer's fields ([`stem_layer`]) and the step's ([`stem_step`]). Everything the walker
/// computes follows from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkerStep {
    /// k * Ci: the bytes a window row spans; s * Ci: its move per output position.
    pub kci: usize,
    pub sci: usize,
    /// W * Ci - 1: an input row's last byte.
    pub row_last: usize,
    /// Output positions W' of the row.
    pub positions: usize,
    /// p * Ci: how far left of its input row position 0's window starts.
    pub p_ci: usize,
    /// The source store: bytes from one row to the next, the bytes after which it wraps
    /// to byte 0 (0: never), its first data and bitmap words.
    pub slot_bytes: usize,
    pub region_bytes: usize,
    pub src_data_base: usize,
    pub src_bitmap_base: usize,
    /// Valid window rows (the rest lie in the padding), the first one's ky * k * Ci and
    /// its first byte in the source store.
    pub rows: usize,
    pub ky0_kci: usize,
    pub row0_byte: usize,
}

impl WalkerStep {
    /// `kci - 1` as the layer row stores it (`stem_layer::KCI_M1`).
    pub fn kci_m1(&self) -> usize {
        self.kci - 1
    }

    /// `-p_ci` as the walker's signed byte position (`stem_layer::LEFT0`).
    pub fn left0(&self) -> usize {
        (1usize << stem_layer::LEFT0.width).wrapping_sub(self.p_ci)
            & ((1 << stem_layer::LEFT0.width) - 1)
    }

    /// The first byte of valid window row `i` (0-based from the first valid one), as the
    /// walker steps from row to row: a slot on, back to byte 0 at the region's end.
    pub fn window_row_byte(&self, i: usize) -> usize {
        let mut b = self.row0_byte;
        for _ in 0..i {
            b += self.slot_bytes;
            if self.region_bytes != 0 && b >= self.region_bytes {
                b -= self.region_bytes;
            }
        }
        b
    }

    /// Output position x's window range of an input row, clipped to the row: its first
    /// and last byte within the row, and the window index of the row's byte 0 less
    /// `ky * k * Ci` (the byte where the unclipped window starts, negated).
    pub fn window_columns(&self, x: usize) -> (usize, usize, i64) {
        let left = (x * self.sci) as i64 - self.p_ci as i64;
        let first = left.max(0) as usize;
        let last = (left + self.kci as i64 - 1).min(self.row_last as i64) as usize;
        (first, last, left)
    }
}

/// The stem of a model on a build: its layers, stores and schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StemPlan {
    pub layers: Vec<LayerPlan>,
    /// Rows in the order the core computes them, for one group (every group runs it).
    pub schedule: Vec<RowStep>,
    /// Groups the stem runs over (T with `split`, 1 with `repeat`).
    pub groups: usize,
    /// E: the input memory's first word of the input map(s); stage 0's event list of
    /// every group takes the words below it in the worst case.
    input_base: usize,
    /// Lanes P, for the cycle count.
    lanes: usize,
}

/// Cycles of the stem's fixed steps (the design's budget; docs/architecture.md).
pub mod stem_phases {
    /// Per row step: read its step row and its layer's three rows from the row memory,
    /// then start (`hdl/src/stem_unit.rs`: Step, Latch, Row0..Row2, Go).
    pub const STEP: u64 = 6;
    /// Per valid window row: start the gather and load its first bitmap word.
    pub const WINDOW_ROW: u64 = 2;
    /// Per output position: the walker's start and finish, and the last event's way to
    /// the lanes (`stem_unit::TAIL`).
    pub const POSITION: u64 = 4;
    /// Per row step: the neuron unit empties and the row's last writes land, so the next
    /// step reads this row's bytes (the unit's pipeline, 12, and `stem_unit::SETTLE`
    /// and its count).
    pub const FLUSH: u64 = 16;
    /// Per run: the input compactor's commit and verdict, and the hand-over to the
    /// sequencer (whose first cycle is the run's own).
    pub const RUN: u64 = 4;
}

/// Row memory rows of one layer's shared fields ([`crate::contract::stem_layer`]).
pub const LAYER_ROWS: usize = stem_layer::ROWS;
/// The bits a step's fields and a layer's shared fields take.
pub const STEP_BITS: usize = field_bits(&stem_step::ALL);
pub const LAYER_BITS: usize =
    field_bits(&stem_layer::ROW0) + field_bits(&stem_layer::ROW1) + field_bits(&stem_layer::ROW2);

const fn field_bits(fields: &[Field]) -> usize {
    let mut bits = 0;
    let mut i = 0;
    while i < fields.len() {
        bits += fields[i].width;
        i += 1;
    }
    bits
}

/// Conv weight rows (window indices) packed to one row memory row on `build`: the
/// lanes' bits of up to [`MAX_WEIGHTS_PER_ROW`] indices side by side, a power of two so
/// the weight row is the index shifted.
pub fn weights_per_row(build: &Build) -> usize {
    let fit = (build.row_bits / build.lanes).clamp(1, MAX_WEIGHTS_PER_ROW);
    1 << fit.ilog2()
}

/// One entry of the step table: one row of the row memory ([`stem_step`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepEntry {
    pub rows: usize,
    pub ky0_kci: usize,
    pub row0_byte: usize,
    /// The output row's first data word and bitmap word (0 for the last layer).
    pub dst_word: usize,
    pub dst_bitmap: usize,
    /// The row of the step's layer's first field row.
    pub layer_row: usize,
    pub last: bool,
}

impl StepEntry {
    /// The entry's row (its low 64 bits).
    pub fn encode(&self) -> Result<u64, FieldOverflow> {
        use stem_step::*;
        [
            (ROWS, self.rows),
            (KY0_KCI, self.ky0_kci),
            (ROW0_BYTE, self.row0_byte),
            (DST_WORD, self.dst_word),
            (DST_BITMAP, self.dst_bitmap),
            (LAYER_ROW, self.layer_row),
            (LAST, usize::from(self.last)),
        ]
        .into_iter()
        .try_fold(0u64, |row, (f, v)| f.put(row, v as u64))
    }

    pub fn decode(row: u64) -> StepEntry {
        use stem_step::*;
        let g = |f: Field| f.get(row) as usize;
        StepEntry {
            rows: g(ROWS),
            ky0_kci: g(KY0_KCI),
            row0_byte: g(ROW0_BYTE),
            dst_word: g(DST_WORD),
            dst_bitmap: g(DST_BITMAP),
            layer_row: g(LAYER_ROW),
            last: g(LAST) == 1,
        }
    }
}

/// Where the stem's rows are counted: per layer its field rows, weight rows and
/// parameter rows, and the step table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StemRows {
    pub layers: usize,
    pub steps: usize,
    pub weights: usize,
    pub params: usize,
}

impl StemRows {
    pub fn total(&self) -> usize {
        self.layers + self.steps + self.weights + self.params
    }
}

/// Where a stem run's cycles go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StemCycles {
    /// One per nonzero input byte under a window, per tile.
    pub events: u64,
    /// One per bitmap word of a window range with no nonzero byte in range.
    pub empty_words: u64,
    /// One per output channel.
    pub drain: u64,
    /// Row steps, window rows, positions, flushes.
    pub fixed: u64,
}

impl StemCycles {
    pub fn total(&self) -> u64 {
        self.events + self.empty_words + self.drain + self.fixed
    }
    fn add(&mut self, o: &StemCycles) {
        self.events += o.events;
        self.empty_words += o.empty_words;
        self.drain += o.drain;
        self.fixed += o.fixed;
    }
}

/// The stem's memories as 16-bit words, for the executable model.
#[derive(Clone, Debug)]
pub struct StemMemories {
    words: Vec<(StemMemory, Vec<u16>)>,
    /// The (group, layer, row) each line buffer slot holds, by its first data word:
    /// reads check it.
    tags: HashMap<(StemMemory, usize), (usize, usize, usize)>,
}

impl StemMemories {
    /// Every memory's words up to the stem's last (a write past it panics).
    pub fn new(build: &Build) -> Self {
        Self {
            words: StemMemory::ALL
                .iter()
                .map(|&m| (m, vec![0; m.first_word(build) + m.words(build)]))
                .collect(),
            tags: HashMap::new(),
        }
    }
    fn mem(&mut self, m: StemMemory) -> &mut Vec<u16> {
        &mut self.words.iter_mut().find(|(k, _)| *k == m).unwrap().1
    }
    /// Sets word `a` of memory `m`, as a write of the core would.
    pub fn set(&mut self, m: StemMemory, a: usize, v: u16) {
        self.mem(m)[a] = v;
    }
    /// Word `a` of memory `m` (in its own address space).
    pub fn word(&self, m: StemMemory, a: usize) -> u16 {
        self.words.iter().find(|(k, _)| *k == m).unwrap().1[a]
    }
    /// Words of memory `m` this model holds.
    pub fn len(&self, m: StemMemory) -> usize {
        self.words.iter().find(|(k, _)| *k == m).unwrap().1.len()
    }
    /// Byte `b` of store `st`.
    pub fn byte(&self, st: &RowStore, b: usize) -> u8 {
        let w = self.word(st.memory, st.data_word(b));
        if b.is_multiple_of(2) {
            w as u8
        } else {
            (w >> 8) as u8
        }
    }
}

/// Rows of the input map that output row `y` reads: `[lo, hi]`, clipped to the map
/// (empty when the window lies in the padding).
fn window_rows(y: usize, h: usize, k: usize, s: usize, p: usize) -> Option<(usize, usize)> {
    let top = (y * s) as i64 - p as i64;
    let lo = top.max(0);
    let hi = (top + k as i64 - 1).min(h as i64 - 1);
    (lo <= hi).then_some((lo as usize, hi as usize))
}

/// Groups a sample's stem runs over.
fn groups_of(model: &Model) -> usize {
    match model.input.grouping {
        Grouping::Split => model.timesteps,
        Grouping::Repeat => 1,
    }
}

impl StemPlan {
    /// The plan of `model`'s stem on `build`, or every capacity it exceeds. `Ok(None)`
    /// for a model without a stem. The plan does not depend on whether the build has a
    /// stem unit ([`Build::check`] refuses a stem on one without).
    pub fn new(model: &Model, build: &Build) -> Result<Option<StemPlan>, Vec<Excess>> {
        if model.stem.is_empty() {
            return Ok(None);
        }
        let maps = model.stem_maps();
        assert_eq!(maps.len(), model.stem.len() + 1, "a validated model");
        let n = model.stem.len();
        let geo: Vec<(usize, usize, usize)> = model
            .stem
            .iter()
            .map(|c| (c.kernel, c.stride, c.padding))
            .collect();

        // The schedule: each row of the last layer in turn, every row it needs first.
        let mut produced = vec![0usize; n];
        let mut schedule = Vec::new();
        fn ensure(
            l: usize,
            y: usize,
            maps: &[[usize; 3]],
            geo: &[(usize, usize, usize)],
            produced: &mut [usize],
            schedule: &mut Vec<RowStep>,
        ) {
            if l > 0 {
                let (k, s, p) = geo[l];
                if let Some((_, hi)) = window_rows(y, maps[l][0], k, s, p) {
                    while produced[l - 1] <= hi {
                        let r = produced[l - 1];
                        ensure(l - 1, r, maps, geo, produced, schedule);
                    }
                }
            }
            schedule.push(RowStep { layer: l, row: y });
            produced[l] += 1;
        }
        for y in 0..maps[n][0] {
            ensure(n - 1, y, &maps, &geo, &mut produced, &mut schedule);
        }

        // Line buffer slots of layer l < n-1: the most rows of its output that are
        // alive at once (from the oldest row a later step of layer l+1 still reads, to
        // the row being written).
        let mut slots = vec![0usize; n];
        for l in 0..n.saturating_sub(1) {
            let (k, s, p) = geo[l + 1];
            let h = maps[l + 1][0];
            let mut done = 0usize; // layer l+1 rows computed so far
            let mut rows = 0usize; // layer l rows computed so far
            let mut need = 1usize;
            for st in &schedule {
                if st.layer == l + 1 {
                    done += 1;
                } else if st.layer == l {
                    rows += 1;
                    // The oldest row the next step of layer l+1 reads.
                    let oldest = (done..maps[l + 2][0])
                        .find_map(|y| window_rows(y, h, k, s, p).map(|(lo, _)| lo))
                        .unwrap_or(rows - 1)
                        .min(rows - 1);
                    need = need.max(rows - oldest);
                }
            }
            slots[l] = need;
        }

        let groups = groups_of(model);
        let row_bytes = |m: [usize; 3]| m[1] * m[2];
        let mut excess = Vec::new();
        for (i, c) in model.stem.iter().enumerate() {
            need_at_most(
                &mut excess,
                format!("stem[{i}].out_channels (the lanes hold one output position)"),
                c.out_channels,
                build.lanes,
            );
        }

        // The input map(s), packed, above stage 0's event list (the last layer's output
        // through the input compactor, in the worst case every byte nonzero).
        let out_len = maps[n].iter().product::<usize>();
        let input_base = groups * (out_len + crate::cycle_model::page_markers(out_len));
        let bm0 = StemMemory::Bitmaps.first_word(build);
        let input = RowStore {
            memory: StemMemory::Input,
            base: input_base,
            bitmap_base: bm0,
            slots: groups * maps[0][0],
            slot_bytes: row_bytes(maps[0]),
            row_bytes: row_bytes(maps[0]),
        };
        need_at_most(
            &mut excess,
            format!(
                "input memory words (stage 0's event list of {groups} group(s) of {out_len} \
                 bytes, then {} input bytes packed)",
                input.region_bytes()
            ),
            input.end(),
            StemMemory::Input.words(build),
        );
        need_at_most(
            &mut excess,
            format!("input map bytes ({groups} group(s), 12-bit byte addresses)"),
            input.region_bytes(),
            MAX_STORE_BYTES,
        );
        // The input port counts a version 2 input through the compactor (values and
        // page markers, a 12-bit pointer) and takes its length from an 11-bit register.
        let g_len = model.input.group_len;
        need_at_most(
            &mut excess,
            format!("input values and page markers the input port counts ({groups} group(s))"),
            groups * (g_len + crate::cycle_model::page_markers(g_len)),
            MAX_STORE_BYTES,
        );
        need_at_most(
            &mut excess,
            "input group length (its 11-bit register)".into(),
            g_len,
            (1 << 11) - 1,
        );

        // Line buffers: chunk-aligned slots, so a row starts a bitmap word; their bitmaps
        // after the input's, their data first-fit (largest first) in the two borrowed
        // memories.
        let mut rings: Vec<RowStore> = (0..n.saturating_sub(1))
            .map(|l| {
                let rb = row_bytes(maps[l + 1]);
                RowStore {
                    memory: StemMemory::EventLists,
                    base: 0,
                    bitmap_base: 0,
                    slots: slots[l],
                    slot_bytes: rb.div_ceil(CHUNK_BYTES) * CHUNK_BYTES,
                    row_bytes: rb,
                }
            })
            .collect();
        let mut bitmap_next = input.bitmap_end();
        for (l, r) in rings.iter_mut().enumerate() {
            r.bitmap_base = bitmap_next;
            bitmap_next += r.bitmap_words();
            need_at_most(
                &mut excess,
                format!(
                    "line buffer bytes of stem[{l}] ({} rows of {} bytes, 12-bit byte \
                     addresses)",
                    r.slots, r.slot_bytes
                ),
                r.region_bytes(),
                MAX_STORE_BYTES,
            );
        }
        need_at_most(
            &mut excess,
            "z memory words for bitmaps (one per 16 bytes of the input and line buffers)".into(),
            bitmap_next - bm0,
            StemMemory::Bitmaps.words(build),
        );
        let mut order: Vec<usize> = (0..rings.len()).collect();
        order.sort_by_key(|&l| std::cmp::Reverse(rings[l].words()));
        let mut fill = [
            (StemMemory::EventLists, 0usize),
            (StemMemory::StateBuffer, 0usize),
        ];
        for l in order {
            let w = rings[l].words();
            match fill
                .iter_mut()
                .find(|(m, used)| *used + w <= m.words(build))
            {
                Some((m, used)) => {
                    rings[l].memory = *m;
                    rings[l].base = *used;
                    *used += w;
                }
                None => excess.push(Excess {
                    what: format!(
                        "line buffer words of stem[{l}] ({} rows of {} bytes, in the \
                         event-list memory or the state buffer)",
                        rings[l].slots, rings[l].slot_bytes
                    ),
                    needed: w,
                    available: fill
                        .iter()
                        .map(|(m, used)| m.words(build) - used)
                        .max()
                        .unwrap_or(0),
                }),
            }
        }
        if !excess.is_empty() {
            return Err(excess);
        }
        let layers = (0..n)
            .map(|l| LayerPlan {
                input: maps[l],
                output: maps[l + 1],
                kernel: geo[l].0,
                stride: geo[l].1,
                padding: geo[l].2,
                src: if l == 0 { input } else { rings[l - 1] },
                dst: (l + 1 < n).then(|| rings[l]),
            })
            .collect();
        let plan = StemPlan {
            layers,
            schedule,
            groups,
            input_base,
            lanes: build.lanes,
        };
        // Every field of the step table and the layer rows holds its value (the row
        // bases are the row memory's, checked with its rows).
        let mut overflows: Vec<FieldOverflow> = plan
            .step_entries(0)
            .iter()
            .filter_map(|e| e.encode().err())
            .chain((0..n).filter_map(|l| plan.layer_rows(model, build, l, 0, 0).err()))
            .collect();
        overflows.sort_by_key(|o| (o.field, std::cmp::Reverse(o.value)));
        overflows.dedup_by_key(|o| o.field);
        for o in overflows {
            excess.push(Excess {
                what: format!("stem field {} ({} bits)", o.field, o.width),
                needed: o.value as usize,
                available: (1usize << o.width) - 1,
            });
        }
        need_at_most(
            &mut excess,
            "row memory rows of the stem".into(),
            plan.rows(model, build),
            build.rows,
        );
        if !excess.is_empty() {
            return Err(excess);
        }
        Ok(Some(plan))
    }

    /// E: the input memory's first word of the input map(s) ([`ConfigReg::StemInBase`]).
    ///
    /// [`ConfigReg::StemInBase`]: crate::contract::ConfigReg::StemInBase
    pub fn input_base(&self) -> usize {
        self.input_base
    }

    /// Bytes of every group's input map, packed: what the input port stores.
    pub fn input_bytes(&self) -> usize {
        self.layers[0].src.region_bytes()
    }

    /// Bytes of one group's stem output (stage 0's input length, H' * W' * Co).
    pub fn output_len(&self) -> usize {
        self.layers.last().unwrap().output.iter().product()
    }

    /// The packed input map(s) of every group: group g's row y is the store's row
    /// `g * H + y`.
    pub fn input_store(&self) -> RowStore {
        self.layers[0].src
    }

    /// The line buffers: (layer whose output it holds, store).
    pub fn rings(&self) -> Vec<(usize, RowStore)> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(l, lp)| lp.dst.map(|d| (l, d)))
            .collect()
    }

    /// Every store of the plan: (what, store), the input map(s) and the line buffers.
    pub fn stores(&self) -> Vec<(String, RowStore)> {
        let mut v = vec![("input map(s), packed".to_string(), self.input_store())];
        v.extend(
            self.rings()
                .into_iter()
                .map(|(l, st)| (format!("stem[{l}] line buffer"), st)),
        );
        v
    }

    /// Row memory rows the stem takes, by kind: [`LAYER_ROWS`] of fields per layer, one
    /// step row per row step of every group, a layer's weight rows (`k*k*Ci` window
    /// indices, [`weights_per_row`] to a row) and one parameter row per output channel.
    pub fn row_counts(&self, model: &Model, build: &Build) -> StemRows {
        let per_row = weights_per_row(build);
        let mut r = StemRows {
            layers: LAYER_ROWS * self.layers.len(),
            steps: self.groups * self.schedule.len(),
            ..StemRows::default()
        };
        for (lp, c) in self.layers.iter().zip(&model.stem) {
            r.weights += (lp.kernel * lp.kernel * lp.input[2]).div_ceil(per_row);
            r.params += c.out_channels;
        }
        r
    }

    /// Row memory rows the stem takes ([`StemPlan::row_counts`]).
    pub fn rows(&self, model: &Model, build: &Build) -> usize {
        self.row_counts(model, build).total()
    }

    /// Every group's row steps, in the order the stem unit runs them: (group, step).
    pub fn steps(&self) -> impl Iterator<Item = (usize, RowStep)> + '_ {
        (0..self.groups).flat_map(move |g| self.schedule.iter().map(move |&s| (g, s)))
    }

    /// What the window walker is given for row `y` of layer `layer` in group `group`.
    pub fn walker_step(&self, layer: usize, group: usize, y: usize) -> WalkerStep {
        let lp = &self.layers[layer];
        let [h, w, ci] = lp.input;
        let (k, s, p) = (lp.kernel, lp.stride, lp.padding);
        let (lo, hi) = window_rows(y, h, k, s, p).expect("a window row is inside the map");
        let top = (y * s) as i64 - p as i64;
        let ky0 = (lo as i64 - top) as usize;
        let src = lp.src;
        // Layer 0 reads group g's own map of the packed ones; a line buffer holds one
        // group at a time.
        let src_row = if layer == 0 { group * h + lo } else { lo };
        WalkerStep {
            kci: k * ci,
            sci: s * ci,
            row_last: w * ci - 1,
            positions: lp.output[1],
            p_ci: p * ci,
            slot_bytes: src.slot_bytes,
            region_bytes: if layer == 0 { 0 } else { src.region_bytes() },
            src_data_base: src.base,
            src_bitmap_base: src.bitmap_base,
            rows: hi - lo + 1,
            ky0_kci: ky0 * k * ci,
            row0_byte: src.row_byte(src_row),
        }
    }

    /// Output row `y` of `layer`: its first data word and first bitmap word in its line
    /// buffer's memories ((0, 0) for the last layer).
    pub fn dst_words(&self, layer: usize, y: usize) -> (usize, usize) {
        self.layers[layer].dst.map_or((0, 0), |d| {
            let b = d.row_byte(y);
            (d.data_word(b), d.bitmap_word(b))
        })
    }

    /// The step table: one [`StepEntry`] per row step of every group
    /// ([`StemPlan::steps`]), the very last one marked, with the layers' field rows from
    /// row `layers_row` ([`LAYER_ROWS`] per layer).
    pub fn step_entries(&self, layers_row: usize) -> Vec<StepEntry> {
        let total = self.groups * self.schedule.len();
        self.steps()
            .enumerate()
            .map(|(i, (g, step))| {
                let w = self.walker_step(step.layer, g, step.row);
                let (dst_word, dst_bitmap) = self.dst_words(step.layer, step.row);
                StepEntry {
                    rows: w.rows,
                    ky0_kci: w.ky0_kci,
                    row0_byte: w.row0_byte,
                    dst_word,
                    dst_bitmap,
                    layer_row: layers_row + LAYER_ROWS * step.layer,
                    last: i + 1 == total,
                }
            })
            .collect()
    }

    /// Layer `l`'s shared fields as its [`LAYER_ROWS`] rows (low 64 bits), with its
    /// weight rows from `weight_base` and its parameter rows from `param_base`.
    pub fn layer_rows(
        &self,
        model: &Model,
        build: &Build,
        l: usize,
        weight_base: usize,
        param_base: usize,
    ) -> Result<[u64; LAYER_ROWS], FieldOverflow> {
        use stem_layer::*;
        let lp = &self.layers[l];
        let c = &model.stem[l];
        // Row 0's window always has a valid row: p <= k/2.
        let w = self.walker_step(l, 0, 0);
        let dst_memory = lp.dst.map_or(StemMemory::Input, |d| d.memory);
        let put = |fields: &[(Field, usize)]| -> Result<u64, FieldOverflow> {
            fields
                .iter()
                .try_fold(0u64, |row, &(f, v)| f.put(row, v as u64))
        };
        Ok([
            put(&[
                (KCI_M1, w.kci_m1()),
                (SCI, w.sci),
                (ROW_LAST, w.row_last),
                (POSITIONS, w.positions),
                (LEFT0, w.left0()),
            ])?,
            put(&[
                (SLOT_BYTES, w.slot_bytes),
                (REGION_BYTES, w.region_bytes),
                (SRC_DATA_BASE, w.src_data_base),
                (SRC_BITMAP_BASE, w.src_bitmap_base),
                (DST_MEMORY, dst_memory.code() as usize),
                (
                    WEIGHT_PACK,
                    weights_per_row(build).trailing_zeros() as usize,
                ),
                (SHIFT_R, usize::from(c.layer.shift)),
                (SPIKE_K, usize::from(c.spike.shift)),
            ])?,
            put(&[
                (WEIGHT_BASE, weight_base),
                (PARAM_BASE, param_base),
                (SRC_MEMORY, lp.src.memory.code() as usize),
                (LAST_CHANNEL, c.out_channels - 1),
            ])?,
        ])
    }

    /// Layer `l`'s conv weight rows: row r holds window indices `j = r * per_row + s`
    /// (`s < per_row`, [`weights_per_row`]) at bits `s * lanes + o`, set iff
    /// `W[o][j] = +1`.
    pub fn weight_rows(&self, model: &Model, build: &Build, l: usize) -> Vec<u128> {
        let c = &model.stem[l];
        let per_row = weights_per_row(build);
        let fan_in = c.layer.inputs;
        (0..fan_in.div_ceil(per_row))
            .map(|r| {
                let mut row = 0u128;
                for s in 0..per_row {
                    let j = r * per_row + s;
                    if j >= fan_in {
                        break;
                    }
                    for o in 0..c.out_channels {
                        if c.layer.weight(o, j) {
                            row |= 1 << (s * build.lanes + o);
                        }
                    }
                }
                row
            })
            .collect()
    }

    /// Writes every group's input map, packed, with its bitmap, as the input port does.
    /// `input` is the sample (at least [`StemPlan::input_bytes`] bytes).
    pub fn write_input(&self, mem: &mut StemMemories, input: &[u8]) {
        let st = self.input_store();
        let (data, bitmap) = row_words(&input[..st.region_bytes()]);
        for (i, w) in data.into_iter().enumerate() {
            mem.set(st.memory, st.base + i, w);
        }
        for (j, w) in bitmap.into_iter().enumerate() {
            mem.set(StemMemory::Bitmaps, st.bitmap_base + j, w);
        }
    }

    /// Runs every group's row steps over the written input ([`StemPlan::write_input`]):
    /// every group's stem output (the bytes stage 0's event list is compacted from) and
    /// the cycles.
    pub fn run(&self, model: &Model, mem: &mut StemMemories) -> (Vec<Vec<u8>>, StemCycles) {
        self.run_with(model, mem, &mut |_, _, _| {})
    }

    /// [`StemPlan::run`], calling `before_step` with the memories as each row step finds
    /// them and the step (group, step), to check hardware step by step.
    pub fn run_with(
        &self,
        model: &Model,
        mem: &mut StemMemories,
        before_step: &mut dyn FnMut(&StemMemories, usize, RowStep),
    ) -> (Vec<Vec<u8>>, StemCycles) {
        let mut out = vec![Vec::with_capacity(self.output_len()); self.groups];
        let mut cyc = StemCycles::default();
        for (g, step) in self.steps() {
            before_step(mem, g, step);
            let (row, c) = self.run_step(model, mem, g, step);
            cyc.add(&c);
            if self.layers[step.layer].dst.is_none() {
                out[g].extend(row);
            }
        }
        (out, cyc)
    }

    /// One row step: output row `step.row` of its layer in group `g`, computed from what
    /// its [`WalkerStep`] says, written to the layer's line buffer (if any) and returned,
    /// with its cycles.
    pub fn run_step(
        &self,
        model: &Model,
        mem: &mut StemMemories,
        g: usize,
        step: RowStep,
    ) -> (Vec<u8>, StemCycles) {
        let lp = &self.layers[step.layer];
        let conv = &model.stem[step.layer];
        let w = self.walker_step(step.layer, g, step.row);
        let co = lp.output[2];
        let mut cyc = StemCycles {
            fixed: stem_phases::STEP + stem_phases::FLUSH,
            ..StemCycles::default()
        };
        if step.layer > 0 {
            // The rows the walker reads must be the ones this step needs, from this
            // group: a ring too small or a wrong wrap reads another.
            let (lo, _) = window_rows(step.row, lp.input[0], lp.kernel, lp.stride, lp.padding)
                .expect("a window row is inside the map");
            for i in 0..w.rows {
                let held = mem
                    .tags
                    .get(&(lp.src.memory, lp.src.data_word(w.window_row_byte(i))));
                assert_eq!(
                    held,
                    Some(&(g, step.layer - 1, lo + i)),
                    "stem plan: group {g} stem[{}] row {}: the slot read holds another row",
                    step.layer - 1,
                    lo + i
                );
            }
        }
        let l = &conv.layer;
        let mut u = Vec::with_capacity(w.positions * co);
        for x in 0..w.positions {
            let (events, pos) = self.window_events(mem, step.layer, g, step.row, x);
            let tiles = co.div_ceil(self.lanes) as u64;
            cyc.events += tiles * pos.events;
            cyc.empty_words += tiles * pos.empty_words;
            cyc.fixed += tiles * (pos.fixed + stem_phases::POSITION);
            // The last layer's channels go to the input compactor, which takes a value
            // every second cycle.
            cyc.drain += if lp.dst.is_some() {
                co as u64
            } else {
                2 * co as u64 - 1
            };
            // The lanes' sums and the neuron unit, per output channel.
            for o in 0..co {
                let acc: i64 = events
                    .iter()
                    .map(|&(j, v)| {
                        if l.weight(o, j) {
                            v as i64
                        } else {
                            -(v as i64)
                        }
                    })
                    .sum();
                u.push(revspike_golden::sim::sat16(
                    (acc * l.multiplier[o] as i64 + l.bias[o] as i64) >> l.shift,
                ));
            }
        }
        // The spike point per channel: u[x*Co + o] is channel o.
        let row: Vec<u8> = u
            .chunks(co)
            .flat_map(|u| revspike_golden::sim::spike(&conv.spike, u))
            .collect();
        if let Some(dst) = lp.dst {
            let b = dst.row_byte(step.row);
            write_bytes(mem, &dst, b, &row);
            mem.tags
                .insert((dst.memory, dst.data_word(b)), (g, step.layer, step.row));
        }
        (row, cyc)
    }

    /// The events of output position (y, x) of `layer` in group `g`, read as the window
    /// gather reads them from its [`WalkerStep`] (window rows top-down, bytes in order,
    /// only set bitmap bits), and its gather cycles (`fixed`: 2 per window row; `events`;
    /// `empty_words`).
    pub fn window_events(
        &self,
        mem: &StemMemories,
        layer: usize,
        g: usize,
        y: usize,
        x: usize,
    ) -> (Vec<(usize, u8)>, StemCycles) {
        let w = self.walker_step(layer, g, y);
        let src = self.layers[layer].src;
        let (first, last, left) = w.window_columns(x);
        let mut events = Vec::new();
        let mut pos = StemCycles::default();
        for i in 0..w.rows {
            pos.fixed += stem_phases::WINDOW_ROW;
            let row0 = w.window_row_byte(i);
            let ky_kci = w.ky0_kci + i * w.kci;
            // Bitmap words follow the store's bytes, not the row's: a packed input row
            // may start mid-word.
            let (b0, b1) = (row0 + first, row0 + last + 1);
            let mut b = b0;
            while b < b1 {
                let word_end = (b / CHUNK_BYTES + 1) * CHUNK_BYTES;
                let bm = mem.word(StemMemory::Bitmaps, src.bitmap_word(b));
                let mut found = 0;
                for bb in b..word_end.min(b1) {
                    if bm >> (bb % CHUNK_BYTES) & 1 == 1 {
                        // The window index: (ky*k + kx)*Ci + ci.
                        let j = ky_kci as i64 + (bb - row0) as i64 - left;
                        events.push((j as usize, mem.byte(&src, bb)));
                        found += 1;
                    }
                }
                if found == 0 {
                    pos.empty_words += 1;
                }
                b = word_end;
            }
        }
        pos.events = events.len() as u64;
        (events, pos)
    }
}

/// A sample through the stem: what [`run_sample`] returns.
#[derive(Clone, Debug)]
pub struct StemRun {
    /// Per group: the stem's output bytes in `(y, x, c)` order, which the input compactor
    /// turns into stage 0's event list.
    pub outputs: Vec<Vec<u8>>,
    pub cycles: StemCycles,
    /// The stem's share of the run, for [`crate::cycle_model::run_cycles_planned`].
    pub share: crate::cycle_model::StemShare,
    /// The memories as the stem leaves them.
    pub mem: StemMemories,
}

/// Runs every group of `input` through the stem as the core does: the input port's
/// packed write, then every group's row steps.
pub fn run_sample(plan: &StemPlan, model: &Model, build: &Build, input: &[u8]) -> StemRun {
    let mut mem = StemMemories::new(build);
    plan.write_input(&mut mem, input);
    let (outputs, cycles) = plan.run(model, &mut mem);
    // Stage 0's `down` streams each group's event list as a version 1 input: its
    // nonzero bytes and its page markers.
    let markers = crate::cycle_model::page_markers(plan.output_len()) as u64;
    let stage0_stream: Vec<u64> = outputs
        .iter()
        .map(|o| o.iter().filter(|&&v| v != 0).count() as u64 + markers)
        .collect();
    debug_assert!(
        stage0_stream.iter().sum::<u64>() <= plan.input_base() as u64,
        "the event lists fit below the input map"
    );
    let share = crate::cycle_model::StemShare {
        stem: cycles.total() + stem_phases::RUN,
        stage0_stream,
    };
    StemRun {
        outputs,
        cycles,
        share,
        mem,
    }
}

/// The stem's cycles of one sample: every group's (one with `repeat`).
pub fn sample_cycles(plan: &StemPlan, model: &Model, build: &Build, input: &[u8]) -> StemCycles {
    run_sample(plan, model, build, input).cycles
}

/// The stem's share of a run of `input`, for [`crate::cycle_model::run_cycles_planned`].
pub fn stem_share(
    plan: &StemPlan,
    model: &Model,
    build: &Build,
    input: &[u8],
) -> crate::cycle_model::StemShare {
    run_sample(plan, model, build, input).share
}

fn need_at_most(excess: &mut Vec<Excess>, what: String, needed: usize, available: usize) {
    if needed > available {
        excess.push(Excess {
            what,
            needed,
            available,
        });
    }
}

/// The words the core's row writer writes for bytes starting at an even byte that
/// starts a bitmap word: its data words (two bytes each, the last one half full when
/// the row has an odd length) and its bitmap words (bit i of word j set when byte
/// 16j + i is nonzero).
pub fn row_words(bytes: &[u8]) -> (Vec<u16>, Vec<u16>) {
    let data = bytes
        .chunks(2)
        .map(|p| u16::from(p[0]) | u16::from(p.get(1).copied().unwrap_or(0)) << 8)
        .collect();
    let bitmap = bytes
        .chunks(CHUNK_BYTES)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u16, |m, (i, &v)| m | u16::from(v != 0) << i)
        })
        .collect();
    (data, bitmap)
}

/// Writes `bytes` at byte `b` of `st` (a slot start: chunk aligned), as the row writer.
fn write_bytes(mem: &mut StemMemories, st: &RowStore, b: usize, bytes: &[u8]) {
    debug_assert_eq!(b % CHUNK_BYTES, 0, "a slot starts a bitmap word");
    let (data, bitmap) = row_words(bytes);
    for (i, w) in data.into_iter().enumerate() {
        mem.set(st.memory, st.data_word(b) + i, w);
    }
    for (j, w) in bitmap.into_iter().enumerate() {
        mem.set(StemMemory::Bitmaps, st.bitmap_word(b) + j, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rows_clip_the_padding() {
        // 3x3, stride 2, padding 1 over 28 rows.
        assert_eq!(window_rows(0, 28, 3, 2, 1), Some((0, 1)));
        assert_eq!(window_rows(1, 28, 3, 2, 1), Some((1, 3)));
        assert_eq!(window_rows(13, 28, 3, 2, 1), Some((25, 27)));
        // A 1-row map: only the centre row.
        assert_eq!(window_rows(0, 1, 3, 1, 1), Some((0, 0)));
    }

    #[test]
    fn a_store_addresses_bytes_two_to_a_word_and_sixteen_to_a_bitmap_word() {
        let st = RowStore {
            memory: StemMemory::EventLists,
            base: 100,
            bitmap_base: 70,
            slots: 3,
            slot_bytes: 32,
            row_bytes: 20,
        };
        assert_eq!(
            (st.region_bytes(), st.words(), st.bitmap_words()),
            (96, 48, 6)
        );
        assert_eq!((st.data_word(0), st.data_word(19)), (100, 109));
        assert_eq!((st.bitmap_word(15), st.bitmap_word(16)), (70, 71));
        // Row 4 wraps to slot 1.
        assert_eq!(st.row_byte(4), 32);
        assert_eq!(
            (st.data_word(st.row_byte(4)), st.bitmap_word(32)),
            (116, 72)
        );
    }

    #[test]
    fn the_walker_wraps_at_the_region_and_never_without_one() {
        let mut w = WalkerStep {
            kci: 9,
            sci: 6,
            row_last: 47,
            positions: 8,
            p_ci: 3,
            slot_bytes: 48,
            region_bytes: 144,
            src_data_base: 0,
            src_bitmap_base: 0,
            rows: 3,
            ky0_kci: 0,
            row0_byte: 96,
        };
        assert_eq!(
            (0..3).map(|i| w.window_row_byte(i)).collect::<Vec<_>>(),
            [96, 0, 48]
        );
        w.region_bytes = 0;
        assert_eq!(w.window_row_byte(2), 192);
        // Position 0 starts p*Ci left of the row; the last position is clipped right.
        assert_eq!(w.window_columns(0), (0, 5, -3));
        assert_eq!(w.window_columns(8), (45, 47, 45));
    }

    #[test]
    fn weights_pack_up_to_four_a_row_in_powers_of_two() {
        use crate::build::{CU, SMALL, WIDE};
        assert_eq!(
            [&CU, &SMALL, &WIDE].map(weights_per_row),
            [2, MAX_WEIGHTS_PER_ROW, 1]
        );
        let odd = Build { lanes: 24, ..CU };
        assert_eq!(weights_per_row(&odd), 2);
    }
}
