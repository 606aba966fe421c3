#!/usr/bin/env bash
# The long link fuzz run (issue #17): CHUNKS (default 10000) random and corrupted
# frames against the small build's Verilated board top level at 12 Mbaud, then a
# clean load and runs that must equal the golden model. Prints the figures
# (chunks, fragments, answers, lost answers, lockups, simulated cycles, time).
#
#   scripts/link-fuzz.sh [CHUNKS]
set -euo pipefail
cd "$(dirname "$0")/.."
CHUNKS="${1:-10000}"
case "$CHUNKS" in
    ''|*[!0-9]*) echo "link-fuzz.sh: CHUNKS must be a number, got '$CHUNKS'" >&2; exit 2 ;;
esac
REVSPIKE_LINK_FUZZ_CHUNKS="$CHUNKS" cargo test --release -p revspike-tests --test link_fuzz \
    -- --nocapture link_fuzz_on_the_verilated_top_level
