//! Locating the Verilator executable.

use crate::{Error, Result};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;

/// The Verilator executable: `$REVSPIKE_VERILATOR` if set, else `verilator` on the PATH.
pub(crate) fn verilator_program() -> String {
    std::env::var("REVSPIKE_VERILATOR")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "verilator".to_string())
}

/// A `Command` for Verilator, or the "not found" error when it cannot start.
pub(crate) fn verilator_command() -> Command {
    Command::new(verilator_program())
}

pub(crate) fn spawn_error(e: std::io::Error, what: &str) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::VerilatorNotFound(verilator_program())
    } else {
        Error::Io {
            what: format!("cannot run {what}"),
            source: e,
        }
    }
}

/// `verilator --version`, e.g. `Verilator 5.006 2023-01-22 rev (Debian 5.006-3)`.
/// It is part of the build cache key, so a new Verilator rebuilds every model.
pub fn verilator_version() -> Result<String> {
    static CACHE: Mutex<Option<HashMap<String, std::result::Result<String, String>>>> =
        Mutex::new(None);
    let program = verilator_program();
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(HashMap::new);
    let cached = cache.entry(program.clone()).or_insert_with(|| {
        match Command::new(&program).arg("--version").output() {
            Ok(out) if out.status.success() => {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            }
            Ok(out) => Err(format!(
                "`{program} --version` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(String::new()),
            Err(e) => Err(format!("cannot run `{program}`: {e}")),
        }
    });
    match cached {
        Ok(v) => Ok(v.clone()),
        Err(msg) if msg.is_empty() => Err(Error::VerilatorNotFound(program)),
        Err(msg) => Err(Error::Build {
            step: "version",
            summary: msg.clone(),
            log: Default::default(),
        }),
    }
}
