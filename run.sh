#!/usr/bin/env bash
# The main job: set up the machine, build revspike in release, then run
# Fashion-MNIST test images through the host over the link to a virtual Alchitry
# Cu: the Cu build's top-level Verilog (UART link + spiking core) in Verilator,
# behind a pseudo-terminal that the host opens exactly like the board's
# /dev/ttyUSB1. Prints accuracy, agreement with the golden model and throughput,
# then checks a few inputs' rewound turn-on states against the golden model. Then
# the conv model (models/fashion-conv.json) the same way: the Cu's conv stem unit
# runs its stem.
#
#   ./run.sh [COUNT]                 COUNT test images (default 200, env REVSPIKE_COUNT)
#   REVSPIKE_PORT=/dev/ttyUSB1 ./run.sh   the same on a real board
set -euo pipefail
cd "$(dirname "$0")"

COUNT="${1:-${REVSPIKE_COUNT:-200}}"
case "$COUNT" in
    ''|*[!0-9]*) echo "run.sh: COUNT must be a number of images, got '$COUNT'" >&2; exit 2 ;;
esac
if [ -n "${REVSPIKE_PORT:-}" ]; then
    DEVICE=(--port "$REVSPIKE_PORT")
    WHERE="the board on $REVSPIKE_PORT"
else
    DEVICE=(--virtual)
    WHERE="a virtual Alchitry Cu (Verilator)"
fi

./scripts/setup.sh
cargo build --release -p revspike
BIN="${CARGO_TARGET_DIR:-target}/release/revspike"

echo "== revspike golden examples/tiny.json examples/tiny-input.json"
"$BIN" golden examples/tiny.json examples/tiny-input.json

echo "== revspike run: $COUNT Fashion-MNIST test images on $WHERE"
"$BIN" run "${DEVICE[@]}" --model models/fashion-cu.json \
    --dataset fashion-mnist:test --count "$COUNT"

echo "== revspike verify --rewinds: 5 images, logits and every rewound turn-on state vs the golden model"
"$BIN" verify "${DEVICE[@]}" --model models/fashion-cu.json \
    --dataset fashion-mnist:test --count 5 --rewinds

echo "== revspike run: $COUNT Fashion-MNIST test images through the conv model on $WHERE"
"$BIN" run "${DEVICE[@]}" --model models/fashion-conv.json \
    --dataset fashion-mnist:test --count "$COUNT"
