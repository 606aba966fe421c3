#!/usr/bin/env bash
# Formatting, lints and the whole test suite. Slow exhaustive sweeps are
# #[ignore]d; run them with `cargo test --release -- --ignored`.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Broken intra-doc links and stray HTML in doc comments fail too.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace --release
# The trainer's torch-free checks (intref.py, and intref against the golden model on
# generated models), with Debian's python3 and numpy; the tests that need torch skip.
cargo build --release -p revspike --bin revspike
REVSPIKE_BIN="$PWD/target/release/revspike" /usr/bin/python3 -m unittest discover -s train -p 'test_*.py' -v
