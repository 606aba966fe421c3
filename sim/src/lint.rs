//! `verilator --lint-only -Wall` as a library call, for hardware tests.

use crate::tool::{spawn_error, verilator_command};
use crate::{io_err, Error, Result};
use std::fs;

/// One Verilator message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LintMessage {
    /// The warning code (`WIDTH`, `UNUSED`, ...) or empty for an error without one.
    pub code: String,
    /// Line in the Verilog text, when Verilator gave one.
    pub line: Option<u32>,
    /// The message's first line, without the `%Warning-CODE: file:line:col:` prefix.
    pub text: String,
}

/// What a lint found; errors make [`lint`] fail instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LintReport {
    pub warnings: Vec<LintMessage>,
}

impl LintReport {
    /// No warnings at all.
    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty()
    }

    /// Warnings with the given code.
    pub fn count(&self, code: &str) -> usize {
        self.warnings.iter().filter(|w| w.code == code).count()
    }

    /// Warnings whose code is not in `allowed`, e.g. `&["WIDTH", "UNUSED"]` for
    /// rust-hdl's output, which always has width warnings.
    pub fn other_than(&self, allowed: &[&str]) -> Vec<&LintMessage> {
        self.warnings
            .iter()
            .filter(|w| !allowed.contains(&w.code.as_str()))
            .collect()
    }
}

/// Parses `%Warning-WIDTH: top.v:12:5: Operator ...` (or `%Error: ...`).
fn parse_message(line: &str) -> Option<(bool, LintMessage)> {
    let rest = line.strip_prefix('%')?;
    let (head, body) = rest.split_once(": ")?;
    let (is_error, code) = if let Some(c) = head.strip_prefix("Warning-") {
        (false, c.to_string())
    } else if head == "Warning" {
        (false, String::new())
    } else if let Some(c) = head.strip_prefix("Error-") {
        (true, c.to_string())
    } else if head == "Error" {
        (true, String::new())
    } else {
        return None;
    };
    // body: "top.v:12:5: text" or just "text".
    let mut parts = body.splitn(4, ':');
    let file = parts.next().unwrap_or("");
    let (line_no, text) = if file.ends_with(".v") {
        let l = parts.next().and_then(|s| s.trim().parse::<u32>().ok());
        let _col = parts.next();
        (l, parts.next().unwrap_or("").trim().to_string())
    } else {
        (None, body.trim().to_string())
    };
    Some((
        is_error,
        LintMessage {
            code,
            line: line_no,
            text,
        },
    ))
}

/// Lints a Verilog text whose top module is `top` with all warnings on.
/// Warnings come back in the report; any error fails with the first one.
pub fn lint(verilog: &str) -> Result<LintReport> {
    let dir = std::env::temp_dir().join(format!(
        "revspike-lint-{}-{}",
        std::process::id(),
        LINT_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    let file = dir.join("top.v");
    let result = (|| {
        fs::write(&file, verilog).map_err(io_err(format!("cannot write {}", file.display())))?;
        let out = verilator_command()
            .current_dir(&dir)
            .args([
                "--lint-only",
                "-Wall",
                "-Wno-fatal",
                "--top-module",
                "top",
                // The language rust-hdl emits and yosys synthesizes: names like
                // `byte` are identifiers there, not SystemVerilog keywords.
                "--default-language",
                "1364-2005",
                "top.v",
            ])
            .output()
            .map_err(|e| spawn_error(e, "verilator --lint-only"))?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let mut report = LintReport::default();
        let mut errors = Vec::new();
        for line in text.lines() {
            if let Some((is_error, msg)) = parse_message(line) {
                // Verilator's closing "Exiting due to N error(s)" repeats the count.
                if is_error && msg.text.starts_with("Exiting due to") {
                    continue;
                }
                if is_error {
                    errors.push(msg);
                } else {
                    report.warnings.push(msg);
                }
            }
        }
        if !errors.is_empty() || !out.status.success() {
            let first = errors
                .first()
                .map(|m| match m.line {
                    Some(l) => format!("line {l}: {}", m.text),
                    None => m.text.clone(),
                })
                .unwrap_or_else(|| format!("verilator exited with {}", out.status));
            return Err(Error::Lint {
                count: errors.len().max(1),
                first,
            });
        }
        Ok(report)
    })();
    let _ = fs::remove_dir_all(&dir);
    result
}

static LINT_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse() {
        let (e, m) =
            parse_message("%Warning-WIDTH: top.v:193:27: Operator EQ expects 32 bits").unwrap();
        assert!(!e);
        assert_eq!(m.code, "WIDTH");
        assert_eq!(m.line, Some(193));
        assert_eq!(m.text, "Operator EQ expects 32 bits");
        let (e, m) =
            parse_message("%Error: top.v:3:1: syntax error, unexpected endmodule").unwrap();
        assert!(e);
        assert_eq!(m.line, Some(3));
        assert!(parse_message("    : ... In instance top").is_none());
    }
}
