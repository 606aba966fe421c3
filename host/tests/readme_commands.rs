//! Every command the project's Markdown shows runs as written.
//!
//! The command lines are taken from every code block and every inline code span
//! of the READMEs and docs that start with `revspike`, `cargo` or `./` (after
//! `VAR=value` prefixes and a `$ ` prompt), with `\` continuations joined. Then:
//!
//! - usage synopses (placeholders such as `MODEL`, `[--json]`, `a|b`): the
//!   subcommand exists and takes every option named;
//! - `revspike` golden / info / gen-model / gen-input / verilog: run in a sandbox
//!   holding copies of examples/, models/ and bitstreams/ (a file a command
//!   regenerates there must equal the committed one);
//! - `revspike` run / verify / state / rewind: run on the virtual Cu board with at
//!   most 2 inputs (`--count` lowered or added);
//! - bitstream, flash, bench, vboard (minutes, hardware or standing): parsed
//!   with the CLI's own parser;
//! - `./script`: exists, is executable, `bash -n` accepts it;
//! - `cargo ...`: the package and its bench/test/example target exist (`cargo
//!   run -p revspike -- ARGS` is checked as `revspike ARGS`).
//!
//! New commands in the docs are picked up without changing this file; a new
//! subcommand lands in the "parsed only" class until it is listed as cheap. An
//! inline span naming no subcommand (`revspike virtual board on ...`) is prose
//! quoting output and is skipped; in a code block it is an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::{CommandFactory, Parser};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Markdown files whose commands are checked.
fn docs() -> Vec<PathBuf> {
    let r = root();
    let mut v = vec![
        r.join("README.md"),
        r.join("examples/README.md"),
        r.join("models/README.md"),
        r.join("bitstreams/README.md"),
        r.join("bitstreams/alchitry-cu/README.md"),
    ];
    let mut d: Vec<PathBuf> = std::fs::read_dir(r.join("docs"))
        .map(|it| it.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    d.retain(|p| p.extension().is_some_and(|e| e == "md"));
    d.sort();
    v.extend(d);
    v.retain(|p| p.is_file());
    v
}

#[derive(Clone, Debug)]
struct Found {
    place: String,
    text: String,
    /// From an inline code span (prose), not a code block.
    inline: bool,
}

fn is_env(tok: &str) -> bool {
    tok.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
    })
}

/// Whether `text` is a command line this test checks.
fn is_command(text: &str) -> bool {
    let first = text.split_whitespace().find(|t| !is_env(t));
    matches!(first, Some("revspike") | Some("cargo")) || first.is_some_and(|t| t.starts_with("./"))
}

/// Strips a shell comment (`#` after whitespace).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// The command lines of one Markdown text.
fn extract(file: &str, md: &str) -> Vec<Found> {
    let lines: Vec<&str> = md.lines().collect();
    let mut out: Vec<Found> = Vec::new();
    let mut fenced = false;
    let mut paragraph: Vec<(usize, &str)> = Vec::new();
    let mut prev_blank = true;
    let mut in_indented = false;
    // The command being continued (by `\` or an indented option line).
    let mut open: Option<usize> = None;
    let mut backslash = false;
    let flush = |paragraph: &mut Vec<(usize, &str)>, out: &mut Vec<Found>| {
        if paragraph.is_empty() {
            return;
        }
        let first = paragraph[0].0;
        let text: String = paragraph
            .iter()
            .map(|(_, l)| l.trim())
            .collect::<Vec<_>>()
            .join(" ");
        for (k, span) in text.split('`').enumerate() {
            if k % 2 == 1 && is_command(span) {
                out.push(Found {
                    place: format!("{file}:{}", first + 1),
                    text: span.trim().to_string(),
                    inline: true,
                });
            }
        }
        paragraph.clear();
    };
    for (n, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            flush(&mut paragraph, &mut out);
            fenced = !fenced;
            open = None;
            continue;
        }
        let indented = line.starts_with("    ") && (prev_blank || in_indented);
        let code = fenced || indented;
        in_indented = indented || (in_indented && line.trim().is_empty());
        prev_blank = line.trim().is_empty();
        if !code {
            if line.trim().is_empty() || trimmed.starts_with('#') || trimmed.starts_with('|') {
                flush(&mut paragraph, &mut out);
            }
            if trimmed.starts_with('|') {
                // A table row: each cell on its own.
                for cell in trimmed.split('|') {
                    paragraph.push((n, cell));
                    flush(&mut paragraph, &mut out);
                }
            } else if !line.trim().is_empty() {
                paragraph.push((n, line));
            }
            open = None;
            continue;
        }
        flush(&mut paragraph, &mut out);
        let body = strip_comment(trimmed.strip_prefix("$ ").unwrap_or(trimmed)).trim_end();
        let continues =
            backslash || (open.is_some() && (body.starts_with('[') || body.starts_with("--")));
        backslash = body.ends_with('\\');
        let body = body.trim_end_matches('\\').trim();
        if continues {
            if let Some(i) = open {
                out[i].text.push(' ');
                out[i].text.push_str(body);
            }
            continue;
        }
        if body.is_empty() {
            if !backslash {
                open = None;
            }
            continue;
        }
        if is_command(body) {
            out.push(Found {
                place: format!("{file}:{}", n + 1),
                text: body.to_string(),
                inline: false,
            });
            open = Some(out.len() - 1);
        } else {
            open = None;
        }
    }
    flush(&mut paragraph, &mut out);
    for f in &mut out {
        f.text = f.text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    out
}

/// Whether a token stands for something to fill in.
fn placeholder(tok: &str) -> bool {
    let t = tok.trim_start_matches('-');
    let stem = t.split('.').next().unwrap_or(t);
    tok.contains('[')
        || tok.contains('|')
        || tok.contains("...")
        || (!stem.is_empty()
            && stem.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && stem
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !is_env(tok))
}

/// Subcommands run in full, and those run on the virtual board with few inputs.
const CHEAP: [&str; 5] = ["golden", "info", "gen-model", "gen-input", "verilog"];
const ON_BOARD: [&str; 4] = ["run", "verify", "state", "rewind"];
/// Inputs a device command may run in this test.
const MAX_COUNT: usize = 2;

struct Checker {
    sandbox: PathBuf,
    metadata: serde_json::Value,
    failures: Vec<String>,
    ran: usize,
    parsed: usize,
}

impl Checker {
    fn fail(&mut self, f: &Found, why: String) {
        self.failures
            .push(format!("{}: `{}`: {why}", f.place, f.text));
    }

    fn check(&mut self, f: &Found) {
        let toks: Vec<&str> = f.text.split_whitespace().collect();
        let env: Vec<&str> = toks.iter().copied().take_while(|t| is_env(t)).collect();
        let toks = &toks[env.len()..];
        match toks[0] {
            "revspike" => self.revspike(f, &toks[1..], &env),
            "cargo" => self.cargo(f, &toks[1..]),
            script => self.script(f, script),
        }
    }

    fn revspike(&mut self, f: &Found, args: &[&str], env: &[&str]) {
        let Some(&sub) = args.first() else {
            // The program's name in prose, not a command line.
            return;
        };
        let cli = revspike::Cli::command();
        let Some(sc) = cli.find_subcommand(sub) else {
            if f.inline {
                // Prose quoting what revspike prints (`revspike virtual board on ...`).
                return;
            }
            return self.fail(f, format!("no subcommand `{sub}`"));
        };
        if args.iter().any(|t| placeholder(t)) {
            // A synopsis: every option it names must exist.
            let mut known: BTreeSet<String> = BTreeSet::new();
            for a in sc.get_arguments() {
                if let Some(l) = a.get_long() {
                    known.insert(format!("--{l}"));
                }
                if let Some(s) = a.get_short() {
                    known.insert(format!("-{s}"));
                }
            }
            for t in args {
                for piece in t.split('|') {
                    let piece = piece.trim_matches(|c| c == '[' || c == ']');
                    let opt = piece.split('=').next().unwrap_or(piece);
                    if opt.starts_with('-') && opt.len() > 1 && !known.contains(opt) {
                        self.fail(f, format!("`revspike {sub}` has no option {opt}"));
                    }
                }
            }
            self.parsed += 1;
            return;
        }
        if args.len() == 1 {
            // A verb named in prose (`revspike bitstream` turns ...): it exists.
            self.parsed += 1;
            return;
        }
        let full: Vec<&str> = std::iter::once("revspike")
            .chain(args.iter().copied())
            .collect();
        if let Err(e) = revspike::Cli::try_parse_from(&full) {
            return self.fail(f, format!("does not parse: {}", e.to_string().trim()));
        }
        if !env.is_empty() {
            // Environment that points at hardware (REVSPIKE_PORT=...): parse only.
            self.parsed += 1;
            return;
        }
        if CHEAP.contains(&sub) {
            self.run(f, args.iter().map(|s| s.to_string()).collect());
        } else if ON_BOARD.contains(&sub) {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            match a.iter().position(|t| t == "--count") {
                Some(i) if i + 1 < a.len() => {
                    let n: usize = a[i + 1].parse().unwrap_or(MAX_COUNT);
                    a[i + 1] = n.min(MAX_COUNT).to_string();
                }
                _ if sub == "verify" || a.iter().any(|t| t == "--dataset" || t == "--inputs") => {
                    a.extend(["--count".to_string(), MAX_COUNT.to_string()]);
                }
                _ => {}
            }
            self.run(f, a);
        } else {
            self.parsed += 1;
        }
    }

    fn run(&mut self, f: &Found, args: Vec<String>) {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_revspike"))
            .args(&args)
            .current_dir(&self.sandbox)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("revspike starts");
        eprintln!(
            "ran `revspike {}` in {:.1} s",
            args.join(" "),
            t.elapsed().as_secs_f64()
        );
        self.ran += 1;
        if !out.status.success() {
            return self.fail(
                f,
                format!(
                    "exit {:?}: {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
        }
        // A file the command wrote over a committed one must equal it.
        for w in args.windows(2) {
            if w[0] == "-o" || w[0] == "--output" {
                let committed = root().join(&w[1]);
                let written = self.sandbox.join(&w[1]);
                if committed.is_file()
                    && std::fs::read(&committed).ok() != std::fs::read(&written).ok()
                {
                    self.fail(
                        f,
                        format!("wrote a {} that differs from the committed one", w[1]),
                    );
                }
            }
        }
    }

    fn cargo(&mut self, f: &Found, args: &[&str]) {
        let (args, after) = match args.iter().position(|t| *t == "--") {
            Some(i) => (&args[..i], Some(&args[i + 1..])),
            None => (args, None),
        };
        let value = |flag: &str| {
            args.windows(2)
                .find(|w| w[0] == flag)
                .map(|w| w[1].to_string())
        };
        let pkg = value("-p").or_else(|| value("--package"));
        let packages = self.metadata["packages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let candidates: Vec<&serde_json::Value> = packages
            .iter()
            .filter(|p| match pkg.as_deref() {
                Some(n) => p["name"] == n,
                None => true,
            })
            .collect();
        if candidates.is_empty() {
            return self.fail(f, format!("no package {}", pkg.unwrap_or_default()));
        }
        for (flag, kind) in [
            ("--bench", "bench"),
            ("--test", "test"),
            ("--example", "example"),
        ] {
            if let Some(name) = value(flag) {
                let found = candidates.iter().any(|p| {
                    p["targets"].as_array().is_some_and(|ts| {
                        ts.iter().any(|t| {
                            t["name"] == name.as_str()
                                && t["kind"]
                                    .as_array()
                                    .is_some_and(|k| k.iter().any(|x| x == kind))
                        })
                    })
                });
                if !found {
                    self.fail(f, format!("no {kind} target `{name}`"));
                }
            }
        }
        if args.first() == Some(&"run") && pkg.as_deref() == Some("revspike") {
            if let Some(rest) = after {
                let full: Vec<&str> = std::iter::once("revspike")
                    .chain(rest.iter().copied())
                    .collect();
                if let Err(e) = revspike::Cli::try_parse_from(&full) {
                    self.fail(f, format!("does not parse: {}", e.to_string().trim()));
                }
            }
        }
        self.parsed += 1;
    }

    fn script(&mut self, f: &Found, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = root().join(script);
        match std::fs::metadata(&p) {
            Ok(m) if m.permissions().mode() & 0o111 != 0 => {}
            Ok(_) => return self.fail(f, format!("{script} is not executable")),
            Err(e) => return self.fail(f, format!("{script}: {e}")),
        }
        let ok = Command::new("bash").arg("-n").arg(&p).status();
        if !ok.is_ok_and(|s| s.success()) {
            self.fail(f, format!("bash -n {script} fails"));
        }
        self.parsed += 1;
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn the_extractor_finds_blocks_spans_and_continuations() {
    let md = "Intro `revspike info m.json` and `not a command`.\n\n    revspike golden A B   # one\n                          # comment\n    revspike gen-model --seed 4 \\\n        -o x.json\n    revspike run --model M --inputs FILE\n                 [--json]\n\n| a | `revspike run --dataset d --count 3` |\n\n```\n$ cargo bench -p p --bench b\n```\n";
    let got: Vec<String> = extract("t.md", md).into_iter().map(|f| f.text).collect();
    assert_eq!(
        got,
        vec![
            "revspike info m.json",
            "revspike golden A B",
            "revspike gen-model --seed 4 -o x.json",
            "revspike run --model M --inputs FILE [--json]",
            "revspike run --dataset d --count 3",
            "cargo bench -p p --bench b",
        ]
    );
    assert!(placeholder("MODEL.json") && placeholder("[--json]") && placeholder("cu|small"));
    assert!(
        !placeholder("models/fashion-cu.json") && !placeholder("1,4") && !placeholder("--seed")
    );
}

#[test]
fn every_command_in_the_docs_runs_as_written() {
    let sandbox = std::env::temp_dir().join(format!("revspike-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&sandbox);
    for d in ["examples", "models", "bitstreams"] {
        copy_dir(&root().join(d), &sandbox.join(d));
    }
    let meta = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        meta.status.success(),
        "{}",
        String::from_utf8_lossy(&meta.stderr)
    );
    let mut c = Checker {
        sandbox: sandbox.clone(),
        metadata: serde_json::from_slice(&meta.stdout).unwrap(),
        failures: Vec::new(),
        ran: 0,
        parsed: 0,
    };
    let mut total = 0;
    for doc in docs() {
        let md = std::fs::read_to_string(&doc).unwrap();
        let name = doc
            .strip_prefix(root())
            .unwrap_or(&doc)
            .display()
            .to_string();
        for f in extract(name.trim_start_matches('/'), &md) {
            total += 1;
            c.check(&f);
        }
    }
    eprintln!(
        "{total} commands: {} run, {} parsed or checked",
        c.ran, c.parsed
    );
    let _ = std::fs::remove_dir_all(&sandbox);
    assert!(total >= 20 && c.ran >= 5, "too few commands found: {total}");
    assert!(c.failures.is_empty(), "\n{}", c.failures.join("\n"));
}
