//! `revspike golden MODEL INPUT`: the golden model's answer as one JSON object.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

#[derive(Debug, Clone, Args)]
pub struct GoldenArgs {
    /// Model file (JSON, version 1 or 2).
    pub model: PathBuf,
    /// Input: a JSON array of 0..=255 integers, or a raw file of u8 bytes (`-`: stdin).
    pub input: PathBuf,
    /// Also print the turn-on state after each timestep (`states[t][l][c]`),
    /// after rewinding k = 1..=T timesteps from the end (`rewound[k-1][l][c]`)
    /// and the per-layer events.
    #[arg(long)]
    pub trace: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    model: &'a str,
    logits: &'a [i64],
    prediction: usize,
    spike_counts: &'a [u64],
    sops: u64,
    wraps: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    states: Option<&'a [Vec<Vec<i16>>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rewound: Option<&'a [Vec<Vec<i16>>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layer_events: Option<&'a [(usize, usize)]>,
}

pub fn run(a: &GoldenArgs) -> Result<()> {
    let model = super::load_model(&a.model)?;
    let input = crate::input::read_input(&a.input)?;
    let r = revspike_golden::infer(&model, &input)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.input.display()))?;
    if r.wraps > 0 {
        // SEMANTICS.md: wraps must be reported; a correctly quantized model has none.
        super::note(format_args!(
            "warning: {} wrap16 overflow(s) in the turn-on update; the model is not correctly quantized for this input",
            r.wraps
        ));
    }
    let rewound = if a.trace {
        revspike_golden::rewound_states(&model, &input)
            .map_err(|e| anyhow::anyhow!("{}: {e}", a.input.display()))?
    } else {
        Vec::new()
    };
    let out = Output {
        model: &model.name,
        logits: &r.logits,
        prediction: r.prediction,
        spike_counts: &r.spike_counts,
        sops: r.sops,
        wraps: r.wraps,
        states: a.trace.then_some(&r.states[..]),
        rewound: a.trace.then_some(&rewound[..]),
        layer_events: a.trace.then_some(&r.layer_events[..]),
    };
    super::write_out(None, &(serde_json::to_string(&out)? + "\n"))
}
