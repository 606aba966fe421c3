//! `revspike state`: the device's turn-on state (region 2) and status as one JSON
//! object; with --model and --input it loads the model and runs the input first, and
//! compares the state with the golden model's.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use revspike_golden::{Machine, Model};
use serde::Serialize;

use crate::device::{ConnectArgs, Device};

#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Load this model first (and trim the state to its stage widths).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Run this input first (needs --model): JSON array or raw u8 file.
    #[arg(long, requires = "model")]
    pub input: Option<PathBuf>,
}

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

/// Loads the model and runs the input when given; returns the model and the golden
/// machine after all T timesteps (the state a RUN leaves behind).
pub fn prelude(
    dev: &mut Device,
    model: Option<&PathBuf>,
    input: Option<&PathBuf>,
) -> Result<Option<(Model, Option<Vec<u8>>)>> {
    let Some(mp) = model else { return Ok(None) };
    let model = super::load_model(mp)?;
    let input = match input {
        Some(p) => {
            let x = crate::input::read_input(p)?;
            revspike_golden::check_input(&model, &x)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(x)
        }
        None => None,
    };
    dev.load(&model)?;
    if let Some(x) = &input {
        let r = dev.infer(x)?;
        let g = revspike_golden::infer(&model, x)?;
        let logits: Vec<i64> = r.logits.iter().map(|&v| v as i64).collect();
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
    Ok(Some((model, input)))
}

/// The golden machine after `t` timesteps of `input`.
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

/// The state the device holds now, with the golden comparison when the model and
/// input are known.
pub fn report(dev: &mut Device, loaded: Option<&(Model, Option<Vec<u8>>)>) -> Result<StateReport> {
    let status = dev.status()?;
    let stages = match loaded {
        Some((m, _)) => m.stages.len(),
        None if status.loaded => dev
            .configured_stages()?
            .clamp(1, dev.info.max_stages.max(1) as usize),
        None => dev.info.max_stages.max(1) as usize,
    };
    let state = trim(dev.state(stages)?, loaded.map(|(m, _)| m));
    let golden_state = match loaded {
        Some((m, Some(x))) => Some(golden_after(m, x, status.core.timesteps as usize)?),
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

pub fn run(a: &StateArgs) -> Result<()> {
    let conn = a.connect.connect()?;
    let mut dev = conn.device;
    let loaded = prelude(&mut dev, a.model.as_ref(), a.input.as_ref())?;
    let r = report(&mut dev, loaded.as_ref())?;
    drop(dev);
    if let Some(b) = conn.board {
        b.stop()?;
    }
    super::write_out(None, &(serde_json::to_string(&r)? + "\n"))?;
    if r.matches_golden == Some(false) {
        bail!("the device's turn-on state differs from the golden model's");
    }
    Ok(())
}
