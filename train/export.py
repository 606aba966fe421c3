"""Export a trained checkpoint to the revspike JSON model file and check it.

A model without a stem is written as version 1 (unchanged), one with a
convolutional stem as version 2 (SEMANTICS.md, "Version 2").

    python train/export.py train/runs/fashion-cu.pt --json models/fashion-cu.json \
        --metrics models/fashion-cu.metrics.json

Folding (done by model.py's integer mode, the mode the last training phase
fine-tuned in, so nothing changes here):
* layer: y = alpha * sum(sign(W) a) + beta in real units becomes
  U = (acc * M + B) >>> R with M = round(alpha * 2^(F-FA) * 2^R) in -128..=127,
  B = round(beta * 2^F * 2^R), |B| <= 2^24, R the largest shift that fits;
* spike: threshold round(theta * 2^F) (i16), shift K;
* leak: sign(lambda) and h = round(-log2 |lambda|) in 0..=15;
* stem layer: as a layer, with its weight (Co, Ci, k, k) written row o bit
  (ky*k + kx)*Ci + ci, and its spike point.

Checks, all with intref.py on the file as written (not on the checkpoint):
the strict loader accepts it; no wrap16 overflow on all 60,000 training and
10,000 test images; integer test accuracy; and the integer logits equal the
PyTorch integer-mode logits bit for bit.
"""

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import intref  # noqa: E402
from model import F, K, RevSpikeNet, capacity  # noqa: E402


def layer_json(lay):
    m, b = lay.int_mb(ste=False)
    w = lay.weight.detach() >= 0  # sign(W), +1 where the latent weight is >= 0
    return {
        "in": lay.n_in,
        "out": lay.n_out,
        "weights": [intref.encode_row(row.numpy()) for row in w],
        "multiplier": [int(v) for v in m.tolist()],
        "bias": [int(v) for v in b.tolist()],
        "shift": int(lay.R),
    }


def spike_json(sp):
    return {"threshold": [int(v) for v in sp.int_theta(ste=False).tolist()], "shift": K}


def conv_json(conv, sp):
    m, b = conv.int_mb(ste=False)
    return {
        "kind": "conv",
        "in_channels": conv.ci,
        "out_channels": conv.co,
        "kernel": conv.k,
        "stride": conv.s,
        "padding": conv.p,
        "weights": [intref.encode_row(row.numpy()) for row in conv.file_rows()],
        "multiplier": [int(v) for v in m.tolist()],
        "bias": [int(v) for v in b.tolist()],
        "shift": int(conv.R),
        "spike": spike_json(sp),
    }


def model_json(model):
    cfg = model.cfg
    stages = []
    for l, st in enumerate(model.stages):
        sign, h = st.leak.sign_shift()
        s = {"width": st.width, "down": layer_json(st.down)}
        if st.up is not None:
            s["up"] = layer_json(st.up)
        s["blocks"] = [
            {"spike": spike_json(sp), "layer": layer_json(lay)} for sp, lay in zip(st.block_spikes, st.block_layers)
        ]
        s["decay"] = {"sign": [int(v) for v in sign.tolist()], "shift": [int(v) for v in h.tolist()]}
        s["out_spike"] = spike_json(st.out_spike)
        stages.append(s)
    doc = {
        "format": "revspike-model",
        "version": 1,
        "name": cfg["name"],
        "timesteps": cfg["T"],
        "input": {"group_len": cfg["G"], "grouping": cfg["grouping"]},
        "classes": cfg["classes"],
        "readout": cfg["readout"],
    }
    if len(model.stem):
        doc["version"] = 2
        doc["input"]["shape"] = list(model.shape)
        doc["stem"] = [conv_json(c, sp) for c, sp in zip(model.stem, model.stem_spikes)]
    doc["stages"] = stages
    doc["head"] = layer_json(model.head)
    return doc


def load_checkpoint(path, before_qat=False):
    """The integer model of a checkpoint; before_qat: the float parameters folded as they were
    when the integer fine-tuning started (train.py's "before fine-tuning" figure)."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = RevSpikeNet(ck["cfg"])
    if before_qat:
        model.load_state_dict(ck["float_state"])
        model.to_integer()
    else:
        model.load_state_dict(ck["state"])
        model.integer = True
    model.eval()
    return ck, model


def main(argv=None):
    ap = argparse.ArgumentParser(description="export a revspike checkpoint to the JSON model file (v1, or v2 with a stem)")
    ap.add_argument("checkpoint")
    ap.add_argument("--json", required=True, help="model file to write")
    ap.add_argument("--metrics", help="machine-readable figures to write (JSON)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--before-qat", action="store_true",
                    help="export the float parameters folded to integers, without the integer fine-tuning")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()

    ck, model = load_checkpoint(args.checkpoint, args.before_qat)
    fig, bad = capacity(ck["cfg"])
    doc = model_json(model)
    text = json.dumps(doc, separators=(",", ":"))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        f.write(text + "\n")
    print(f"wrote {args.json} ({len(text)} bytes)")

    im = intref.load_model(args.json)  # strict loader: the file as the Rust side will see it
    xtr, ytr = data.load("train")
    xte, yte = data.load("t10k")
    float_acc = ck["float_acc"]
    if float_acc is None:  # a --val run looked at no test image: measure the float model here
        fm = RevSpikeNet(ck["cfg"])
        fm.load_state_dict(ck["float_state"])
        fm.eval()
        with torch.no_grad():
            xt = torch.from_numpy(xte.copy())
            pred = torch.cat([fm(xt[i : i + 2500]).argmax(1) for i in range(0, len(xt), 2500)])
        float_acc = float((pred.numpy() == yte).mean())
    tr = intref.evaluate(im, xtr, ytr)
    te = intref.evaluate(im, xte, yte)
    print(f"intref train: accuracy {100 * tr['accuracy']:.2f}%, wraps {tr['wraps']}")
    print(f"intref test:  accuracy {100 * te['accuracy']:.2f}%, wraps {te['wraps']}")

    # bit-exact agreement of the PyTorch integer mode with the reference, on the whole test set
    mismatched = 0
    with torch.no_grad():
        for i in range(0, len(xte), 2500):
            tl = model(torch.from_numpy(xte[i : i + 2500].copy())) * 2.0**F
            il = intref.forward(im, xte[i : i + 2500])["logits"]
            mismatched += int((tl.round().to(torch.int64).numpy() != il).any(axis=1).sum())
    print(f"torch integer mode vs intref: {mismatched} of {len(xte)} test samples differ in any logit")

    ok = tr["wraps"] == 0 and te["wraps"] == 0 and mismatched == 0 and not bad
    metrics = {
        "model": os.path.basename(args.json),
        "model_sha256": hashlib.sha256((text + "\n").encode()).hexdigest(),
        "config": ck["cfg"],
        "capacity": fig,
        "fits_cu_build": not bad,
        "capacity_violations": bad,
        "float_test_accuracy": float_acc,
        "float_val_accuracy": ck.get("float_val_acc"),
        "int_val_accuracy": ck.get("int_acc_before_qat") if args.before_qat and ck.get("float_val_acc") is not None
        else ck.get("int_val_acc"),
        "int_test_accuracy": te["accuracy"],
        "int_train_accuracy": tr["accuracy"],
        "int_test_samples": len(xte),
        "float_to_int_drop_points": 100 * (float_acc - te["accuracy"]),
        "wraps_train": tr["wraps"],
        "wraps_test": te["wraps"],
        "torch_intref_mismatches": mismatched,
        "seed": ck["args"]["seed"],
        "train_command": "python train/train.py " + " ".join(ck["argv"]),
        "export_command": "python train/export.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "before_qat": args.before_qat,
        "train_seconds": round(ck["train_seconds"], 1),
        "export_seconds": round(time.time() - t0, 1),
    }
    if args.metrics:
        with open(args.metrics, "w") as f:
            json.dump(metrics, f, indent=2)
            f.write("\n")
        print(f"wrote {args.metrics}")
    if not ok:
        print("error: export checks failed: " + json.dumps({k: metrics[k] for k in
              ("wraps_train", "wraps_test", "torch_intref_mismatches", "fits_cu_build")}), file=sys.stderr)
        return 1
    print(f"float {100 * float_acc:.2f}% -> integer {100 * te['accuracy']:.2f}% on all {len(xte)} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
