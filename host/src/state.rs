//! The device's turn-on state (region 2) next to the golden model's, for `state`,
//! `rewind` and `verify --rewinds`.

use anyhow::{bail, Result};
use revspike_golden::{Machine, Model};
use serde::Serialize;

use crate::device::Device;

/// What `state` and `rewind` print.
#[derive(Debug, Serialize)]
pub struct StateReport {
    pub device: String,
    pub loaded: bool,
    pub timesteps: u16,
    pub state: Vec<Vec<i16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_state: Option<Vec<Vec<i16>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_golden: Option<bool>,
}

/// Loads `model` and runs `input` when given (the state a RUN leaves behind);
/// fails if the device's result disagrees with the golden model.
pub fn prelude(dev: &mut Device, model: &Model, input: Option<&[u8]>) -> Result<()> {
    if let Some(x) = input {
        revspike_golden::check_input(model, x)?;
    }
    dev.load(model)?;
    if let Some(x) = input {
        let r = dev.infer(x)?;
        let g = revspike_golden::infer(model, x)?;
        let logits = r.logits_i64();
        if logits != g.logits || r.prediction as usize != g.prediction {
            bail!(
                "the device result disagrees with the golden model: device logits {logits:?} \
                 prediction {}, golden logits {:?} prediction {}",
                r.prediction,
                g.logits,
                g.prediction
            );
        }
    }
    Ok(())
}

/// The golden machine's state after `t` timesteps of `input`.
pub fn golden_after(model: &Model, input: &[u8], t: usize) -> Result<Vec<Vec<i16>>> {
    let mut m = Machine::new(model, input)?;
    for _ in 0..t {
        m.step();
    }
    Ok(m.state().to_vec())
}

/// The device state trimmed to the model's widths.
pub fn trim(state: Vec<Vec<i16>>, model: Option<&Model>) -> Vec<Vec<i16>> {
    match model {
        Some(m) => state
            .into_iter()
            .zip(&m.stages)
            .map(|(row, st)| row.into_iter().take(st.width).collect())
            .collect(),
        None => state,
    }
}

/// The state the device holds now, with the golden comparison when the model (and
/// the input it ran) are known.
pub fn report(
    dev: &mut Device,
    model: Option<&Model>,
    input: Option<&[u8]>,
) -> Result<StateReport> {
    let status = dev.status()?;
    let stages = match model {
        Some(m) => m.stages.len(),
        None if status.loaded => dev
            .configured_stages()?
            .clamp(1, dev.info.max_stages.max(1) as usize),
        None => dev.info.max_stages.max(1) as usize,
    };
    let state = trim(dev.state(stages)?, model);
    let golden_state = match (model, input) {
        (Some(m), Some(x)) => Some(golden_after(m, x, status.core.timesteps as usize)?),
        _ => None,
    };
    let matches_golden = golden_state.as_ref().map(|g| *g == state);
    Ok(StateReport {
        device: dev.info.name.clone(),
        loaded: status.loaded,
        timesteps: status.core.timesteps,
        state,
        golden_state,
        matches_golden,
    })
}
