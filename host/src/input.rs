//! Reading sample inputs: a JSON array of 0..=255 integers, or raw bytes.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Reads an input vector from `path` (`-` reads stdin). A file that parses as
/// a JSON array is read as JSON (every entry must be an integer 0..=255);
/// anything else is taken as raw u8 bytes.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let bytes = if path.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).context("reading stdin")?;
        b
    } else {
        std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?
    };
    parse_input(&bytes).with_context(|| path.display().to_string())
}

/// See [`read_input`].
pub fn parse_input(bytes: &[u8]) -> Result<Vec<u8>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_u64() {
                Some(x) if x <= 255 => Ok(x as u8),
                _ => bail!("input[{i}]: expected an integer in 0..=255, found {v}"),
            })
            .collect(),
        _ => Ok(bytes.to_vec()),
    }
}

/// Formats an input vector as a one-line JSON array.
pub fn to_json(input: &[u8]) -> String {
    serde_json::to_string(input).unwrap_or_else(|_| "[]".into())
}
