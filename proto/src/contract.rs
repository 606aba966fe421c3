//! The contract between the model compiler and the spiking core, to the bit, defined
//! once: the layer descriptor and parameter-row formats, the codes they carry, the core's
//! status codes and the host port's word address map.
//!
//! The compiler ([`crate::image`]) packs with these tables and the hardware
//! (`revspike_hdl`) unpacks with them: its blocks take every offset and code as a
//! rust-hdl `Constant` built from the tables here, since `#[hdl_gen]` kernels cannot name
//! a Rust constant. docs/architecture.md describes the formats in prose.

use std::fmt;

/// A bit field of a packed word: `width` bits from bit `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub width: usize,
}

/// A value does not fit its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value} does not fit its {width} bits")]
pub struct FieldOverflow {
    pub field: &'static str,
    pub value: u64,
    pub width: usize,
}

impl Field {
    pub const fn new(name: &'static str, offset: usize, width: usize) -> Field {
        Field {
            name,
            offset,
            width,
        }
    }

    /// The field's values, right-aligned.
    pub const fn mask(self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1 << self.width) - 1
        }
    }

    /// The first bit past the field.
    pub const fn end(self) -> usize {
        self.offset + self.width
    }

    pub const fn get(self, word: u64) -> u64 {
        (word >> self.offset) & self.mask()
    }

    /// `word` with this field set to `value`, which must fit.
    pub fn put(self, word: u64, value: u64) -> Result<u64, FieldOverflow> {
        if value & !self.mask() != 0 {
            return Err(FieldOverflow {
                field: self.name,
                value,
                width: self.width,
            });
        }
        Ok(word & !(self.mask() << self.offset) | value << self.offset)
    }

    /// `word` with this field set to the low `width` bits of `value` (two's complement
    /// fields).
    pub const fn put_wrapping(self, word: u64, value: u64) -> u64 {
        word & !(self.mask() << self.offset) | (value & self.mask()) << self.offset
    }
}

/// The fields of a packed format do not overlap and fit its word.
pub fn check_layout(fields: &[Field], word_bits: usize) -> Result<(), String> {
    let mut used = 0u128;
    for f in fields {
        if f.width == 0 || f.end() > word_bits {
            return Err(format!(
                "{} (bits {}..{}) leaves the word",
                f.name,
                f.offset,
                f.end()
            ));
        }
        let bits = ((1u128 << f.width) - 1) << f.offset;
        if used & bits != 0 {
            return Err(format!("{} overlaps another field", f.name));
        }
        used |= bits;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Layer descriptors
// ---------------------------------------------------------------------------------

/// Row addresses are this wide in the core (row memory, event lists, counters).
pub const ROW_ADDR_BITS: usize = 12;

/// A layer descriptor: one 64-bit row of the unified row memory, one channel tile of
/// one layer evaluation.
pub mod desc {
    use super::{Field, ROW_ADDR_BITS};

    /// Bits of a descriptor (the low bits of its row).
    pub const BITS: usize = 64;
    /// [`super::Kind`] of the layer.
    pub const KIND: Field = Field::new("kind", 0, 2);
    /// The layer contributes nothing at t = 0 (an up-connection); its post op runs.
    pub const SKIP_FIRST_STEP: Field = Field::new("skip_first_step", 2, 1);
    /// [`super::Source`] of the layer's events.
    pub const SRC: Field = Field::new("src", 3, 3);
    /// Row of the layer's first weight row.
    pub const WEIGHT_BASE: Field = Field::new("weight_base", 6, ROW_ADDR_BITS);
    /// Parameter row of the tile's first channel.
    pub const PARAM_BASE: Field = Field::new("param_base", 18, ROW_ADDR_BITS);
    /// Last output channel of the tile (first channel + outputs - 1).
    pub const LAST_CHANNEL: Field = Field::new("last_channel", 30, 8);
    /// Requantization shift R.
    pub const SHIFT_R: Field = Field::new("shift_r", 38, 5);
    /// [`super::Post`] operation.
    pub const POST: Field = Field::new("post", 43, 2);
    /// Spike shift k of the post operation.
    pub const SPIKE_K: Field = Field::new("spike_k", 45, 4);
    /// Stage of the layer (its output list and turn-on membranes).
    pub const STAGE: Field = Field::new("stage", 49, 2);
    /// The stage's first entry in a timestep of the reversible state buffer.
    pub const STATE_OFFSET: Field = Field::new("state_offset", 51, 9);
    /// Channel tile: lanes take weight-row bits `tile * P ..`; tile 0 starts the list.
    pub const TILE: Field = Field::new("tile", 60, 2);
    /// A spike post operation writes scratch list B (else A).
    pub const SPIKES_TO_B: Field = Field::new("spikes_to_b", 62, 1);
    /// The program's last descriptor.
    pub const LAST: Field = Field::new("last", 63, 1);

    pub const ALL: [Field; 14] = [
        KIND,
        SKIP_FIRST_STEP,
        SRC,
        WEIGHT_BASE,
        PARAM_BASE,
        LAST_CHANNEL,
        SHIFT_R,
        POST,
        SPIKE_K,
        STAGE,
        STATE_OFFSET,
        TILE,
        SPIKES_TO_B,
        LAST,
    ];
}

/// Channel tiles per layer the descriptor format holds.
pub const MAX_TILES: usize = 1 << desc::TILE.width;

/// What a layer's output does to the stage's scratch membrane z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The first layer of a stage: `z = sat16(y)`.
    First = 0,
    /// A residual layer: `z = sat16(z + sat16(y))`.
    Residual = 1,
    /// The head: `logit (+)= y`, exact.
    Head = 2,
}

/// The event list a layer streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The output spikes s_l of stage l (0..=3).
    Stage(u8),
    /// Block scratch list A.
    ScratchA,
    /// The input group of the current timestep.
    Input,
    /// Block scratch list B.
    ScratchB,
}

/// What follows a layer, per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Post {
    None = 0,
    /// A turn-off spike for the next block, to a scratch list.
    Spike = 1,
    /// The turn-on update `c = wrap16(z + sigma*(c >>> h))` and the stage's spikes.
    TurnOn = 2,
    /// The inverse of the turn-on update (the rewind program).
    Rewind = 3,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::First, Kind::Residual, Kind::Head];

    pub const fn code(self) -> u64 {
        self as u64
    }

    pub fn from_code(code: u64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl Source {
    /// Stages whose output lists a descriptor can name.
    pub const STAGES: u8 = 4;

    pub const fn code(self) -> u64 {
        match self {
            Source::Stage(l) => l as u64,
            Source::ScratchA => 4,
            Source::Input => 5,
            Source::ScratchB => 6,
        }
    }

    pub fn from_code(code: u64) -> Option<Source> {
        match code {
            0..=3 => Some(Source::Stage(code as u8)),
            4 => Some(Source::ScratchA),
            5 => Some(Source::Input),
            6 => Some(Source::ScratchB),
            _ => None,
        }
    }
}

impl Post {
    pub const ALL: [Post; 4] = [Post::None, Post::Spike, Post::TurnOn, Post::Rewind];

    pub const fn code(self) -> u64 {
        self as u64
    }

    pub fn from_code(code: u64) -> Option<Post> {
        Post::ALL.into_iter().find(|p| p.code() == code)
    }

    /// Writes the turn-on membranes and the stage's output list.
    pub const fn updates_state(self) -> bool {
        matches!(self, Post::TurnOn | Post::Rewind)
    }
}

// ---------------------------------------------------------------------------------
// Parameter rows
// ---------------------------------------------------------------------------------

/// A parameter row: one layer output channel's requantization and the post
/// operation's threshold and leak for it.
pub mod param {
    use super::Field;

    /// Multiplier M (i8).
    pub const M: Field = Field::new("m", 0, 8);
    /// Bias B (two's complement, 26 bits).
    pub const B: Field = Field::new("b", 8, 26);
    /// Spike threshold (i16).
    pub const THRESHOLD: Field = Field::new("threshold", 34, 16);
    /// The leak's sign sigma is -1.
    pub const NEGATIVE_LEAK: Field = Field::new("negative_leak", 50, 1);
    /// Leak shift h.
    pub const H: Field = Field::new("h", 51, 4);

    pub const ALL: [Field; 5] = [M, B, THRESHOLD, NEGATIVE_LEAK, H];
}

// ---------------------------------------------------------------------------------
// Conv stem: the row-step table and the layer rows (docs/architecture.md, the conv stem)
// ---------------------------------------------------------------------------------

/// A conv stem row step: one row of the step table in the row memory (the fields are in
/// its low 64 bits). The stem unit reads the steps in order from
/// [`ConfigReg::StemSteps`] up to the one marked [`stem_step::LAST`].
///
/// Stores are addressed in bytes from their region's first word: byte `b` is the low
/// (even `b`) or high byte of data word `base + b / 2`, and its nonzero bit is bit
/// `b % 16` of bitmap word `bitmap_base + b / 16`.
pub mod stem_step {
    use super::Field;

    /// Valid window rows (the rest lie in the padding).
    pub const ROWS: Field = Field::new("rows", 0, 3);
    /// The first valid window row's ky * k * Ci.
    pub const KY0_KCI: Field = Field::new("ky0_kci", 3, 13);
    /// The first valid window row's first byte in the source store.
    pub const ROW0_BYTE: Field = Field::new("row0_byte", 16, 12);
    /// The output row's first data word and first bitmap word in its line buffer's
    /// memories (0 for the last layer, which writes stage 0's event list instead). The
    /// compiler adds the row's byte to the buffer's bases, so the stem unit starts its
    /// row writer straight from this row.
    pub const DST_WORD: Field = Field::new("dst_word", 28, 12);
    pub const DST_BITMAP: Field = Field::new("dst_bitmap", 40, 11);
    /// The row of the step's layer's first field row ([`super::stem_layer`]): the
    /// compiler adds it up, so the stem unit needs neither a base register nor a
    /// multiply by the layer's rows.
    pub const LAYER_ROW: Field = Field::new("layer_row", 51, 12);
    /// The stem's last step (of the last group).
    pub const LAST: Field = Field::new("last", 63, 1);
    pub const ALL: [Field; 7] = [
        ROWS, KY0_KCI, ROW0_BYTE, DST_WORD, DST_BITMAP, LAYER_ROW, LAST,
    ];
}

/// A conv stem layer's fields that all its row steps share: [`stem_layer::ROWS`] rows of
/// the row memory from its steps' [`stem_step::LAYER_ROW`], fields
/// [`stem_layer::ROW0`], [`stem_layer::ROW1`], [`stem_layer::ROW2`] (low 64 bits).
pub mod stem_layer {
    use super::Field;

    pub const ROWS: usize = 3;
    /// k * Ci - 1 and s * Ci: a window row's last byte from its first, and its move per
    /// output position. (The - 1 is the compiler's: an add of three terms costs the
    /// walker a LUT level and an adder more than one of two.)
    pub const KCI_M1: Field = Field::new("kci_m1", 0, 11);
    pub const SCI: Field = Field::new("sci", 11, 11);
    /// W * Ci - 1: an input row's last byte.
    pub const ROW_LAST: Field = Field::new("row_last", 22, 12);
    /// Output positions W' of a row.
    pub const POSITIONS: Field = Field::new("positions", 34, 9);
    /// -p * Ci, 14-bit two's complement: where position 0's window starts, left of its
    /// input row's first byte (the walker's `left`, with no negation in hardware).
    pub const LEFT0: Field = Field::new("left0", 43, 14);
    pub const ROW0: [Field; 5] = [KCI_M1, SCI, ROW_LAST, POSITIONS, LEFT0];
    /// Bytes from one source row to the next, and the source store's bytes (where a
    /// line buffer wraps to its first row).
    pub const SLOT_BYTES: Field = Field::new("slot_bytes", 0, 12);
    pub const REGION_BYTES: Field = Field::new("region_bytes", 12, 12);
    /// The source store's first data word and first bitmap word (in the z memory).
    pub const SRC_DATA_BASE: Field = Field::new("src_data_base", 24, 12);
    pub const SRC_BITMAP_BASE: Field = Field::new("src_bitmap_base", 36, 12);
    /// The destination memory: a line buffer's (`stem_plan::StemMemory` code), or the
    /// input memory's code for the last layer, whose output goes to stage 0's event list.
    pub const DST_MEMORY: Field = Field::new("dst_memory", 48, 2);
    /// log2 of the conv weight rows packed to a memory row.
    pub const WEIGHT_PACK: Field = Field::new("weight_pack", 50, 2);
    /// Requantization shift R and spike shift k.
    pub const SHIFT_R: Field = Field::new("shift_r", 52, 5);
    pub const SPIKE_K: Field = Field::new("spike_k", 57, 4);
    pub const ROW1: [Field; 8] = [
        SLOT_BYTES,
        REGION_BYTES,
        SRC_DATA_BASE,
        SRC_BITMAP_BASE,
        DST_MEMORY,
        WEIGHT_PACK,
        SHIFT_R,
        SPIKE_K,
    ];
    /// The layer's first weight row and first parameter row.
    pub const WEIGHT_BASE: Field = Field::new("weight_base", 0, 12);
    pub const PARAM_BASE: Field = Field::new("param_base", 12, 12);
    /// The source memory (`stem_plan::StemMemory` code).
    pub const SRC_MEMORY: Field = Field::new("src_memory", 24, 2);
    /// Co - 1.
    pub const LAST_CHANNEL: Field = Field::new("last_channel", 26, 8);
    pub const ROW2: [Field; 4] = [WEIGHT_BASE, PARAM_BASE, SRC_MEMORY, LAST_CHANNEL];
}

// ---------------------------------------------------------------------------------
// Core status codes
// ---------------------------------------------------------------------------------

/// The core's status codes (status register [`StatusReg::Code`], the host port's
/// `status`, the detail of a link `CORE` error) and their messages.
pub use crate::core_port::CoreStatus;

// ---------------------------------------------------------------------------------
// Host port address map
// ---------------------------------------------------------------------------------

/// Word addresses of the host port: 20 bits, 16-bit words.
pub mod addr {
    use super::Field;

    pub const BITS: usize = 20;
    /// The region ([`super::Region`]).
    pub const REGION: Field = Field::new("region", 16, 4);
    /// The word within its region.
    pub const OFFSET: Field = Field::new("offset", 0, 16);
    /// Register index within regions 1 and 4 (registers beyond it read as 0).
    pub const REGISTER: Field = Field::new("register", 0, 4);
    /// Region 3: which half of a 32-bit logit (0 low, 1 high).
    pub const LOGIT_HALF: Field = Field::new("logit_half", 0, 1);
    /// Bits of a word.
    pub const WORD_BITS: usize = 16;
}

/// The regions of the host port's address map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// Row memory: word `row * K + k` is bits `16k .. 16k+15` of row `row` (K = row
    /// bits / 16). Read/write.
    Rows = 0,
    /// Configuration registers ([`ConfigReg`]). Read/write.
    Config = 1,
    /// Turn-on membranes: word `l * N + c` is `c_l[c]` (N = the build's channels).
    /// Read/write.
    State = 2,
    /// Logits: word `2 * j + h` is half h of logit j (i32). Read only.
    Logits = 3,
    /// Status registers ([`StatusReg`]). Read only.
    Status = 4,
}

impl Region {
    pub const ALL: [Region; 5] = [
        Region::Rows,
        Region::Config,
        Region::State,
        Region::Logits,
        Region::Status,
    ];

    pub const fn code(self) -> u64 {
        self as u64
    }

    /// The region's first word address.
    pub const fn base(self) -> u32 {
        (self as u32) << addr::REGION.offset
    }

    /// The region of a word address, if it is mapped.
    pub fn of(address: u32) -> Option<Region> {
        let code = addr::REGION.get(address as u64);
        Region::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Configuration registers (region 1), read/write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigReg {
    /// Timesteps T.
    T = 0,
    /// Input group length G.
    G = 1,
    /// [`config_flags`].
    Flags = 2,
    /// Classes.
    Classes = 3,
    /// Row of the forward program's first descriptor.
    ForwardProgram = 4,
    /// Row of the rewind program's first descriptor.
    RewindProgram = 5,
    /// Reversible-buffer stride (the sum of the stage widths).
    Stride = 6,
    /// Stages.
    Stages = 7,
    /// Conv stem (held by the stem unit, on builds with one): the row of the first step
    /// ([`stem_step`]). (Register 8 is unused.)
    StemSteps = 9,
    /// Bytes of the stem's output per group (stage 0's input length); 0: no stem.
    StemOutLen = 10,
    /// The input memory's first word of the input map(s); the words below it hold
    /// stage 0's event list.
    StemInBase = 11,
}

/// Bits of the flags register ([`ConfigReg::Flags`]).
pub mod config_flags {
    use super::Field;

    /// Every timestep sees input group 0 (repeat grouping), else group t.
    pub const REPEAT: Field = Field::new("repeat", 0, 1);
    /// The logits are summed over timesteps (sum readout), else the last one's.
    pub const SUM: Field = Field::new("sum", 1, 1);
}

impl ConfigReg {
    pub const ALL: [ConfigReg; 8] = [
        ConfigReg::T,
        ConfigReg::G,
        ConfigReg::Flags,
        ConfigReg::Classes,
        ConfigReg::ForwardProgram,
        ConfigReg::RewindProgram,
        ConfigReg::Stride,
        ConfigReg::Stages,
    ];
    /// The conv stem's registers, held by the stem unit (not by the host register
    /// file, which ignores them and reads them as 0).
    pub const STEM: [ConfigReg; 3] = [
        ConfigReg::StemSteps,
        ConfigReg::StemOutLen,
        ConfigReg::StemInBase,
    ];

    pub const fn index(self) -> u64 {
        self as u64
    }

    pub const fn address(self) -> u32 {
        Region::Config.base() + self as u32
    }
}

/// Status registers (region 4), read only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusReg {
    /// Timesteps done (the state is c(t) for t = this).
    TimestepsDone = 0,
    /// Prediction of the last run.
    Prediction = 1,
    /// Cycles of the last command, bits 15..0.
    CyclesLo = 2,
    /// Cycles of the last command, bits 31..16.
    CyclesHi = 3,
    /// [`CoreStatus`] code of the last command (0: success).
    Code = 4,
    /// Input entries the committed sample uses.
    Entries = 5,
}

impl StatusReg {
    pub const ALL: [StatusReg; 6] = [
        StatusReg::TimestepsDone,
        StatusReg::Prediction,
        StatusReg::CyclesLo,
        StatusReg::CyclesHi,
        StatusReg::Code,
        StatusReg::Entries,
    ];

    pub const fn index(self) -> u64 {
        self as u64
    }

    pub const fn address(self) -> u32 {
        Region::Status.base() + self as u32
    }
}

/// Word address of half `half` (0 low, 1 high) of logit `class`.
pub const fn logit_address(class: usize, half: usize) -> u32 {
    Region::Logits.base() + (2 * class + half) as u32
}

/// Word address of the turn-on membrane `c_l[c]` on a build of `channels` channels.
pub const fn state_address(channels: usize, stage: usize, c: usize) -> u32 {
    Region::State.base() + (stage * channels + c) as u32
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Region::Rows => "row memory",
            Region::Config => "configuration registers",
            Region::State => "turn-on membranes",
            Region::Logits => "logits",
            Region::Status => "status registers",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_have_no_overlapping_fields() {
        check_layout(&desc::ALL, desc::BITS).unwrap();
        check_layout(&param::ALL, 64).unwrap();
        check_layout(&[addr::REGION, addr::OFFSET], addr::BITS).unwrap();
        check_layout(&stem_step::ALL, 64).unwrap();
        check_layout(&stem_layer::ROW0, 64).unwrap();
        check_layout(&stem_layer::ROW1, 64).unwrap();
        check_layout(&stem_layer::ROW2, 64).unwrap();
        // The descriptor fills its row: nothing is left undefined.
        assert_eq!(desc::ALL.iter().map(|f| f.width).sum::<usize>(), 64);
        assert!(check_layout(&[desc::KIND, Field::new("x", 1, 2)], 64).is_err());
        assert!(check_layout(&[Field::new("x", 63, 2)], 64).is_err());
    }

    #[test]
    fn codes_round_trip_and_fit_their_fields() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
            assert!(k.code() <= desc::KIND.mask());
        }
        for p in Post::ALL {
            assert_eq!(Post::from_code(p.code()), Some(p));
            assert!(p.code() <= desc::POST.mask());
        }
        for c in 0..=desc::SRC.mask() {
            match Source::from_code(c) {
                Some(s) => assert_eq!(s.code(), c),
                None => assert_eq!(c, 7),
            }
        }
    }

    #[test]
    fn the_address_map_decodes_what_it_encodes() {
        for r in Region::ALL {
            assert_eq!(Region::of(r.base() + 7), Some(r));
        }
        assert_eq!(Region::of(0x5_0000), None);
        assert_eq!(ConfigReg::Classes.address(), 0x1_0003);
        assert_eq!(StatusReg::Code.address(), 0x4_0004);
        assert_eq!(logit_address(3, 1), 0x3_0007);
        assert_eq!(state_address(64, 1, 2), 0x2_0042);
        assert!(ConfigReg::ALL
            .iter()
            .all(|r| r.index() <= addr::REGISTER.mask()));
        assert!(StatusReg::ALL
            .iter()
            .all(|r| r.index() <= addr::REGISTER.mask()));
    }

    #[test]
    fn fields_put_and_get() {
        let w = desc::SRC.put(0, 5).unwrap();
        assert_eq!(w, 5 << 3);
        assert_eq!(desc::SRC.get(w), 5);
        assert!(desc::SRC.put(0, 8).is_err());
        assert_eq!(
            param::B.put_wrapping(0, (-1i64) as u64),
            ((1u64 << 26) - 1) << 8
        );
    }
}
