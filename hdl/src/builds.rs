//! The named builds: one parameterized core, instantiated per `revspike_proto::Build`.
//!
//! A build's lane count and row width are the core's const parameters `P` and `W`.
//! [`with_core`] is the one place a build's numbers become those types: a build whose
//! shape has no core is an error naming it, never some other core.

use revspike_proto::build::Build;

use crate::emit::{self, HdlError};
use crate::spiking_core::{CoreMemories, SpikingCore};

/// Alchitry Cu: 32 lanes (64 channels in two tiles) and a conv stem unit.
pub type CuCore = SpikingCore<32, 64, 1>;
/// Small build for fast simulation tests: 8 lanes, small memories, a conv stem unit.
pub type SmallCore = SpikingCore<8, 64, 1>;

/// The (lanes, row bits, stem units) shapes [`with_core`] instantiates.
pub const CORE_SHAPES: [(usize, usize, usize); 3] = [(8, 64, 1), (32, 64, 1), (128, 128, 1)];

pub fn memories(build: &Build) -> CoreMemories {
    CoreMemories {
        rows: build.rows,
        input_entries: build.input_entries,
        state_buffer_entries: build.state_buffer_entries,
        channels: build.max_width,
        z_entries: if build.stem {
            build.z_entries()
        } else {
            build.max_width
        },
    }
}

/// Something done with the core type of a build (`SpikingCore<P, W, S>`).
pub trait WithCore {
    type Output;
    fn with<const P: usize, const W: usize, const S: usize>(self, build: &Build) -> Self::Output;
}

/// Runs `f` with the core type of `build`'s shape.
pub fn with_core<F: WithCore>(build: &Build, f: F) -> Result<F::Output, HdlError> {
    match (build.lanes, build.row_bits, build.stem) {
        (8, 64, true) => Ok(f.with::<8, 64, 1>(build)),
        (32, 64, true) => Ok(f.with::<32, 64, 1>(build)),
        (128, 128, true) => Ok(f.with::<128, 128, 1>(build)),
        (lanes, row_bits, stem) => Err(HdlError::UnsupportedBuild {
            build: build.name.to_string(),
            shape: shape_text(lanes, row_bits, stem),
            known: CORE_SHAPES
                .iter()
                .map(|&(p, w, s)| shape_text(p, w, s == 1))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn shape_text(lanes: usize, row_bits: usize, stem: bool) -> String {
    let with = if stem { "with" } else { "without" };
    format!("{lanes} lanes x {row_bits} bits {with} a stem unit")
}

/// The Verilog of a named build's core alone (its host port is the top level).
pub fn core_verilog(build: &Build) -> Result<String, HdlError> {
    struct Emit;
    impl WithCore for Emit {
        type Output = Result<String, HdlError>;
        fn with<const P: usize, const W: usize, const S: usize>(
            self,
            build: &Build,
        ) -> Self::Output {
            emit::verilog(SpikingCore::<P, W, S>::new(memories(build)))
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
        type Output = (usize, usize, bool);
        fn with<const P: usize, const W: usize, const S: usize>(
            self,
            _: &Build,
        ) -> (usize, usize, bool) {
            (P, W, S == 1)
        }
    }

    #[test]
    fn every_build_gets_the_core_of_its_own_shape() {
        for b in BUILDS {
            assert_eq!(
                with_core(b, Shape).unwrap(),
                (b.lanes, b.row_bits, b.stem),
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
            "build `odd` is 16 lanes x 64 bits with a stem unit; cores exist for 8 lanes x 64 \
             bits with a stem unit, 32 lanes x 64 bits with a stem unit, 128 lanes x 128 bits \
             with a stem unit"
        );
        // A known lane count and row width without the stem unit has no core either.
        let bare = Build { stem: false, ..CU };
        let e = with_core(&bare, Shape).unwrap_err().to_string();
        assert!(
            e.starts_with("build `cu` is 32 lanes x 64 bits without a stem unit; cores exist"),
            "{e}"
        );
    }
}
