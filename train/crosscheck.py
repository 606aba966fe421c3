"""Cross-check of the Rust golden model against intref.py on generated models.

For each seed S in START..START+COUNT:

    revspike gen-model --seed S --max-stem-layers 4 [bounds] -o m.json
    revspike gen-input m.json --seed S -o x.json
    revspike golden m.json x.json --trace

and intref.py's own answer for the same file and input. They must agree on the
logits, the prediction, the wrap count, `states` (states[t][l][c], the turn-on
state after timestep t) and `rewound` (rewound[k-1][l][c], the state after
rewinding k timesteps from the final state, k = 1..T; rewound[T-1] is zero).
intref computes its rewind from the final state and the reversible buffer
alone, and this script also checks that it retraces the forward trajectory.

    /usr/bin/python3 train/crosscheck.py --count 1000        # the full run
    /usr/bin/python3 train/crosscheck.py --count 20 --v1     # version 1 models only

The binary is $REVSPIKE_BIN, else target/release/revspike. Needs numpy, not torch.
Exit status 0 when every model agrees, 1 on the first disagreement (unless
--keep-going), 2 when a command fails.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_bin():
    return os.environ.get("REVSPIKE_BIN") or os.path.join(ROOT, "target", "release", "revspike")


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def supports_stem(binary):
    """Whether this revspike generates version 2 models (gen-model --max-stem-layers)."""
    return "--max-stem-layers" in run([binary, "gen-model", "--help"])


def _first_diff(a, b, path="", depth=0):
    """Path of the first place two nested lists differ, or None."""
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_diff(x, y, f"{path}[{i}]", depth + 1)
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def compare(golden, ref, require_rewound=True):
    """List of disagreements between `revspike golden --trace` output and intref.infer_one."""
    bad = []
    for key in ("logits", "prediction", "wraps", "states"):
        if key not in golden:
            bad.append(f"golden output lacks `{key}`")
            continue
        d = _first_diff(golden[key], ref[key], key)
        if d:
            bad.append(d)
    if "rewound" in golden:
        d = _first_diff(golden["rewound"], ref["rewound"], "rewound")
        if d:
            bad.append(d)
    elif require_rewound:
        bad.append("golden output lacks `rewound`")
    return bad


def self_check(ref):
    """intref's rewind retraces its own forward trajectory and ends at zero."""
    T = len(ref["states"])
    for k in range(1, T + 1):
        want = ref["states"][T - 1 - k] if k < T else [[0] * len(c) for c in ref["states"][0]]
        d = _first_diff(ref["rewound"][k - 1], want, f"intref rewound[{k - 1}] vs forward")
        if d:
            return d
    return None


def check_seed(binary, seed, tmp, gen_args, require_rewound):
    m, x = os.path.join(tmp, f"m{seed}.json"), os.path.join(tmp, f"x{seed}.json")
    run([binary, "gen-model", "--seed", str(seed), *gen_args, "-o", m])
    run([binary, "gen-input", m, "--seed", str(seed), "-o", x])
    golden = json.loads(run([binary, "golden", m, x, "--trace"]))
    model = intref.load_model(m)
    with open(x) as f:
        inp = json.load(f)
    ref = intref.infer_one(model, np.array(inp))
    bad = compare(golden, ref, require_rewound)
    d = self_check(ref)
    if d:
        bad.append(d)
    info = {
        "version": model["version"],
        "stem": len(model["stem"]),
        "T": model["T"],
        "stages": len(model["stages"]),
        "wraps": ref["wraps"],
    }
    return bad, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=50, help="number of models (seeds START..START+COUNT)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--bin", default=default_bin(), help="revspike binary (default $REVSPIKE_BIN or target/release)")
    ap.add_argument("--v1", action="store_true", help="version 1 models only (no --max-stem-layers)")
    ap.add_argument("--max-stem-layers", type=int, default=4)
    ap.add_argument(
        "--gen-args",
        default="--max-width 256",
        help="further gen-model bounds, one string (default keeps each model small enough to check fast)",
    )
    ap.add_argument("--keep-going", action="store_true", help="check every seed, report all disagreements")
    ap.add_argument("--no-rewound", action="store_true", help="do not require `rewound` in the golden output")
    args = ap.parse_args(argv)
    if not os.path.exists(args.bin):
        print(f"error: revspike binary {args.bin} not found (build it: cargo build --release -p revspike)",
              file=sys.stderr)
        return 2
    gen_args = args.gen_args.split()
    if not args.v1:
        gen_args += ["--max-stem-layers", str(args.max_stem_layers)]
    t0 = time.time()
    failed, stems, wraps = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.start, args.start + args.count):
            try:
                bad, info = check_seed(args.bin, seed, tmp, gen_args, not args.no_rewound)
            except (RuntimeError, intref.ModelError, ValueError) as e:
                print(f"error: seed {seed}: {e}", file=sys.stderr)
                return 2
            stems += info["stem"] > 0
            wraps += info["wraps"] > 0
            if bad:
                failed.append(seed)
                print(f"seed {seed} {json.dumps(info)}: " + "; ".join(bad), file=sys.stderr)
                if not args.keep_going:
                    break
    n = seed - args.start + 1 if args.count else 0
    dt = time.time() - t0
    print(f"crosscheck: {n} models (seeds {args.start}..{args.start + n - 1}; {stems} with a stem, "
          f"{wraps} with wraps), {dt:.1f} s")
    print(f"{n - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
