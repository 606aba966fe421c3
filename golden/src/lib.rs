//! revspike-golden: the revspike model file, the bit-exact golden model with
//! exact rewind, seeded generators and model figures.
//!
//! The contract is `SEMANTICS.md` (in `shared/spec/`); everything here follows it
//! to the bit and is the reference the hardware and the host are checked against.

mod fast;
pub mod gen;
pub mod info;
pub mod model;
pub mod sim;

pub use gen::{
    edge_cases, gen_input, gen_model, gen_model_shaped, gen_model_stem_shaped, ConvShape,
    GenOptions, Shape, StemShape, ValueOptions,
};
pub use info::Info;
pub use model::{
    Block, Conv, Decay, Grouping, InputSpec, Layer, Model, ModelError, Readout, Spike, Stage,
};
pub use sim::{
    argmax, check_input, conv, head, infer, infer_reference, layer, layer_acc, rewound_states,
    sat16, spike, wrap16, Classified, Engine, Inference, InputError, Machine, RewindError, Stats,
};
