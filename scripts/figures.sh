#!/usr/bin/env bash
# Re-measures the README's figures and prints each beside the value the README
# states, with the command that measured it.
#
#   scripts/figures.sh              the rows that take minutes at most
#   scripts/figures.sh --slow       also the slow ones (bitstream place and route,
#                                   1,000-image runs, 1 M-case fuzzing: an hour or more)
#   scripts/figures.sh NAME...      only the rows whose name contains one of NAME
#
# Each row of the table below is one figure:
#
#   row NAME COST 'README_REGEX' 'COMMAND' 'OUTPUT_REGEX'
#
# README_REGEX and OUTPUT_REGEX are `grep -oP` patterns; the figure is what
# matches after `\K` (the first match). COMMAND runs once from the repository
# root, however many rows read its output. COST is `fast` or `slow`. To add a
# figure, add a row.
set -uo pipefail
cd "$(dirname "$0")/.."

SLOW=0
FILTERS=()
for a in "$@"; do
    case "$a" in
        --slow) SLOW=1 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) FILTERS+=("$a") ;;
    esac
done

REV="${CARGO_TARGET_DIR:-target}/release/revspike"
NAMES=() COSTS=() README_RES=() CMDS=() OUT_RES=()
row() { NAMES+=("$1"); COSTS+=("$2"); README_RES+=("$3"); CMDS+=("$4"); OUT_RES+=("$5"); }

# --- the table -------------------------------------------------------------
COSIM='cargo bench -p revspike-sim --bench cosim_speed'
row golden-inferences-per-s fast \
    'golden model, single thread[^|]*\| \K[0-9,.]+' \
    'cargo bench -p revspike-golden --bench golden' \
    'golden infer: \K[0-9.]+'
row cu-core-verilator-cycles-per-s fast \
    'Verilator vs rust-hdl.s simulator, Cu core[^|]*\| \K[0-9.]+ M' \
    "$COSIM" 'figure: cu_core_verilator_cycles_per_s \K[0-9]+'
row cu-core-rust-hdl-cycles-per-s fast \
    'Verilator vs rust-hdl.s simulator, Cu core[^|]*\| [0-9.]+ M vs \K[0-9,]+' \
    "$COSIM" 'figure: cu_core_rust_hdl_cycles_per_s \K[0-9]+'
row cu-core-speedup fast \
    'Verilator vs rust-hdl.s simulator, Cu core[^|]*\|[^|]*\(\K[0-9]+x' \
    "$COSIM" 'figure: cu_core_speedup \K[0-9]+'
row small-core-verilator-cycles-per-s fast \
    'Verilator vs rust-hdl.s simulator, small core[^|]*\| \K[0-9.]+ M' \
    "$COSIM" 'figure: small_core_verilator_cycles_per_s \K[0-9]+'
row small-core-rust-hdl-cycles-per-s fast \
    'Verilator vs rust-hdl.s simulator, small core[^|]*\| [0-9.]+ M vs \K[0-9,]+' \
    "$COSIM" 'figure: small_core_rust_hdl_cycles_per_s \K[0-9]+'
row small-core-speedup fast \
    'Verilator vs rust-hdl.s simulator, small core[^|]*\|[^|]*\(\K[0-9]+x' \
    "$COSIM" 'figure: small_core_speedup \K[0-9]+'
row cu-top-verilator-cycles-per-s fast \
    'Verilator vs rust-hdl.s simulator, full Cu top level[^|]*\| \K[0-9.]+ M' \
    "$COSIM" 'figure: cu_top_verilator_cycles_per_s \K[0-9]+'
row cu-top-rust-hdl-cycles-per-s fast \
    'Verilator vs rust-hdl.s simulator, full Cu top level[^|]*\| [0-9.]+ M vs \K[0-9,]+' \
    "$COSIM" 'figure: cu_top_rust_hdl_cycles_per_s \K[0-9]+'
row shipped-weight-bits fast \
    'one stage\s+of width 64 with 2 blocks, head 64 -> 10; \K[0-9,]+' \
    "$REV info models/fashion-cu.json" 'weight bits +\K[0-9]+'
row shipped-parameter-bytes fast \
    '[0-9,]+ weight bits, \K[0-9,]+(?= parameter bytes)' \
    "$REV info models/fashion-cu.json" 'parameter bytes +\K[0-9]+'
row shipped-sops fast \
    '\K[0-9,]+(?= SOPs per inference)' \
    "$REV info models/fashion-cu.json" 'SOPs \(dense bound\) +\K[0-9]+'
row shipped-energy-nj fast \
    '\K[0-9.]+(?= nJ per inference)' \
    "$REV info models/fashion-cu.json" 'dense bound +\K[0-9.]+(?= nJ)'
row core-cycles-wide fast \
    '\| measured \| \K[0-9,]+' \
    'env REVSPIKE_BENCH_SAMPLES=50 cargo bench -p revspike-tests --bench core_cycles' \
    'cycles per inference +\K[0-9]+'
row shipped-cu-core-cycles fast \
    'The Cu core \(32 lanes[^)]*\) takes \K[0-9,]+' \
    'env REVSPIKE_SHIPPED_SAMPLE=10000 cargo test --release -p revspike-tests --test shipped_model -- --nocapture' \
    'bit-exact with the golden model, \K[0-9]+(?= core cycles)'
row conv-core-cycles fast \
    'rewinds on every fourth\); \K[0-9,]+(?= core cycles per image measured)' \
    'env REVSPIKE_SHIPPED_SAMPLE=10000 cargo test --release -p revspike-tests --test shipped_conv_model verilated -- --nocapture' \
    'bit-exact with the golden model; \K[0-9]+(?= core cycles per image measured)'
row conv-link-cycles fast \
    'equal to the cycle model on every image, against \K[0-9,]+' \
    'env REVSPIKE_SHIPPED_SAMPLE=10000 cargo test --release -p revspike-tests --test shipped_conv_model verilated -- --nocapture' \
    'bytes = \K[0-9]+(?= cycles on the link)'
row run-300-accuracy slow \
    'images identical to the golden model \(logits and prediction\),\s+\K[0-9.]+ %' \
    "$REV run --model models/fashion-cu.json --dataset fashion-mnist --count 300" \
    'accuracy +\K[0-9.]+%'
row run-300-board-inferences-per-s slow \
    '[0-9.]+ % accuracy on them, \K[0-9,.]+(?= inferences/s)' \
    "$REV run --model models/fashion-cu.json --dataset fashion-mnist --count 300" \
    'board time .*: \K[0-9.]+(?= inferences/s)'
row run-300-bytes-per-inference slow \
    '\K[0-9]+(?= bytes on the wire per inference)' \
    "$REV run --model models/fashion-cu.json --dataset fashion-mnist --count 300" \
    'line-rate bound .* for \K[0-9]+(?= B per inference)'
row bench-window-4 slow \
    'pipelined \(window 4\) \| \K[0-9,.]+' \
    "$REV bench --count 200 --windows 1,4" '(?m)^ +4 +(\S+ +){7}\K[0-9.]+'
row bench-window-1 slow \
    'ping-pong \| \K[0-9,.]+' \
    "$REV bench --count 200 --windows 1,4" '(?m)^ +1 +(\S+ +){7}\K[0-9.]+'
row run-1000-accuracy slow \
    'all agree with the golden model \(\K[0-9.]+ %' \
    "$REV run --model models/fashion-cu.json --dataset fashion-mnist --count 1000" \
    'accuracy +\K[0-9.]+%'
row cu-logic-cells slow \
    '\| logic cells \| \K[0-9,]+' \
    "$REV bitstream --build cu --seed 11 --out target/figures-cu" \
    'logic cells[^0-9]*\K[0-9,]+'
row cu-fmax-mhz slow \
    'fmax \| \*\*\K[0-9.]+' \
    "$REV bitstream --build cu --seed 11 --out target/figures-cu" \
    '(?m)^ +clock +[0-9.]+ MHz +\K[0-9.]+'
row cu-estimate-worst-ns slow \
    'pre-placement estimate\) \| worst \K[0-9.]+' \
    "$REV bitstream --build cu --estimate --out target/figures-cu-estimate" \
    'worst \K[0-9.]+(?= ns)'
row conv-model-accuracy fast \
    'golden integer model \| \K[0-9.]+(?= % \(10,000 test images; 0 wraps on all 70,000)' \
    "$REV eval --model models/fashion-conv.json --dataset fashion-mnist" 'accuracy +\K[0-9.]+'
row conv-model-eval-inferences-per-s fast \
    'golden model speed on it \| \K[0-9,]+-[0-9,]+(?= inferences/s on 2 threads)' \
    "$REV eval --model models/fashion-conv.json --dataset fashion-mnist:train" 'throughput +\K[0-9]+'
FUZZ='cargo run --release -p revspike-fuzz -- --execs 1000000'
row fuzz-executions slow \
    'fuzz targets, \K[0-9,]+(?= executions)' "$FUZZ" 'figure: fuzz_execs \K[0-9]+'
row fuzz-panics slow \
    'fuzz targets, [0-9,]+ executions: \K[0-9]+(?= panics)' "$FUZZ" 'figure: fuzz_panics \K[0-9]+'
row fuzz-hangs slow \
    'fuzz targets, [0-9,]+ executions: [0-9]+ panics, \K[0-9]+(?= hangs)' "$FUZZ" \
    'figure: fuzz_hangs \K[0-9]+'
row fuzz-peak-rss-mib slow \
    'fuzz targets, [^|]*peak memory \K[0-9]+(?= MiB)' "$FUZZ" 'figure: fuzz_peak_rss_mib \K[0-9]+'
LINKFUZZ='scripts/link-fuzz.sh 10000'
row link-fuzz-fragments slow \
    'link fuzz, [0-9,]+ chunks \(\K[0-9,]+(?= fragments)' "$LINKFUZZ" \
    'link fuzz: [0-9]+ chunks \(\K[0-9]+(?= fragments)'
row link-fuzz-answers slow \
    'link fuzz, [0-9,]+ chunks \([0-9,]+ fragments\): \K[0-9,]+(?=\s+answers)' "$LINKFUZZ" \
    'link fuzz: [^,]+, \K[0-9]+(?= answers)'
row link-fuzz-lost slow \
    'link fuzz, [^;]*promised, \K[0-9]+(?= lost)' "$LINKFUZZ" 'answers, \K[0-9]+(?= lost)'
row link-fuzz-lockups slow \
    'link fuzz, [^;]*lost, \K[0-9]+(?= lockups)' "$LINKFUZZ" 'lost, \K[0-9]+(?= lockups)'
# ---------------------------------------------------------------------------

selected() {
    local name=$1 cost=$2
    [ "$cost" = slow ] && [ "$SLOW" = 0 ] && [ ${#FILTERS[@]} = 0 ] && return 1
    [ ${#FILTERS[@]} = 0 ] && return 0
    for f in "${FILTERS[@]}"; do
        [[ "$name" == *"$f"* ]] && return 0
    done
    return 1
}

if [ ! -x "$REV" ]; then
    cargo build --release -p revspike >&2 || exit 1
fi

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
declare -A DONE=()
printf '%-34s %-16s %-16s %s\n' figure README measured command
for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]} cmd=${CMDS[$i]}
    selected "$name" "${COSTS[$i]}" || continue
    key=$(printf '%s' "$cmd" | md5sum | cut -c1-12)
    if [ -z "${DONE[$key]:-}" ]; then
        echo "== $cmd" >&2
        # shellcheck disable=SC2086 # the command is a word list by design
        bash -c "$cmd" >"$LOGS/$key" 2>&1
        echo "(exit $?)" >>"$LOGS/$key"
        DONE[$key]=1
    fi
    readme=$(grep -ozP "${README_RES[$i]}" README.md 2>/dev/null | tr '\0' '\n' | head -1)
    measured=$(grep -ozP "${OUT_RES[$i]}" "$LOGS/$key" 2>/dev/null | tr '\0' '\n' | head -1)
    printf '%-34s %-16s %-16s %s\n' "$name" "${readme:--}" "${measured:-(not found)}" "$cmd"
    if [ -z "$measured" ]; then
        sed 's/^/    | /' "$LOGS/$key" | tail -5 >&2
    fi
done
