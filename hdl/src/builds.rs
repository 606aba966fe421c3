//! The named builds: one parameterized core, instantiated per `revspike_proto::Build`.
//!
//! A build's lane count and row width are the core's const parameters `P` and `W`.
//! [`with_core`] is the one place a build's numbers become those types: a build whose
//! shape has no core is an error naming it, never some other core.

use revspike_proto::build::Build;

use crate::emit::{self, HdlError};
use crate::spiking_core::{CoreMemories, SpikingCore};

/// Alchitry Cu: 32 lanes (64 channels in two tiles).
pub type CuCore = SpikingCore<32, 64>;
/// Small build for fast simulation tests: 8 lanes, small memories.
pub type SmallCore = SpikingCore<8, 64>;

/// The (lanes, row bits) shapes [`with_core`] instantiates.
pub const CORE_SHAPES: [(usize, usize); 3] = [(8, 64), (32, 64), (128, 128)];

pub fn memories(build: &Build) -> CoreMemories {
    CoreMemories {
        rows: build.rows,
        input_entries: build.input_entries,
        state_buffer_entries: build.state_buffer_entries,
        channels: build.max_width,
    }
}

/// Something done with the core type of a build (`SpikingCore<P, W>`).
pub trait WithCore {
    type Output;
    fn with<const P: usize, const W: usize>(self, build: &Build) -> Self::Output;
}

/// Runs `f` with the core type of `build`'s shape.
pub fn with_core<F: WithCore>(build: &Build, f: F) -> Result<F::Output, HdlError> {
    match (build.lanes, build.row_bits) {
        (8, 64) => Ok(f.with::<8, 64>(build)),
        (32, 64) => Ok(f.with::<32, 64>(build)),
        (128, 128) => Ok(f.with::<128, 128>(build)),
        (lanes, row_bits) => Err(HdlError::UnsupportedBuild {
            build: build.name.to_string(),
            lanes,
            row_bits,
            known: CORE_SHAPES
                .iter()
                .map(|(p, w)| format!("{p} lanes x {w} bits"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The Verilog of a named build's core alone (its host port is the top level).
pub fn core_verilog(build: &Build) -> Result<String, HdlError> {
    struct Emit;
    impl WithCore for Emit {
        type Output = Result<String, HdlError>;
        fn with<const P: usize, const W: usize>(self, build: &Build) -> Self::Output {
            emit::verilog(SpikingCore::<P, W>::new(memories(build)))
        }
    }
    with_core(build, Emit)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use revspike_proto::build::{BUILDS, CU};

    struct Shape;
    impl WithCore for Shape {
        type Output = (usize, usize);
        fn with<const P: usize, const W: usize>(self, _: &Build) -> (usize, usize) {
            (P, W)
        }
    }

    #[test]
    fn every_build_gets_the_core_of_its_own_shape() {
        for b in BUILDS {
            assert_eq!(
                with_core(b, Shape).unwrap(),
                (b.lanes, b.row_bits),
                "{}",
                b.name
            );
        }
        let odd = Build {
            name: "odd",
            lanes: 16,
            ..CU
        };
        let e = with_core(&odd, Shape).unwrap_err().to_string();
        assert_eq!(
            e,
            "build `odd` has 16 lanes and 64-bit rows; cores exist for 8 lanes x 64 bits, \
             32 lanes x 64 bits, 128 lanes x 128 bits"
        );
    }
}
