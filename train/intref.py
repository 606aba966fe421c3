"""Integer reference of the revspike network, versions 1 and 2 (numpy).

This follows /work/shared/spec/SEMANTICS.md to the bit and is what the exporter
uses to (a) prove that no wrap16 overflow happens and (b) measure the integer
model's accuracy. All arithmetic is on int64 numpy arrays; Python's and numpy's
`>>` on signed integers is an arithmetic shift, i.e. floor(x / 2^k), which is
exactly the spec's `>>>`. The only floating point used is the +-1 x u8 dot
product, done in float64 BLAS: every partial sum is an integer far below 2^53,
so the result is exact whatever the summation order.

Version 2's convolutional stem is computed as im2col + the same dot product:
each output position's k*k*Ci window, zero outside the map, in the file's
weight-bit order (ky*k + kx)*Ci + ci. `rewind` undoes the timesteps from the
final state with the reversible state buffer alone (SEMANTICS.md, Reversibility).

Usage:
    python intref.py MODEL.json [--limit N]    # accuracy + wrap count on the test set
    python intref.py MODEL.json --input x.json [--trace]   # one sample, JSON like `revspike golden`
"""

import argparse
import json
import sys

import numpy as np

I16_MIN, I16_MAX = -32768, 32767


class ModelError(ValueError):
    """A model file that does not satisfy SEMANTICS.md; the message names the field path."""


def sat16(x):
    return np.clip(x, I16_MIN, I16_MAX)


def wrap16(x):
    return ((x + 32768) & 0xFFFF) - 32768


# ----------------------------------------------------------------------------
# Loading and validation


def _check_keys(obj, path, required, optional=()):
    if not isinstance(obj, dict):
        raise ModelError(f"{path or 'model'}: expected an object")
    for k in obj:
        if k not in required and k not in optional:
            raise ModelError(f"{path + '.' if path else ''}{k}: unknown field")
    for k in required:
        if k not in obj:
            raise ModelError(f"{path + '.' if path else ''}{k}: missing field")


def _int(v, path, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelError(f"{path}: expected an integer, found {v!r}")
    if v < lo or v > hi:
        raise ModelError(f"{path}: {v} outside {lo}..={hi}")
    return v


def _int_list(v, path, n, lo, hi):
    if not isinstance(v, list):
        raise ModelError(f"{path}: expected a list")
    if len(v) != n:
        raise ModelError(f"{path}: expected {n} entries, found {len(v)}")
    return np.array([_int(e, f"{path}[{i}]", lo, hi) for i, e in enumerate(v)], dtype=np.int64)


def decode_row(hexrow, n, path):
    """Hex row -> +-1 vector of length n (bit i mod 8 of byte i div 8, LSB first)."""
    nbytes = (n + 7) // 8
    if not isinstance(hexrow, str):
        raise ModelError(f"{path}: expected a hex string")
    if len(hexrow) != 2 * nbytes:
        raise ModelError(f"{path}: expected {2 * nbytes} hex digits, found {len(hexrow)}")
    try:
        raw = bytes.fromhex(hexrow)
    except ValueError:
        raise ModelError(f"{path}: bad hex") from None
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    if bits[n:].any():
        raise ModelError(f"{path}: non-zero padding bits past {n}")
    return np.where(bits[:n] == 1, 1, -1).astype(np.int64)


def encode_row(w):
    """+-1 (or bool, True = +1) vector -> lowercase hex row, LSB-first, zero padding."""
    bits = (np.asarray(w) > 0).astype(np.uint8)
    return np.packbits(bits, bitorder="little").tobytes().hex()


def _layer(obj, path, n, m):
    _check_keys(obj, path, ["in", "out", "weights", "multiplier", "bias", "shift"])
    if _int(obj["in"], f"{path}.in", 1, 1 << 30) != n:
        raise ModelError(f"{path}.in: expected {n}, found {obj['in']}")
    if _int(obj["out"], f"{path}.out", 1, 1 << 30) != m:
        raise ModelError(f"{path}.out: expected {m}, found {obj['out']}")
    rows = obj["weights"]
    if not isinstance(rows, list) or len(rows) != m:
        found = len(rows) if isinstance(rows, list) else "no list"
        raise ModelError(f"{path}.weights: expected {m} entries, found {found}")
    w = np.stack([decode_row(r, n, f"{path}.weights[{o}]") for o, r in enumerate(rows)])
    return {
        "W": w,
        "M": _int_list(obj["multiplier"], f"{path}.multiplier", m, -128, 127),
        "B": _int_list(obj["bias"], f"{path}.bias", m, -(1 << 24), 1 << 24),
        "R": _int(obj["shift"], f"{path}.shift", 0, 31),
    }


def _spike(obj, path, c):
    _check_keys(obj, path, ["threshold", "shift"])
    return {
        "theta": _int_list(obj["threshold"], f"{path}.threshold", c, I16_MIN, I16_MAX),
        "k": _int(obj["shift"], f"{path}.shift", 0, 15),
    }


def _conv(obj, path, ci):
    """One stem layer; returns the parsed layer (its input channel count must be ci)."""
    _check_keys(
        obj,
        path,
        ["kind", "in_channels", "out_channels", "kernel", "stride", "padding", "weights", "multiplier", "bias",
         "shift", "spike"],
    )
    if obj["kind"] != "conv":
        raise ModelError(f"{path}.kind: expected \"conv\", found {obj['kind']!r}")
    got_ci = _int(obj["in_channels"], f"{path}.in_channels", 1, 256)
    if got_ci != ci[0]:
        raise ModelError(f"{path}.in_channels: expected {ci[0]} ({ci[1]}), found {got_ci}")
    co = _int(obj["out_channels"], f"{path}.out_channels", 1, 256)
    k = obj["kernel"]
    if isinstance(k, bool) or not isinstance(k, int) or k not in (1, 3, 5):
        raise ModelError(f"{path}.kernel: expected 1, 3 or 5, found {k!r}")
    st = _int(obj["stride"], f"{path}.stride", 1, 4)
    p = _int(obj["padding"], f"{path}.padding", 0, k // 2)
    n = k * k * got_ci
    if n > 1024:
        raise ModelError(f"{path}.weights: a row of kernel*kernel*in_channels = {n} bits exceeds 1024")
    rows = obj["weights"]
    if not isinstance(rows, list) or len(rows) != co:
        found = len(rows) if isinstance(rows, list) else "no list"
        raise ModelError(f"{path}.weights: expected {co} entries, found {found}")
    w = np.stack([decode_row(r, n, f"{path}.weights[{o}]") for o, r in enumerate(rows)])
    return {
        "ci": got_ci,
        "co": co,
        "k": k,
        "s": st,
        "p": p,
        "W": w,
        "M": _int_list(obj["multiplier"], f"{path}.multiplier", co, -128, 127),
        "B": _int_list(obj["bias"], f"{path}.bias", co, -(1 << 24), 1 << 24),
        "R": _int(obj["shift"], f"{path}.shift", 0, 31),
        "spike": _spike(obj["spike"], f"{path}.spike", co),
    }


def parse_model(doc):
    if not isinstance(doc, dict):
        raise ModelError("model: expected an object")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in (1, 2):
        raise ModelError(f"version: unsupported version {version!r}")
    top = ["format", "version", "name", "timesteps", "input", "classes", "readout", "stages", "head"]
    _check_keys(doc, "", top, ["stem"] if version == 2 else [])
    if doc["format"] != "revspike-model":
        raise ModelError(f"format: unknown format {doc['format']!r}")
    if not isinstance(doc["name"], str):
        raise ModelError("name: expected a string")
    T = _int(doc["timesteps"], "timesteps", 1, 16)
    _check_keys(doc["input"], "input", ["group_len", "grouping"], ["shape"] if version == 2 else [])
    stem_doc = doc.get("stem", [])
    if not isinstance(stem_doc, list) or len(stem_doc) > 4:
        raise ModelError("stem: expected a list of 0..=4 layers")
    G = _int(doc["input"]["group_len"], "input.group_len", 1, 4096 if stem_doc else 1024)
    grouping = doc["input"]["grouping"]
    if grouping not in ("split", "repeat"):
        raise ModelError(f"input.grouping: expected \"split\" or \"repeat\", found {grouping!r}")
    shape = None
    if stem_doc:
        if "shape" not in doc["input"]:
            raise ModelError("input.shape: required when the stem is non-empty")
        sh = doc["input"]["shape"]
        if not isinstance(sh, list) or len(sh) != 3:
            raise ModelError("input.shape: expected [H, W, C]")
        shape = [_int(v, f"input.shape[{i}]", 1, 256) for i, v in enumerate(sh)]
        if shape[0] * shape[1] * shape[2] != G:
            raise ModelError(f"input.shape: H*W*C = {shape[0] * shape[1] * shape[2]} differs from group_len {G}")
    elif "shape" in doc["input"]:
        raise ModelError("input.shape: given without a stem")
    stem = []
    if stem_doc:
        h, w, c = shape
        src = "input.shape[2]"
        for i, cd in enumerate(stem_doc):
            sl = _conv(cd, f"stem[{i}]", (c, src))
            h2 = (h + 2 * sl["p"] - sl["k"]) // sl["s"] + 1
            w2 = (w + 2 * sl["p"] - sl["k"]) // sl["s"] + 1
            if h2 < 1 or w2 < 1:
                raise ModelError(f"stem[{i}]: output map {h2} x {w2} is empty (input {h} x {w})")
            sl["in_hw"], sl["out_hw"] = (h, w), (h2, w2)
            stem.append(sl)
            h, w, c = h2, w2, sl["co"]
            src = f"stem[{i}].out_channels"
    n0 = stem[-1]["out_hw"][0] * stem[-1]["out_hw"][1] * stem[-1]["co"] if stem else G
    if n0 > 1024:
        raise ModelError(f"stem[{len(stem) - 1}]: output of {n0} values exceeds stage 0's 1024 inputs")
    classes = _int(doc["classes"], "classes", 1, 256)
    if doc["readout"] not in ("sum", "last"):
        raise ModelError(f"readout: expected \"sum\" or \"last\", found {doc['readout']!r}")
    st = doc["stages"]
    if not isinstance(st, list) or not 1 <= len(st) <= 4:
        raise ModelError("stages: expected 1..=4 stages")
    S = len(st)
    for l, s in enumerate(st):
        _check_keys(s, f"stages[{l}]", ["width", "down", "blocks", "decay", "out_spike"], ["up"])
    widths = [_int(s["width"], f"stages[{l}].width", 1, 1024) for l, s in enumerate(st)]
    stages = []
    for l, s in enumerate(st):
        p = f"stages[{l}]"
        w = widths[l]
        n_in = n0 if l == 0 else widths[l - 1]
        stage = {"width": w, "down": _layer(s["down"], f"{p}.down", n_in, w)}
        if l < S - 1:
            if s.get("up") is None:
                raise ModelError(f"{p}.up: required for every stage but the last")
            stage["up"] = _layer(s["up"], f"{p}.up", widths[l + 1], w)
        elif s.get("up") is not None:
            raise ModelError(f"{p}.up: must be null or absent on the last stage")
        blocks = s["blocks"]
        if not isinstance(blocks, list) or len(blocks) > 4:
            raise ModelError(f"{p}.blocks: expected a list of 0..=4 blocks")
        stage["blocks"] = []
        for b, blk in enumerate(blocks):
            _check_keys(blk, f"{p}.blocks[{b}]", ["spike", "layer"])
            stage["blocks"].append(
                {
                    "spike": _spike(blk["spike"], f"{p}.blocks[{b}].spike", w),
                    "layer": _layer(blk["layer"], f"{p}.blocks[{b}].layer", w, w),
                }
            )
        _check_keys(s["decay"], f"{p}.decay", ["sign", "shift"])
        sign = _int_list(s["decay"]["sign"], f"{p}.decay.sign", w, -1, 1)
        if (sign == 0).any():
            raise ModelError(f"{p}.decay.sign[{int(np.argmax(sign == 0))}]: expected 1 or -1, found 0")
        stage["sigma"] = sign
        stage["h"] = _int_list(s["decay"]["shift"], f"{p}.decay.shift", w, 0, 15)
        stage["out_spike"] = _spike(s["out_spike"], f"{p}.out_spike", w)
        stages.append(stage)
    head = _layer(doc["head"], "head", widths[-1], classes)
    return {
        "version": version,
        "T": T,
        "G": G,
        "grouping": grouping,
        "shape": shape,
        "stem": stem,
        "classes": classes,
        "readout": doc["readout"],
        "stages": stages,
        "head": head,
    }


def load_model(path):
    with open(path) as f:
        return parse_model(json.load(f))


# ----------------------------------------------------------------------------
# Forward pass


def acc_of(layer, a):
    """Exact sum_i W[o][i] * a[i] for a batch a (N, n) of 0..255 -> int64 (N, m)."""
    return (a.astype(np.float64) @ layer["W"].T.astype(np.float64)).astype(np.int64)


def layer_fwd(layer, a):
    return sat16((acc_of(layer, a) * layer["M"] + layer["B"]) >> layer["R"])


def head_fwd(layer, a):
    return (acc_of(layer, a) * layer["M"] + layer["B"]) >> layer["R"]


def spike_fwd(sp, u):
    return np.where(u > sp["theta"], np.clip(u >> sp["k"], 0, 255), 0)


def conv_fwd(sl, a):
    """One stem layer on maps a (N, H, W, Ci) of u8 values -> (N, H', W', Co) activations.

    acc[y][x][o] = sum over ky, kx, ci of Wc[o][(ky*k + kx)*Ci + ci] * a[y*s + ky - p][x*s + kx - p][ci],
    a = 0 outside the map."""
    k, st, p = sl["k"], sl["s"], sl["p"]
    n, h, w, ci = a.shape
    h2, w2 = (h + 2 * p - k) // st + 1, (w + 2 * p - k) // st + 1
    ap = np.zeros((n, h + 2 * p, w + 2 * p, ci), dtype=np.float64)
    ap[:, p : p + h, p : p + w, :] = a
    cols = np.empty((n, h2, w2, k, k, ci), dtype=np.float64)
    for ky in range(k):
        for kx in range(k):
            cols[:, :, :, ky, kx, :] = ap[:, ky : ky + st * (h2 - 1) + 1 : st, kx : kx + st * (w2 - 1) + 1 : st, :]
    acc = (cols.reshape(n * h2 * w2, k * k * ci) @ sl["W"].T.astype(np.float64)).astype(np.int64)
    u = sat16((acc * sl["M"] + sl["B"]) >> sl["R"])
    return spike_fwd(sl["spike"], u).reshape(n, h2, w2, sl["co"])


def stem_fwd(model, g, trace=None):
    """Groups (N, G) in (y, x, c) order -> stage 0's input (N, H'*W'*Co), flattened (y, x, c)."""
    if not model["stem"]:
        return g
    h, w, c = model["shape"]
    a = g.reshape(g.shape[0], h, w, c)
    for sl in model["stem"]:
        a = conv_fwd(sl, a)
        if trace is not None:
            trace.append(a)
    return a.reshape(a.shape[0], -1)


def _groups(model, x):
    """The stage-0 input of every timestep: list of T arrays (N, stage-0 in)."""
    T, G = model["T"], model["G"]
    x = np.asarray(x)
    need = T * G if model["grouping"] == "split" else G
    if x.ndim != 2 or x.shape[1] != need:
        raise ValueError(f"input: expected (N, {need}) samples, found shape {x.shape}")
    x = x.astype(np.int64)
    if model["grouping"] == "repeat":
        g = stem_fwd(model, x)  # the same frame at every timestep: its stem output once
        return [g] * T
    return [stem_fwd(model, x[:, t * G : (t + 1) * G]) for t in range(T)]


def stage_z(model, l, t, g_t, s_below, s_above_prev):
    """Stage l's z at timestep t, from its input (group or s_{l-1}(t)) and s_{l+1}(t-1)."""
    st = model["stages"][l]
    z = layer_fwd(st["down"], g_t if l == 0 else s_below)
    if l < len(model["stages"]) - 1 and t > 0:
        z = sat16(z + layer_fwd(st["up"], s_above_prev))
    for blk in st["blocks"]:
        z = sat16(z + layer_fwd(blk["layer"], spike_fwd(blk["spike"], z)))
    return z


def forward(model, x, trace=False):
    """x: (N, T*G) or (N, G) u8 -> dict(logits (N, classes) int64, pred, wraps, ...).

    wraps counts every (sample, timestep, stage, channel) whose turn-on update
    left the 16-bit range before wrap16 (a correctly quantized model has none).
    With trace=True the result also holds per-timestep c_l(t), s_l(t), logits_t,
    and `buffer`: for t = 1..T-1 the per-stage low bits pushed to the reversible
    state buffer (buffer[t-1][l], each 0 <= low < 2^h).
    """
    T, S = model["T"], len(model["stages"])
    groups = _groups(model, x)
    N = groups[0].shape[0]
    c = [np.zeros((N, st["width"]), dtype=np.int64) for st in model["stages"]]
    s_prev = [None] * S
    logits = np.zeros((N, model["classes"]), dtype=np.int64)
    wraps = 0
    tr = {"c": [], "s": [], "logits_t": [], "buffer": []}
    for t in range(T):
        s_cur = [None] * S
        low = []
        for l, st in enumerate(model["stages"]):
            z = stage_z(model, l, t, groups[t], s_cur[l - 1] if l else None, s_prev[l + 1] if l < S - 1 else None)
            if t > 0:
                low.append(c[l] & ((1 << st["h"]) - 1))
            raw = z + st["sigma"] * (c[l] >> st["h"])
            wraps += int(((raw < I16_MIN) | (raw > I16_MAX)).sum())
            c[l] = wrap16(raw)
            s_cur[l] = spike_fwd(st["out_spike"], c[l])
        lt = head_fwd(model["head"], s_cur[S - 1])
        if model["readout"] == "sum":
            logits += lt
        else:
            logits = lt
        s_prev = s_cur
        if trace:
            tr["c"].append([ci.copy() for ci in c])
            tr["s"].append(s_cur)
            tr["logits_t"].append(lt)
            if t > 0:
                tr["buffer"].append(low)
    out = {"logits": logits, "pred": np.argmax(logits, axis=1), "wraps": wraps}
    if trace:
        out.update(tr)
    return out


def rewind(model, x, c_final, buffer):
    """Undo all T timesteps from the final turn-on state, with the buffer's low bits only.

    Returns rewound[k-1] = the per-stage state after rewinding k timesteps (k = 1..T);
    rewound[T-1] is the initial state. Stages go top-down so that s_{l-1}(t) is still
    the forward value and s_{l+1}(t-1) has just been recovered."""
    T, S = model["T"], len(model["stages"])
    groups = _groups(model, x)
    c = [np.asarray(ci, dtype=np.int64).copy() for ci in c_final]
    out = []
    for t in range(T - 1, -1, -1):
        for l in range(S - 1, -1, -1):
            st = model["stages"][l]
            s_below = spike_fwd(model["stages"][l - 1]["out_spike"], c[l - 1]) if l else None
            s_above_prev = spike_fwd(model["stages"][l + 1]["out_spike"], c[l + 1]) if l < S - 1 else None
            z = stage_z(model, l, t, groups[t], s_below, s_above_prev)
            d = wrap16(c[l] - z)
            q = wrap16(st["sigma"] * d)
            # t = 0 pushed nothing: its previous state is zero, and the formula gives it with low = 0
            low = buffer[t - 1][l] if t > 0 else 0
            c[l] = wrap16(q * (1 << st["h"]) + low)
        out.append([ci.copy() for ci in c])
    return out


def evaluate(model, x, y, batch=2000):
    """Accuracy, wrap count and predictions over a whole set, in batches."""
    preds, wraps = [], 0
    for i in range(0, len(x), batch):
        r = forward(model, x[i : i + batch])
        preds.append(r["pred"])
        wraps += r["wraps"]
    pred = np.concatenate(preds)
    return {"accuracy": float((pred == np.asarray(y)).mean()), "wraps": wraps, "pred": pred}


def infer_one(model, x):
    """One sample, as `revspike golden --trace` reports it: logits, prediction, wraps,
    states[t][l][c] (state after timestep t) and rewound[k-1][l][c] (after k rewinds)."""
    x = np.asarray(x, dtype=np.int64).reshape(1, -1)
    r = forward(model, x, trace=True)
    rw = rewind(model, x, r["c"][-1], r["buffer"])
    return {
        "logits": r["logits"][0].tolist(),
        "prediction": int(r["pred"][0]),
        "wraps": r["wraps"],
        "states": [[cl[0].tolist() for cl in ct] for ct in r["c"]],
        "rewound": [[cl[0].tolist() for cl in ct] for ct in rw],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--set", default="t10k", choices=["t10k", "train"])
    ap.add_argument("--limit", type=int, default=0, help="first N samples only (0 = all)")
    ap.add_argument("--input", help="one sample (JSON array of 0..=255): print its answer as JSON instead")
    args = ap.parse_args(argv)
    try:
        model = load_model(args.model)
    except (ModelError, OSError, json.JSONDecodeError) as e:
        print(f"error: {args.model}: {e}", file=sys.stderr)
        return 2
    if args.input:
        try:
            with open(args.input) as f:
                x = json.load(f)
            if not isinstance(x, list) or not all(isinstance(v, int) and 0 <= v <= 255 for v in x):
                raise ValueError("expected a JSON array of 0..=255 integers")
            print(json.dumps(infer_one(model, x)))
        except (OSError, ValueError) as e:
            print(f"error: {args.input}: {e}", file=sys.stderr)
            return 2
        return 0
    import data

    x, y = data.load(args.set)
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    if model["grouping"] == "repeat" and model["G"] != x.shape[1]:
        print(f"error: repeat model expects {model['G']} inputs, images have {x.shape[1]}", file=sys.stderr)
        return 2
    r = evaluate(model, x, y)
    print(f"{args.set}: {len(x)} samples, integer accuracy {100 * r['accuracy']:.2f}%, wraps {r['wraps']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
