"""Integer reference of the revspike network, version 1 (numpy).

This follows /work/shared/spec/SEMANTICS.md to the bit and is what the exporter
uses to (a) prove that no wrap16 overflow happens and (b) measure the integer
model's accuracy. All arithmetic is on int64 numpy arrays; Python's and numpy's
`>>` on signed integers is an arithmetic shift, i.e. floor(x / 2^k), which is
exactly the spec's `>>>`. The only floating point used is the +-1 x u8 dot
product, done in float64 BLAS: every partial sum is an integer far below 2^53,
so the result is exact whatever the summation order.

Usage:
    python intref.py MODEL.json [--limit N]    # accuracy + wrap count on the test set
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


def parse_model(doc):
    _check_keys(
        doc,
        "",
        ["format", "version", "name", "timesteps", "input", "classes", "readout", "stages", "head"],
    )
    if doc["format"] != "revspike-model":
        raise ModelError(f"format: unknown format {doc['format']!r}")
    if doc["version"] != 1 or isinstance(doc["version"], bool):
        raise ModelError(f"version: unsupported version {doc['version']!r}")
    if not isinstance(doc["name"], str):
        raise ModelError("name: expected a string")
    T = _int(doc["timesteps"], "timesteps", 1, 16)
    _check_keys(doc["input"], "input", ["group_len", "grouping"])
    G = _int(doc["input"]["group_len"], "input.group_len", 1, 1024)
    grouping = doc["input"]["grouping"]
    if grouping not in ("split", "repeat"):
        raise ModelError(f"input.grouping: expected \"split\" or \"repeat\", found {grouping!r}")
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
        n_in = G if l == 0 else widths[l - 1]
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
        "T": T,
        "G": G,
        "grouping": grouping,
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


def forward(model, x, trace=False):
    """x: (N, T*G) or (N, G) u8 -> dict(logits (N, classes) int64, pred, wraps, ...).

    wraps counts every (sample, timestep, stage, channel) whose turn-on update
    left the 16-bit range before wrap16 (a correctly quantized model has none).
    With trace=True the result also holds per-timestep c_l(t), s_l(t), logits_t.
    """
    T, G, S = model["T"], model["G"], len(model["stages"])
    x = np.asarray(x)
    need = T * G if model["grouping"] == "split" else G
    if x.ndim != 2 or x.shape[1] != need:
        raise ValueError(f"input: expected (N, {need}) samples, found shape {x.shape}")
    x = x.astype(np.int64)
    N = x.shape[0]
    c = [np.zeros((N, st["width"]), dtype=np.int64) for st in model["stages"]]
    s_prev = [None] * S
    logits = np.zeros((N, model["classes"]), dtype=np.int64)
    wraps = 0
    tr = {"c": [], "s": [], "logits_t": []}
    for t in range(T):
        group = x[:, t * G : (t + 1) * G] if model["grouping"] == "split" else x
        s_cur = [None] * S
        for l, st in enumerate(model["stages"]):
            a_in = group if l == 0 else s_cur[l - 1]
            z = layer_fwd(st["down"], a_in)
            if l < S - 1 and t > 0:
                z = sat16(z + layer_fwd(st["up"], s_prev[l + 1]))
            for blk in st["blocks"]:
                z = sat16(z + layer_fwd(blk["layer"], spike_fwd(blk["spike"], z)))
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
    out = {"logits": logits, "pred": np.argmax(logits, axis=1), "wraps": wraps}
    if trace:
        out.update(tr)
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


def main(argv=None):
    import data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--set", default="t10k", choices=["t10k", "train"])
    ap.add_argument("--limit", type=int, default=0, help="first N samples only (0 = all)")
    args = ap.parse_args(argv)
    try:
        model = load_model(args.model)
    except (ModelError, OSError, json.JSONDecodeError) as e:
        print(f"error: {args.model}: {e}", file=sys.stderr)
        return 2
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
