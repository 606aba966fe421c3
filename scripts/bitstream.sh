#!/usr/bin/env bash
# Builds the Alchitry Cu bitstream: bitstreams/alchitry-cu/revspike-cu.bin plus
# report.json / report.txt. Arguments go to `revspike bitstream`
# (--build cu|board-check, --out DIR, --seed N | --seeds LIST,
# --placer heap|sa|static, --freq MHZ, --json, --estimate). Place and route uses
# nextpnr 0.11 (scripts/nextpnr.sh installs it) unless REVSPIKE_NEXTPNR names another.
# Optional: --flash programs the board afterwards with iceprog (FT2232H interface A).
set -euo pipefail
cd "$(dirname "$0")/.."

flash=0
args=()
for a in "$@"; do
    if [[ "$a" == "--flash" ]]; then flash=1; else args+=("$a"); fi
done

for tool in yosys icepack; do
    command -v "$tool" >/dev/null || { echo "$tool not found: run scripts/setup.sh" >&2; exit 1; }
done
if [[ -z "${REVSPIKE_NEXTPNR:-}" ]]; then
    REVSPIKE_NEXTPNR=$(./scripts/nextpnr.sh)
    export REVSPIKE_NEXTPNR
fi

cargo run --release -q -p revspike -- bitstream "${args[@]}"

if [[ $flash == 1 ]]; then
    # The bitstream the run above wrote: report.json names it.
    build=cu
    out=
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[$i]}" in
            --out) out="${args[$((i + 1))]:-}" ;;
            --out=*) out="${args[$i]#--out=}" ;;
            --build) build="${args[$((i + 1))]:-}" ;;
            --build=*) build="${args[$i]#--build=}" ;;
        esac
    done
    if [[ -z "$out" ]]; then
        out=bitstreams/alchitry-cu
        if [[ "$build" != cu ]]; then out="$out/$build"; fi
    fi
    bin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bitstream"]["path"])' "$out/report.json")
    command -v iceprog >/dev/null || { echo "iceprog not found: run scripts/setup.sh" >&2; exit 1; }
    iceprog "$bin"
fi
