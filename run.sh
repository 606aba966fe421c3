#!/usr/bin/env bash
# The main job: set up the machine, build revspike, and run the golden model
# and the model figures on the shipped example.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/setup.sh
cargo build --release -p revspike
BIN="${CARGO_TARGET_DIR:-target}/release/revspike"

echo "== revspike golden examples/tiny.json examples/tiny-input.json"
"$BIN" golden examples/tiny.json examples/tiny-input.json
echo "== revspike info examples/tiny.json --input examples/tiny-input.json"
"$BIN" info examples/tiny.json --input examples/tiny-input.json
