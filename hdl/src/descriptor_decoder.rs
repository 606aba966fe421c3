//! The descriptor decoder: unpacks a layer descriptor row into the registers the
//! sequencer and the datapath run a tile with.
//!
//! The format is `revspike_proto::contract::desc`: every offset and code here is a
//! `Constant` made from those tables (a `#[hdl_gen]` kernel cannot name a Rust
//! constant), so the compiler's `encode` and this decoder cannot drift apart. The codes
//! leave as one flag per meaning (head layer, input source, turn-on post operation,
//! ...), registered with the fields, so the rest of the core never compares a code.

use rust_hdl::prelude::*;

use crate::contract_constants::{offset, value as code};

use revspike_proto::contract::{desc, Kind, Post, Source};

// A stage source names its stage in the code's low bits.
const _: () = assert!(desc::STAGE.width <= desc::SRC.width);

/// Bits of a descriptor row the decoder reads (the low bits of a row-memory row).
pub const DESC_BITS: usize = desc::BITS;

// Field widths for the kernel (a turbofish cannot take a braced expression there).
const KIND_W: usize = desc::KIND.width;
const LAST_CHANNEL_W: usize = desc::LAST_CHANNEL.width;
const PARAM_BASE_W: usize = desc::PARAM_BASE.width;
const POST_W: usize = desc::POST.width;
const SHIFT_R_W: usize = desc::SHIFT_R.width;
const SPIKE_K_W: usize = desc::SPIKE_K.width;
const SRC_W: usize = desc::SRC.width;
const STAGE_W: usize = desc::STAGE.width;
const STATE_OFFSET_W: usize = desc::STATE_OFFSET.width;
const TILE_W: usize = desc::TILE.width;
const WEIGHT_BASE_W: usize = desc::WEIGHT_BASE.width;

#[derive(LogicBlock)]
pub struct DescriptorDecoder {
    pub clock: Signal<In, Clock>,
    /// The descriptor row (the row memory's read-out).
    pub row: Signal<In, Bits<DESC_BITS>>,
    /// Take `row` this cycle; the outputs hold it from the next cycle on.
    pub load: Signal<In, Bit>,

    // Fields.
    pub skip_first_step: Signal<Out, Bit>,
    pub weight_base: Signal<Out, Bits<WEIGHT_BASE_W>>,
    pub param_base: Signal<Out, Bits<PARAM_BASE_W>>,
    pub last_channel: Signal<Out, Bits<LAST_CHANNEL_W>>,
    pub shift_r: Signal<Out, Bits<SHIFT_R_W>>,
    pub spike_k: Signal<Out, Bits<SPIKE_K_W>>,
    pub stage: Signal<Out, Bits<STAGE_W>>,
    pub state_offset: Signal<Out, Bits<STATE_OFFSET_W>>,
    pub tile: Signal<Out, Bits<TILE_W>>,
    pub spikes_to_b: Signal<Out, Bit>,
    pub last: Signal<Out, Bit>,
    // Codes, one flag per meaning.
    /// Kind::First: z = sat16(y).
    pub kind_first: Signal<Out, Bit>,
    /// Kind::Head: the layer writes logits.
    pub kind_head: Signal<Out, Bit>,
    /// Source::Stage(l): the stage list `src_stage`.
    pub src_is_stage: Signal<Out, Bit>,
    pub src_stage: Signal<Out, Bits<STAGE_W>>,
    pub src_input: Signal<Out, Bit>,
    pub src_scratch_b: Signal<Out, Bit>,
    /// Any post operation (its spikes go to an event list).
    pub post_any: Signal<Out, Bit>,
    pub post_spike: Signal<Out, Bit>,
    /// Post::TurnOn or Post::Rewind: the turn-on membranes and the stage list.
    pub post_state: Signal<Out, Bit>,
    pub post_turn_on: Signal<Out, Bit>,
    pub post_rewind: Signal<Out, Bit>,

    // Field offsets.
    o_kind: Constant<Bits<8>>,
    o_skip: Constant<Bits<8>>,
    o_src: Constant<Bits<8>>,
    o_wbase: Constant<Bits<8>>,
    o_pbase: Constant<Bits<8>>,
    o_last_ch: Constant<Bits<8>>,
    o_shift_r: Constant<Bits<8>>,
    o_post: Constant<Bits<8>>,
    o_spike_k: Constant<Bits<8>>,
    o_stage: Constant<Bits<8>>,
    o_state_off: Constant<Bits<8>>,
    o_tile: Constant<Bits<8>>,
    o_to_b: Constant<Bits<8>>,
    o_last: Constant<Bits<8>>,
    // Codes.
    k_first: Constant<Bits<KIND_W>>,
    k_head: Constant<Bits<KIND_W>>,
    s_stage0: Constant<Bits<SRC_W>>,
    s_stage1: Constant<Bits<SRC_W>>,
    s_stage2: Constant<Bits<SRC_W>>,
    s_stage3: Constant<Bits<SRC_W>>,
    s_input: Constant<Bits<SRC_W>>,
    s_scratch_b: Constant<Bits<SRC_W>>,
    p_none: Constant<Bits<POST_W>>,
    p_spike: Constant<Bits<POST_W>>,
    p_turn_on: Constant<Bits<POST_W>>,
    p_rewind: Constant<Bits<POST_W>>,

    kind: Signal<Local, Bits<KIND_W>>,
    src: Signal<Local, Bits<SRC_W>>,
    post: Signal<Local, Bits<POST_W>>,

    r_skip: DFF<Bit>,
    r_wbase: DFF<Bits<WEIGHT_BASE_W>>,
    r_pbase: DFF<Bits<PARAM_BASE_W>>,
    r_last_ch: DFF<Bits<LAST_CHANNEL_W>>,
    r_shift_r: DFF<Bits<SHIFT_R_W>>,
    r_spike_k: DFF<Bits<SPIKE_K_W>>,
    r_stage: DFF<Bits<STAGE_W>>,
    r_state_off: DFF<Bits<STATE_OFFSET_W>>,
    r_tile: DFF<Bits<TILE_W>>,
    r_to_b: DFF<Bit>,
    r_last: DFF<Bit>,
    r_first: DFF<Bit>,
    r_head: DFF<Bit>,
    r_src_is_stage: DFF<Bit>,
    r_src_stage: DFF<Bits<STAGE_W>>,
    r_src_input: DFF<Bit>,
    r_src_b: DFF<Bit>,
    r_post_any: DFF<Bit>,
    r_post_spike: DFF<Bit>,
    r_post_state: DFF<Bit>,
    r_post_turn_on: DFF<Bit>,
    r_post_rewind: DFF<Bit>,
}

impl Default for DescriptorDecoder {
    fn default() -> Self {
        // The stage a stage source names is its code's low bits.
        for l in 0..Source::STAGES {
            assert_eq!(Source::Stage(l).code(), l as u64);
        }
        Self {
            clock: Default::default(),
            row: Default::default(),
            load: Default::default(),
            skip_first_step: Default::default(),
            weight_base: Default::default(),
            param_base: Default::default(),
            last_channel: Default::default(),
            shift_r: Default::default(),
            spike_k: Default::default(),
            stage: Default::default(),
            state_offset: Default::default(),
            tile: Default::default(),
            spikes_to_b: Default::default(),
            last: Default::default(),
            kind_first: Default::default(),
            kind_head: Default::default(),
            src_is_stage: Default::default(),
            src_stage: Default::default(),
            src_input: Default::default(),
            src_scratch_b: Default::default(),
            post_any: Default::default(),
            post_spike: Default::default(),
            post_state: Default::default(),
            post_turn_on: Default::default(),
            post_rewind: Default::default(),
            o_kind: offset(desc::KIND),
            o_skip: offset(desc::SKIP_FIRST_STEP),
            o_src: offset(desc::SRC),
            o_wbase: offset(desc::WEIGHT_BASE),
            o_pbase: offset(desc::PARAM_BASE),
            o_last_ch: offset(desc::LAST_CHANNEL),
            o_shift_r: offset(desc::SHIFT_R),
            o_post: offset(desc::POST),
            o_spike_k: offset(desc::SPIKE_K),
            o_stage: offset(desc::STAGE),
            o_state_off: offset(desc::STATE_OFFSET),
            o_tile: offset(desc::TILE),
            o_to_b: offset(desc::SPIKES_TO_B),
            o_last: offset(desc::LAST),
            k_first: code(Kind::First.code()),
            k_head: code(Kind::Head.code()),
            s_stage0: code(Source::Stage(0).code()),
            s_stage1: code(Source::Stage(1).code()),
            s_stage2: code(Source::Stage(2).code()),
            s_stage3: code(Source::Stage(3).code()),
            s_input: code(Source::Input.code()),
            s_scratch_b: code(Source::ScratchB.code()),
            p_none: code(Post::None.code()),
            p_spike: code(Post::Spike.code()),
            p_turn_on: code(Post::TurnOn.code()),
            p_rewind: code(Post::Rewind.code()),
            kind: Default::default(),
            src: Default::default(),
            post: Default::default(),
            r_skip: Default::default(),
            r_wbase: Default::default(),
            r_pbase: Default::default(),
            r_last_ch: Default::default(),
            r_shift_r: Default::default(),
            r_spike_k: Default::default(),
            r_stage: Default::default(),
            r_state_off: Default::default(),
            r_tile: Default::default(),
            r_to_b: Default::default(),
            r_last: Default::default(),
            r_first: Default::default(),
            r_head: Default::default(),
            r_src_is_stage: Default::default(),
            r_src_stage: Default::default(),
            r_src_input: Default::default(),
            r_src_b: Default::default(),
            r_post_any: Default::default(),
            r_post_spike: Default::default(),
            r_post_state: Default::default(),
            r_post_turn_on: Default::default(),
            r_post_rewind: Default::default(),
        }
    }
}

impl Logic for DescriptorDecoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            r_skip,
            r_wbase,
            r_pbase,
            r_last_ch,
            r_shift_r,
            r_spike_k,
            r_stage,
            r_state_off,
            r_tile,
            r_to_b,
            r_last,
            r_first,
            r_head,
            r_src_is_stage,
            r_src_stage,
            r_src_input,
            r_src_b,
            r_post_any,
            r_post_spike,
            r_post_state,
            r_post_turn_on,
            r_post_rewind
        );
        self.kind.next = self.row.val().get_bits::<KIND_W>(self.o_kind.val().index());
        self.src.next = self.row.val().get_bits::<SRC_W>(self.o_src.val().index());
        self.post.next = self.row.val().get_bits::<POST_W>(self.o_post.val().index());
        if self.load.val() {
            self.r_skip.d.next = self.row.val().get_bit(self.o_skip.val().index());
            self.r_wbase.d.next = self
                .row
                .val()
                .get_bits::<WEIGHT_BASE_W>(self.o_wbase.val().index());
            self.r_pbase.d.next = self
                .row
                .val()
                .get_bits::<PARAM_BASE_W>(self.o_pbase.val().index());
            self.r_last_ch.d.next = self
                .row
                .val()
                .get_bits::<LAST_CHANNEL_W>(self.o_last_ch.val().index());
            self.r_shift_r.d.next = self
                .row
                .val()
                .get_bits::<SHIFT_R_W>(self.o_shift_r.val().index());
            self.r_spike_k.d.next = self
                .row
                .val()
                .get_bits::<SPIKE_K_W>(self.o_spike_k.val().index());
            self.r_stage.d.next = self
                .row
                .val()
                .get_bits::<STAGE_W>(self.o_stage.val().index());
            self.r_state_off.d.next = self
                .row
                .val()
                .get_bits::<STATE_OFFSET_W>(self.o_state_off.val().index());
            self.r_tile.d.next = self.row.val().get_bits::<TILE_W>(self.o_tile.val().index());
            self.r_to_b.d.next = self.row.val().get_bit(self.o_to_b.val().index());
            self.r_last.d.next = self.row.val().get_bit(self.o_last.val().index());
            self.r_first.d.next = self.kind.val() == self.k_first.val();
            self.r_head.d.next = self.kind.val() == self.k_head.val();
            self.r_src_is_stage.d.next = (self.src.val() == self.s_stage0.val())
                | (self.src.val() == self.s_stage1.val())
                | (self.src.val() == self.s_stage2.val())
                | (self.src.val() == self.s_stage3.val());
            self.r_src_stage.d.next = self.src.val().get_bits::<STAGE_W>(0);
            self.r_src_input.d.next = self.src.val() == self.s_input.val();
            self.r_src_b.d.next = self.src.val() == self.s_scratch_b.val();
            self.r_post_any.d.next = self.post.val() != self.p_none.val();
            self.r_post_spike.d.next = self.post.val() == self.p_spike.val();
            self.r_post_state.d.next = (self.post.val() == self.p_turn_on.val())
                | (self.post.val() == self.p_rewind.val());
            self.r_post_turn_on.d.next = self.post.val() == self.p_turn_on.val();
            self.r_post_rewind.d.next = self.post.val() == self.p_rewind.val();
        }
        self.skip_first_step.next = self.r_skip.q.val();
        self.weight_base.next = self.r_wbase.q.val();
        self.param_base.next = self.r_pbase.q.val();
        self.last_channel.next = self.r_last_ch.q.val();
        self.shift_r.next = self.r_shift_r.q.val();
        self.spike_k.next = self.r_spike_k.q.val();
        self.stage.next = self.r_stage.q.val();
        self.state_offset.next = self.r_state_off.q.val();
        self.tile.next = self.r_tile.q.val();
        self.spikes_to_b.next = self.r_to_b.q.val();
        self.last.next = self.r_last.q.val();
        self.kind_first.next = self.r_first.q.val();
        self.kind_head.next = self.r_head.q.val();
        self.src_is_stage.next = self.r_src_is_stage.q.val();
        self.src_stage.next = self.r_src_stage.q.val();
        self.src_input.next = self.r_src_input.q.val();
        self.src_scratch_b.next = self.r_src_b.q.val();
        self.post_any.next = self.r_post_any.q.val();
        self.post_spike.next = self.r_post_spike.q.val();
        self.post_state.next = self.r_post_state.q.val();
        self.post_turn_on.next = self.r_post_turn_on.q.val();
        self.post_rewind.next = self.r_post_rewind.q.val();
    }
}
