//! The conv stem on the core: where its maps live, the order it computes their rows in,
//! and an executable model of exactly that, with the cycles the design spends.
//!
//! This is the plan the stem hardware is built to (docs/architecture.md, the conv stem).
//! The model runs a group through the stem the way the core will: row by row in the
//! plan's schedule, through line buffers that wrap, reading windows through nonzero
//! bitmaps, writing every row two bytes to a word. A wrong schedule, a line buffer too
//! small or two regions that overlap show up here as a read of the wrong row (every
//! slot carries the row it holds) or as a map that differs from the golden model's.
//!
//! - **Windowed gather, lanes over output channels.** An output position's window is
//!   at most k row ranges of the input map (the kx cells of one input row are adjacent
//!   bytes in `(y, x, c)` order); its nonzero bytes stream one per cycle as events
//!   `(window index, value)` to the PE lanes, exactly like a dense layer's inputs, and the
//!   lanes hold the position's Co sums. The neuron unit then requantizes and spikes
//!   them one channel per cycle. Padding is never read: the ranges are clipped.
//! - **Dense rows with nonzero bitmaps.** A row is stored dense, two bytes per 16-bit
//!   word, followed by one bit per byte. The gather reads a bitmap word per 16 bytes and
//!   visits only its set bits: a nonzero input costs one cycle, a zero costs nothing
//!   unless all 16 bytes of its bitmap word are zero (one cycle for the word). Dense rows
//!   take half the words of event lists in the worst case, which is what the memory
//!   plan must hold.
//! - **Line buffers.** Intermediate maps are never stored whole: a layer's output row is
//!   computed just before the next layer needs it, into a ring of row slots (for the
//!   shipped 3x3 stride-2 stem: 3 rows). Only the input group and the stem's output
//!   (stage 0's input, read again at every timestep and rewind) are stored whole.
//! - **Memories borrowed before timestep 0.** The stem runs once per sample (per group
//!   with `split`) at the start of `run`, before the first timestep, when the event-list
//!   memory and the reversible state buffer hold nothing yet: the line buffers live
//!   there. The input memory holds the input group(s) and the stem's output.

use revspike_golden::model::{Grouping, Model};

use crate::build::{Build, Excess};
use crate::contract::{stem_layer, stem_step, Field, FieldOverflow};

/// Bytes a bitmap word covers; a row slot holds its data in chunks of this many bytes.
pub const CHUNK_BYTES: usize = 16;
/// Data words per chunk (two bytes per 16-bit word).
pub const CHUNK_WORDS: usize = CHUNK_BYTES / 2;

/// The memories the stem stores rows in (16-bit words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StemMemory {
    /// The input memory: the input group(s) and the stem's output, kept for the run.
    Input,
    /// The event-list memory, idle before timestep 0: line buffers.
    EventLists,
    /// The reversible state buffer, idle before timestep 0: line buffers.
    StateBuffer,
    /// The z memory past z's N words: every row's bitmap, so the gather reads a bitmap
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

    /// Words of this memory on `build`.
    pub fn words(self, build: &Build) -> usize {
        match self {
            StemMemory::Input => build.input_entries,
            // The core's event-list memory: six lists of N channels and the group
            // table, rounded up to a power of two (hdl/src/spiking_core.rs).
            StemMemory::EventLists => (6 * build.max_width + 32).next_power_of_two(),
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

/// A map stored as row slots: each slot holds one row (`row_bytes` = W * C bytes) as
/// chunks of 16 bytes, two bytes per word, in `memory`; its nonzero bitmap, one bit per
/// byte and one word per chunk, in the bitmap memory. Row y lives in slot `y % slots`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowStore {
    pub memory: StemMemory,
    /// First data word.
    pub base: usize,
    /// First bitmap word (in the z memory's address space).
    pub bitmap_base: usize,
    pub slots: usize,
    pub row_bytes: usize,
}

impl RowStore {
    pub fn chunks(&self) -> usize {
        self.row_bytes.div_ceil(CHUNK_BYTES)
    }
    /// Data words.
    pub fn words(&self) -> usize {
        self.slots * self.chunks() * CHUNK_WORDS
    }
    pub fn bitmap_words(&self) -> usize {
        self.slots * self.chunks()
    }
    pub fn end(&self) -> usize {
        self.base + self.words()
    }
    pub fn bitmap_end(&self) -> usize {
        self.bitmap_base + self.bitmap_words()
    }
    fn slot(&self, row: usize) -> usize {
        row % self.slots
    }
    /// The data word holding byte `b` of row `row` (its low byte when `b` is even).
    pub fn data_word(&self, row: usize, b: usize) -> usize {
        self.base + self.slot(row) * self.chunks() * CHUNK_WORDS + b / 2
    }
    /// The bitmap word of the chunk holding byte `b` of row `row`.
    pub fn bitmap_word(&self, row: usize, b: usize) -> usize {
        self.bitmap_base + self.slot(row) * self.chunks() + b / CHUNK_BYTES
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
    /// Where it reads its input rows (group 0) and writes its output rows.
    pub src: RowStore,
    pub dst: RowStore,
}

/// One step of the stem's schedule: compute row `row` of layer `layer`'s output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowStep {
    pub layer: usize,
    pub row: usize,
}

/// The window walker's inputs for one row step (`hdl/src/window_walker.rs`): the
/// layer's geometry in bytes and the step's first valid window row. The compiler packs
/// these into the step's descriptor rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkerStep {
    /// k * Ci: the bytes a window row spans; s * Ci: its move per output position.
    pub kci: usize,
    pub sci: usize,
    /// W * Ci - 1: an input row's last byte.
    pub row_last: usize,
    /// Output positions W' of the row.
    pub positions: usize,
    /// The source store: its slots and their words, its first words.
    pub slots: usize,
    pub slot_data_words: usize,
    pub slot_bitmap_words: usize,
    pub src_data_base: usize,
    pub src_bitmap_base: usize,
    /// -p * Ci: the byte (in the input row) where position 0's window starts.
    pub first_left: i64,
    /// Valid window rows (the rest lie in the padding), the first one's ky * k * Ci,
    /// its slot and its first words.
    pub rows: usize,
    pub ky0_kci: usize,
    pub slot0: usize,
    pub row0_data_base: usize,
    pub row0_bitmap_base: usize,
}

/// The stem of a model on a build: its layers, stores and schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StemPlan {
    pub layers: Vec<LayerPlan>,
    /// Rows in the order the core computes them, for one group.
    pub schedule: Vec<RowStep>,
    /// Groups the stem runs over (T with `split`, 1 with `repeat`).
    pub groups: usize,
    /// Words one group's whole maps (input and stem output) take in the input memory;
    /// group g's are `g * group_words` further on.
    pub group_words: usize,
    /// Bitmap words of one group's whole maps (group g's `g * group_bitmap_words` on).
    pub group_bitmap_words: usize,
    /// Lanes P and channels per tile, for the cycle count.
    lanes: usize,
}

/// Cycles of the stem's fixed steps (the design's budget; docs/architecture.md).
pub mod stem_phases {
    /// Per row step: read its table words (input memory) and its layer's rows (row
    /// memory) side by side, then start.
    pub const STEP: u64 = 6;
    /// Per valid window row: start the gather and load its first bitmap word.
    pub const WINDOW_ROW: u64 = 2;
    /// Per output position and tile: clear the lanes, and the last event's way to them.
    pub const POSITION: u64 = 4;
    /// Per row step: the neuron unit empties, so the next step reads this row's bytes.
    pub const FLUSH: u64 = 12;
}

/// 16-bit words per row step in the step table ([`crate::contract::stem_step`]).
pub const STEP_WORDS: usize = stem_step::WORDS;
/// Row memory rows of one layer's shared fields ([`crate::contract::stem_layer`]).
pub const LAYER_ROWS: usize = stem_layer::ROWS;
/// The bits a step's own fields and a layer's shared fields take.
pub const STEP_BITS: usize = field_bits(&stem_step::LOW) + field_bits(&stem_step::HIGH);
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

/// One decoded entry of the step table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepEntry {
    pub rows: usize,
    pub ky0_kci: usize,
    pub slot0: usize,
    pub row0_data_base: usize,
    pub row0_bitmap_base: usize,
    pub dst_data_base: usize,
    pub dst_bitmap_base: usize,
    pub layer: usize,
    pub last: bool,
}

impl StepEntry {
    /// The entry's [`STEP_WORDS`] words, low word first.
    pub fn encode(&self) -> Result<Vec<u16>, FieldOverflow> {
        use stem_step::*;
        let mut low = 0u64;
        for (f, v) in [
            (ROWS, self.rows),
            (KY0_KCI, self.ky0_kci),
            (SLOT0, self.slot0),
            (ROW0_DATA_BASE, self.row0_data_base),
            (ROW0_BITMAP_BASE, self.row0_bitmap_base),
            (DST_DATA_BASE, self.dst_data_base),
            (LAYER, self.layer),
            (LAST, usize::from(self.last)),
        ] {
            low = f.put(low, v as u64)?;
        }
        let high = DST_BITMAP_BASE.put(0, self.dst_bitmap_base as u64)?;
        let mut words: Vec<u16> = (0..4).map(|i| (low >> (16 * i)) as u16).collect();
        words.push(high as u16);
        Ok(words)
    }

    pub fn decode(words: &[u16]) -> StepEntry {
        use stem_step::*;
        let low = (0..4).fold(0u64, |a, i| a | u64::from(words[i]) << (16 * i));
        let high = u64::from(words[4]);
        let g = |f: Field| f.get(low) as usize;
        StepEntry {
            rows: g(ROWS),
            ky0_kci: g(KY0_KCI),
            slot0: g(SLOT0),
            row0_data_base: g(ROW0_DATA_BASE),
            row0_bitmap_base: g(ROW0_BITMAP_BASE),
            dst_data_base: g(DST_DATA_BASE),
            dst_bitmap_base: DST_BITMAP_BASE.get(high) as usize,
            layer: g(LAYER),
            last: g(LAST) == 1,
        }
    }
}

/// Where a stem run's cycles go (one group).
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
    /// The (layer, row) each slot of a line buffer holds: reads check it.
    tags: std::collections::HashMap<(StemMemory, usize), (usize, usize)>,
}

impl StemMemories {
    pub fn new(build: &Build) -> Self {
        Self {
            words: StemMemory::ALL
                .iter()
                .map(|&m| (m, vec![0; m.first_word(build) + m.words(build)]))
                .collect(),
            tags: Default::default(),
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
}

/// Rows of the input map that output row `y` reads: `[lo, hi]`, clipped to the map
/// (empty when the window lies in the padding).
fn window_rows(y: usize, h: usize, k: usize, s: usize, p: usize) -> Option<(usize, usize)> {
    let top = (y * s) as i64 - p as i64;
    let lo = top.max(0);
    let hi = (top + k as i64 - 1).min(h as i64 - 1);
    (lo <= hi).then_some((lo as usize, hi as usize))
}

impl StemPlan {
    /// The plan of `model`'s stem on `build`, or every capacity it exceeds.
    /// `Ok(None)` for a model without a stem.
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

        // Stores: the input group and the stem's output whole in the input memory (for
        // every group), the line buffers first-fit (largest first) in the two borrowed
        // memories; all bitmaps in the z memory, the groups' first.
        let groups = match model.input.grouping {
            Grouping::Split => model.timesteps,
            Grouping::Repeat => 1,
        };
        let row_bytes = |m: [usize; 3]| m[1] * m[2];
        let bm0 = StemMemory::Bitmaps.first_word(build);
        let raw = RowStore {
            memory: StemMemory::Input,
            base: 0,
            bitmap_base: bm0,
            slots: maps[0][0],
            row_bytes: row_bytes(maps[0]),
        };
        let out = RowStore {
            memory: StemMemory::Input,
            base: raw.end(),
            bitmap_base: raw.bitmap_end(),
            slots: maps[n][0],
            row_bytes: row_bytes(maps[n]),
        };
        let group_words = raw.words() + out.words();
        let group_bitmap_words = raw.bitmap_words() + out.bitmap_words();
        let mut excess = Vec::new();
        need_at_most(
            &mut excess,
            format!(
                "input memory words ({groups} group(s) of input map and stem output, dense, \
                 and the table of {} row steps)",
                schedule.len()
            ),
            groups * group_words + schedule.len() * STEP_WORDS,
            StemMemory::Input.words(build),
        );
        let mut rings: Vec<RowStore> = (0..n.saturating_sub(1))
            .map(|l| RowStore {
                memory: StemMemory::EventLists,
                base: 0,
                bitmap_base: 0,
                slots: slots[l],
                row_bytes: row_bytes(maps[l + 1]),
            })
            .collect();
        let mut bitmap_next = bm0 + groups * group_bitmap_words;
        for r in rings.iter_mut() {
            r.bitmap_base = bitmap_next;
            bitmap_next += r.bitmap_words();
        }
        need_at_most(
            &mut excess,
            "z memory words for bitmaps (one per 16 bytes of every stored row)".into(),
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
                        slots[l], rings[l].row_bytes
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
        for (i, c) in model.stem.iter().enumerate() {
            need_at_most(
                &mut excess,
                format!("stem[{i}].out_channels"),
                c.out_channels,
                build.max_width(),
            );
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
                src: if l == 0 { raw } else { rings[l - 1] },
                dst: if l + 1 == n { out } else { rings[l] },
            })
            .collect();
        let plan = StemPlan {
            layers,
            schedule,
            groups,
            group_words,
            group_bitmap_words,
            lanes: build.lanes,
        };
        // Every field of the step table and the layer rows holds its value (the last
        // group's bases are the largest).
        let mut overflows: Vec<FieldOverflow> = plan
            .step_entries(groups - 1)
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
        if !excess.is_empty() {
            return Err(excess);
        }
        Ok(Some(plan))
    }

    /// Row memory rows the stem takes: weight rows (a window index's Co bits, packed
    /// `row_bits / (P * tiles)` to a row), one parameter row per output channel and
    /// [`LAYER_ROWS`] of geometry per layer. The row steps' table is in the input memory
    /// ([`StemPlan::step_table`]).
    pub fn rows(&self, model: &Model, build: &Build) -> usize {
        let mut rows = 0;
        for (lp, c) in self.layers.iter().zip(&model.stem) {
            let per_row = build.row_bits / (build.lanes * build.tiles(c.out_channels));
            rows += LAYER_ROWS
                + c.out_channels
                + (lp.kernel * lp.kernel * lp.input[2]).div_ceil(per_row);
        }
        rows
    }

    /// Where the row steps' table lives: [`STEP_WORDS`] words per step in the input
    /// memory, after every group's whole maps.
    pub fn step_table(&self) -> (usize, usize) {
        let first = self.groups * self.group_words;
        (first, first + self.schedule.len() * STEP_WORDS)
    }

    /// The whole store of the input group g (its rows in slots 0..H).
    pub fn input_store(&self, g: usize) -> RowStore {
        self.whole(self.layers[0].src, g)
    }

    /// The store of the stem's output of group g: stage 0's input.
    pub fn output_store(&self, g: usize) -> RowStore {
        self.whole(self.layers.last().unwrap().dst, g)
    }

    /// The stores row step `step` of group g reads and writes.
    pub fn step_stores(&self, step: RowStep, g: usize) -> (RowStore, RowStore) {
        let lp = &self.layers[step.layer];
        let src = if step.layer == 0 {
            self.input_store(g)
        } else {
            lp.src
        };
        let dst = if step.layer + 1 == self.layers.len() {
            self.output_store(g)
        } else {
            lp.dst
        };
        (src, dst)
    }

    fn whole(&self, s: RowStore, g: usize) -> RowStore {
        RowStore {
            base: s.base + g * self.group_words,
            bitmap_base: s.bitmap_base + g * self.group_bitmap_words,
            ..s
        }
    }

    /// Every store of the plan: (what, store), group 0's whole maps and the line buffers.
    pub fn stores(&self) -> Vec<(String, RowStore)> {
        let n = self.layers.len();
        let mut v = vec![("input group".to_string(), self.layers[0].src)];
        for (l, lp) in self.layers.iter().enumerate() {
            let what = if l + 1 == n {
                "stem output (stage 0's input)".to_string()
            } else {
                format!("stem[{l}] line buffer")
            };
            v.push((what, lp.dst));
        }
        v
    }

    /// Writes the input group `group` (H*W*C bytes) as group g's input rows, as the
    /// input port does: dense, with its bitmap.
    pub fn write_input(&self, mem: &mut StemMemories, g: usize, group: &[u8]) {
        let st = self.input_store(g);
        for (y, row) in group.chunks(st.row_bytes).enumerate() {
            write_row(mem, st, y, row);
        }
    }

    /// Runs the stem on group g (already written), in the schedule's order, and returns
    /// its cycles. The output is in [`StemPlan::output_store`].
    pub fn run(&self, model: &Model, mem: &mut StemMemories, g: usize) -> StemCycles {
        self.run_with(model, mem, g, &mut |_, _, _| {})
    }

    /// [`StemPlan::run`], calling `before_step` with the memories as each row step
    /// finds them, the step and the store it reads (to check hardware step by step).
    pub fn run_with(
        &self,
        model: &Model,
        mem: &mut StemMemories,
        g: usize,
        before_step: &mut dyn FnMut(&StemMemories, RowStep, RowStore),
    ) -> StemCycles {
        let n = self.layers.len();
        let mut cyc = StemCycles::default();
        for step in &self.schedule {
            let lp = &self.layers[step.layer];
            let conv = &model.stem[step.layer];
            let (src, dst) = self.step_stores(*step, g);
            let [_, ow, co] = lp.output;
            before_step(mem, *step, src);
            cyc.fixed += stem_phases::STEP + stem_phases::FLUSH;
            let mut row = Vec::with_capacity(ow * co);
            for x in 0..ow {
                if step.layer > 0 {
                    let (lo, hi) =
                        window_rows(step.row, lp.input[0], lp.kernel, lp.stride, lp.padding)
                            .expect("a window row is inside the map");
                    for iy in lo..=hi {
                        check_tag(mem, src, step.layer - 1, iy);
                    }
                }
                let (events, pos) = self.window_events(mem, step.layer, src, step.row, x);
                let tiles = co.div_ceil(self.lanes) as u64;
                cyc.events += tiles * pos.events;
                cyc.empty_words += tiles * pos.empty_words;
                cyc.fixed += tiles * (pos.fixed + stem_phases::POSITION);
                cyc.drain += co as u64;
                // The lanes' sums and the neuron unit, per output channel.
                let l = &conv.layer;
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
                    let u = revspike_golden::sim::sat16(
                        (acc * l.multiplier[o] as i64 + l.bias[o] as i64) >> l.shift,
                    );
                    row.push(u);
                }
            }
            // The spike point per channel: row[x*Co + o] is channel o.
            let spikes: Vec<u8> = row
                .chunks(co)
                .flat_map(|u| revspike_golden::sim::spike(&conv.spike, u))
                .collect();
            write_row(mem, dst, step.row, &spikes);
            if step.layer + 1 < n {
                mem.tags.insert(
                    (dst.memory, dst.data_word(step.row, 0)),
                    (step.layer, step.row),
                );
            }
        }
        cyc
    }

    /// The events of output position (y, x) of `layer`, read from `src` as the window
    /// gather reads them (window rows top-down, bytes in order, only set bitmap bits),
    /// and its gather cycles (`fixed`: 2 per window row; `events`; `empty_words`).
    pub fn window_events(
        &self,
        mem: &StemMemories,
        layer: usize,
        src: RowStore,
        y: usize,
        x: usize,
    ) -> (Vec<(usize, u8)>, StemCycles) {
        let lp = &self.layers[layer];
        let [h, w, ci] = lp.input;
        let (k, s, p) = (lp.kernel, lp.stride, lp.padding);
        let mut events = Vec::new();
        let mut pos = StemCycles::default();
        let left = (x * s) as i64 - p as i64;
        let (xlo, xhi) = (left.max(0), (left + k as i64 - 1).min(w as i64 - 1));
        let (ylo, yhi) = window_rows(y, h, k, s, p).expect("a window row is inside the map");
        assert!(xlo <= xhi, "a window column is inside the map");
        for iy in ylo..=yhi {
            let ky = iy as i64 - ((y * s) as i64 - p as i64);
            pos.fixed += stem_phases::WINDOW_ROW;
            let (b0, b1) = (xlo as usize * ci, (xhi as usize + 1) * ci);
            let mut b = b0;
            while b < b1 {
                let chunk_end = (b / CHUNK_BYTES + 1) * CHUNK_BYTES;
                let bm = mem.word(StemMemory::Bitmaps, src.bitmap_word(iy, b));
                let mut found = 0;
                for bb in b..chunk_end.min(b1) {
                    if bm >> (bb % CHUNK_BYTES) & 1 == 1 {
                        let word = mem.word(src.memory, src.data_word(iy, bb));
                        let v = if bb % 2 == 0 { word & 0xff } else { word >> 8 };
                        // The window index: (ky*k + kx)*Ci + ci.
                        let j = (ky as usize * k) * ci + (bb as i64 - left * ci as i64) as usize;
                        events.push((j, v as u8));
                        found += 1;
                    }
                }
                if found == 0 {
                    pos.empty_words += 1;
                }
                b = chunk_end;
            }
        }
        pos.events = events.len() as u64;
        (events, pos)
    }

    /// What the window walker is given for row step (layer, y) reading `src`: the
    /// layer's geometry and the step's first valid window row.
    pub fn walker_step(&self, layer: usize, src: RowStore, y: usize) -> WalkerStep {
        let lp = &self.layers[layer];
        let [h, w, ci] = lp.input;
        let (k, s, p) = (lp.kernel, lp.stride, lp.padding);
        let (lo, hi) = window_rows(y, h, k, s, p).expect("a window row is inside the map");
        let top = (y * s) as i64 - p as i64;
        let ky0 = (lo as i64 - top) as usize;
        WalkerStep {
            kci: k * ci,
            sci: s * ci,
            row_last: w * ci - 1,
            positions: lp.output[1],
            slots: src.slots,
            slot_data_words: src.chunks() * CHUNK_WORDS,
            slot_bitmap_words: src.chunks(),
            src_data_base: src.base,
            src_bitmap_base: src.bitmap_base,
            first_left: -((p * ci) as i64),
            rows: hi - lo + 1,
            ky0_kci: ky0 * k * ci,
            slot0: lo % src.slots,
            row0_data_base: src.data_word(lo, 0),
            row0_bitmap_base: src.bitmap_word(lo, 0),
        }
    }

    /// Group g's step table: one [`StepEntry`] per row step, as the core reads it.
    pub fn step_entries(&self, g: usize) -> Vec<StepEntry> {
        self.schedule
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let (src, dst) = self.step_stores(*step, g);
                let w = self.walker_step(step.layer, src, step.row);
                StepEntry {
                    rows: w.rows,
                    ky0_kci: w.ky0_kci,
                    slot0: w.slot0,
                    row0_data_base: w.row0_data_base,
                    row0_bitmap_base: w.row0_bitmap_base,
                    dst_data_base: dst.data_word(step.row, 0),
                    dst_bitmap_base: dst.bitmap_word(step.row, 0),
                    layer: step.layer,
                    last: i + 1 == self.schedule.len(),
                }
            })
            .collect()
    }

    /// Layer `l`'s shared fields as its [`LAYER_ROWS`] rows, with its weight rows from
    /// `weight_base` and its parameter rows from `param_base`.
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
        // Group 0's stores: a group's whole maps are found from the step table's bases.
        let w = self.walker_step(l, lp.src, 0);
        let per_row = build.row_bits / (build.lanes * build.tiles(c.out_channels));
        let put = |fields: &[(Field, u64)]| -> Result<u64, FieldOverflow> {
            fields.iter().try_fold(0u64, |row, &(f, v)| f.put(row, v))
        };
        Ok([
            put(&[
                (KCI, w.kci as u64),
                (SCI, w.sci as u64),
                (ROW_LAST, w.row_last as u64),
                (POSITIONS, w.positions as u64),
                (SLOTS, w.slots as u64),
                (SRC_MEMORY, lp.src.memory.code()),
                (DST_MEMORY, lp.dst.memory.code()),
                (WEIGHT_PACK, u64::from(per_row.trailing_zeros())),
            ])?,
            put(&[
                (SLOT_DATA_WORDS, w.slot_data_words as u64),
                (SLOT_BITMAP_WORDS, w.slot_bitmap_words as u64),
                (SRC_DATA_BASE, w.src_data_base as u64),
                (SRC_BITMAP_BASE, w.src_bitmap_base as u64),
                (FIRST_LEFT, (w.first_left as u64) & FIRST_LEFT.mask()),
            ])?,
            put(&[
                (DST_ROW_BYTES, lp.dst.row_bytes as u64),
                (WEIGHT_BASE, weight_base as u64),
                (PARAM_BASE, param_base as u64),
                (LAST_CHANNEL, (c.out_channels - 1) as u64),
                (SHIFT_R, u64::from(c.layer.shift)),
                (SPIKE_K, u64::from(c.spike.shift)),
            ])?,
        ])
    }

    /// Reads the stem output of group g back (H'*W'*Co bytes), from its dense rows.
    pub fn read_output(&self, mem: &StemMemories, g: usize) -> Vec<u8> {
        let st = self.output_store(g);
        let [h, _, _] = self.layers.last().unwrap().output;
        let mut out = Vec::with_capacity(h * st.row_bytes);
        for y in 0..h {
            for b in 0..st.row_bytes {
                let w = mem.word(st.memory, st.data_word(y, b));
                out.push(if b % 2 == 0 { w as u8 } else { (w >> 8) as u8 });
            }
        }
        out
    }

    /// Cycles stage 0's `down` streams its input in, per tile: the stem output's
    /// nonzero bytes, one cycle per bitmap word without any, one per row.
    pub fn stage0_stream(&self, mem: &StemMemories, g: usize) -> u64 {
        let st = self.output_store(g);
        let h = self.layers.last().unwrap().output[0];
        let mut c = 0;
        for y in 0..h {
            c += stem_phases::WINDOW_ROW;
            for ch in 0..st.chunks() {
                let bm = mem.word(StemMemory::Bitmaps, st.bitmap_word(y, ch * CHUNK_BYTES));
                c += u64::from(bm.count_ones()).max(1);
            }
        }
        c
    }
}

/// The stem's cycles of one sample: every group's (one with `repeat`).
pub fn sample_cycles(plan: &StemPlan, model: &Model, build: &Build, input: &[u8]) -> StemCycles {
    run_sample(plan, model, build, input).0
}

/// The stem's share of a run of `input`, for [`crate::cycle_model::run_cycles_planned`].
pub fn stem_share(
    plan: &StemPlan,
    model: &Model,
    build: &Build,
    input: &[u8],
) -> crate::cycle_model::StemShare {
    run_sample(plan, model, build, input).1
}

/// Runs every group of `input` through the stem: its cycles, its share of the run and
/// the memories it leaves (every group's stem output in [`StemPlan::output_store`]).
pub fn run_sample(
    plan: &StemPlan,
    model: &Model,
    build: &Build,
    input: &[u8],
) -> (StemCycles, crate::cycle_model::StemShare, StemMemories) {
    let mut mem = StemMemories::new(build);
    let g_len = model.input.group_len;
    let mut total = StemCycles::default();
    let mut stage0_stream = Vec::new();
    for g in 0..plan.groups {
        plan.write_input(&mut mem, g, &input[g * g_len..(g + 1) * g_len]);
        total.add(&plan.run(model, &mut mem, g));
        stage0_stream.push(plan.stage0_stream(&mem, g));
    }
    let share = crate::cycle_model::StemShare {
        stem: total.total(),
        stage0_stream,
    };
    (total, share, mem)
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

/// The words the core's row writer writes for one row: its data words (two bytes each,
/// the last one half full when the row has an odd length) and its bitmap words (bit i
/// of word j set when byte 16j + i is nonzero).
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

/// Writes one row to slot `row % slots` as the core's row writer does ([`row_words`]).
fn write_row(mem: &mut StemMemories, st: RowStore, row: usize, bytes: &[u8]) {
    assert_eq!(bytes.len(), st.row_bytes);
    let (data, bitmap) = row_words(bytes);
    for (i, w) in data.into_iter().enumerate() {
        mem.set(st.memory, st.data_word(row, 2 * i), w);
    }
    for (j, w) in bitmap.into_iter().enumerate() {
        mem.set(StemMemory::Bitmaps, st.bitmap_word(row, j * CHUNK_BYTES), w);
    }
}

fn check_tag(mem: &StemMemories, st: RowStore, layer: usize, row: usize) {
    let held = mem.tags.get(&(st.memory, st.data_word(row, 0)));
    assert_eq!(
        held,
        Some(&(layer, row)),
        "stem plan: the slot of stem[{layer}] row {row} holds another row"
    );
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
    fn row_store_addresses_pack_two_bytes_a_word_and_a_bitmap_word_per_chunk() {
        let st = RowStore {
            memory: StemMemory::EventLists,
            base: 100,
            bitmap_base: 70,
            slots: 3,
            row_bytes: 20, // 2 chunks: 16 data words and 2 bitmap words a row
        };
        assert_eq!((st.words(), st.bitmap_words()), (48, 6));
        assert_eq!(st.data_word(0, 0), 100);
        assert_eq!(st.data_word(0, 19), 109);
        assert_eq!(st.bitmap_word(0, 15), 70);
        assert_eq!(st.bitmap_word(0, 16), 71);
        // Row 4 wraps to slot 1.
        assert_eq!(st.data_word(4, 0), 116);
        assert_eq!(st.bitmap_word(4, 0), 72);
    }
}
