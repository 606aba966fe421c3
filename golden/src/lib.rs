//! revspike-golden: the revspike model file, the bit-exact golden model with
//! exact rewind, seeded generators and model figures.
//!
//! The contract is `SEMANTICS.md` (in `shared/spec/`); everything here follows it
//! to the bit and is the reference the hardware and the host are checked against.

pub mod gen;
pub mod info;
pub mod model;
pub mod sim;

pub use gen::{
    edge_cases, gen_input, gen_model, gen_model_shaped, GenOptions, Shape, ValueOptions,
};
pub use info::Info;
pub use model::{
    Block, Decay, Grouping, InputSpec, Layer, Model, ModelError, Readout, Spike, Stage,
};
pub use sim::{
    argmax, check_input, head, infer, layer, layer_acc, sat16, spike, wrap16, Inference,
    InputError, Machine, RewindError, Stats,
};
