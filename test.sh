#!/usr/bin/env bash
# Formatting, lints and the whole test suite. Slow exhaustive sweeps are
# #[ignore]d; run them with `cargo test --release -- --ignored`.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --release
