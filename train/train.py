"""Train a revspike network on Fashion-MNIST: float phase, then integer-exact fine-tuning.

    python train/train.py --T 4 --grouping split --widths 64,64 --blocks 1,1 \
        --epochs 20 --qat-epochs 4 --seed 1 --out train/runs/fashion-cu.pt

Phase 1 trains the float model (binary weights with STE, real-valued spikes,
power-of-two leaks). Phase 2 fixes each layer's shift R and fine-tunes with
the integer forward pass of SEMANTICS.md in the loop (every rounding applied,
gradients straight through), so the exported integer model is the model that
was evaluated. export.py turns the checkpoint into the JSON model file.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
from model import RevSpikeNet, capacity  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="train a revspike model on Fashion-MNIST")
    ap.add_argument("--T", type=int, default=4, help="timesteps")
    ap.add_argument("--grouping", choices=["split", "repeat"], default="split")
    ap.add_argument("--G", type=int, default=0, help="group length (default 784/T for split, 784 for repeat)")
    ap.add_argument("--widths", default="64,64", help="stage widths, comma separated")
    ap.add_argument("--blocks", default="1,1", help="blocks per stage, comma separated")
    ap.add_argument("--readout", choices=["sum", "last"], default="sum")
    ap.add_argument("--epochs", type=int, default=20, help="float epochs")
    ap.add_argument("--qat-epochs", type=int, default=4, help="integer-exact fine-tuning epochs")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--qat-lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--aug-shift", type=int, default=0, help="random translation of up to N pixels")
    ap.add_argument("--aug-flip", action="store_true", help="random horizontal flip (half of the images)")
    ap.add_argument(
        "--stem",
        default="",
        help="conv stem (version 2): comma-separated layers OUT:K:S:P (out channels, kernel, stride, padding), "
        "e.g. 16:3:2:1,32:3:2:1",
    )
    ap.add_argument("--shape", default="28,28,1", help="input shape H,W,C of one group when a stem is present")
    ap.add_argument("--init", default="", help="start from this checkpoint's float parameters (same config; T may differ, as no parameter depends on it)")
    ap.add_argument("--teacher", default="", help="checkpoint whose float logits are distilled (float phase)")
    ap.add_argument("--kd-alpha", type=float, default=0.5, help="weight of the distillation loss")
    ap.add_argument("--kd-temp", type=float, default=4.0, help="distillation temperature")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy 2-core machine")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    ap.add_argument(
        "--val",
        type=int,
        default=0,
        help="hold out the last N training images for validation (model selection without the test set)",
    )
    ap.add_argument("--limit-train", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--no-fit-check", action="store_true", help="allow models larger than the Cu build")
    ap.add_argument("--name", default="fashion-cu")
    ap.add_argument("--out", default="train/runs/model.pt")
    return ap.parse_args(argv)


def make_cfg(args):
    widths = [int(v) for v in args.widths.split(",")]
    blocks = [int(v) for v in args.blocks.split(",")]
    if len(blocks) != len(widths):
        raise SystemExit(f"error: --blocks has {len(blocks)} entries, --widths has {len(widths)}")
    G = args.G or (784 // args.T if args.grouping == "split" else 784)
    if args.grouping == "split" and args.T * G != 784:
        raise SystemExit(f"error: split grouping needs T*G = 784 raw pixels, got {args.T}*{G}")
    if args.grouping == "repeat" and G != 784:
        raise SystemExit(f"error: repeat grouping feeds the raw 784 pixels, got G={G}")
    stem = []
    for part in filter(None, args.stem.split(",")):
        try:
            o, k, st, p = (int(v) for v in part.split(":"))
        except ValueError:
            raise SystemExit(f"error: --stem layer {part!r}: expected OUT:K:S:P") from None
        if k not in (1, 3, 5) or not 1 <= st <= 4 or not 0 <= p <= k // 2 or not 1 <= o <= 256:
            raise SystemExit(f"error: --stem layer {part!r}: kernel 1/3/5, stride 1..=4, padding 0..=k/2, out 1..=256")
        stem.append({"out": o, "k": k, "s": st, "p": p})
    extra = {}
    if stem:
        shape = [int(v) for v in args.shape.split(",")]
        if len(shape) != 3 or shape[0] * shape[1] * shape[2] != G:
            raise SystemExit(f"error: --shape {args.shape}: expected H,W,C with H*W*C = group length {G}")
        extra = {"stem": stem, "shape": shape}
    return {
        "name": args.name,
        "T": args.T,
        "G": G,
        "grouping": args.grouping,
        "widths": widths,
        "blocks": blocks,
        "readout": args.readout,
        "classes": 10,
        **extra,
    }


def flip_batch(x, gen):
    """Mirror a random half of the 28 x 28 images left-right. x: (N, 784) u8."""
    n = x.shape[0]
    sel = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    img = x.view(n, 28, 28)
    return torch.where(sel[:, None, None], img.flip(2), img).reshape(n, 784)


def shift_batch(x, s, gen):
    """Random translation by -s..s pixels in each axis, zero fill. x: (N, 784) u8."""
    if s == 0:
        return x
    n = x.shape[0]
    img = Fn.pad(x.view(n, 28, 28), (s, s, s, s))
    dev = x.device
    dy = torch.randint(0, 2 * s + 1, (n,), generator=gen).to(dev)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=gen).to(dev)
    ar = torch.arange(28, device=dev)
    rows = (ar[None, :] + dy[:, None])[:, :, None]
    cols = (ar[None, :] + dx[:, None])[:, None, :]
    return img[torch.arange(n, device=dev)[:, None, None], rows, cols].reshape(n, 784)


@torch.no_grad()
def evaluate(model, x, y, batch=2500):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    model.train()
    return correct / len(x)


def run_phase(model, name, epochs, lr, xtr, ytr, xte, yte, args, gen, t0, val=None, teacher=None):
    if epochs <= 0:
        return
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(xtr) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    for ep in range(epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        tot_loss, tot_ok, seen = 0.0, 0, 0
        for i in range(0, len(xtr), args.batch):
            idx = perm[i : i + args.batch].to(xtr.device)
            xb, yb = shift_batch(xtr[idx], args.aug_shift, gen), ytr[idx]
            if args.aug_flip:
                xb = flip_batch(xb, gen)
            out = model(xb)
            loss = Fn.cross_entropy(out, yb, label_smoothing=args.label_smoothing)
            if teacher is not None:
                with torch.no_grad():
                    soft = Fn.softmax(teacher(xb) / args.kd_temp, dim=1)
                kd = Fn.kl_div(Fn.log_softmax(out / args.kd_temp, dim=1), soft, reduction="batchmean")
                loss = (1 - args.kd_alpha) * loss + args.kd_alpha * args.kd_temp**2 * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                for st in model.stages:  # keep the leak inside (-1, 1), away from 0
                    st.leak.lam.clamp_(-1.0, 1.0)
            tot_loss += float(loss.detach()) * len(idx)
            tot_ok += int((out.argmax(1) == yb).sum())
            seen += len(idx)
        # with a validation split the test set stays unseen until the recipe is chosen
        ev = f"val {100 * evaluate(model, *val):.2f}%" if val is not None else f"test {100 * evaluate(model, xte, yte):.2f}%"
        print(
            f"[{name}] epoch {ep + 1}/{epochs} loss {tot_loss / seen:.4f} train {100 * tot_ok / seen:.2f}% "
            f"{ev} ({time.time() - t0:.0f}s)",
            flush=True,
        )


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        # cuBLAS is deterministic only with a fixed workspace
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    cfg = make_cfg(args)
    fig, bad = capacity(cfg)
    print(f"config {json.dumps(cfg)}")
    print(f"capacity {json.dumps(fig)}")
    if bad and not args.no_fit_check:
        raise SystemExit("error: model does not fit the Cu build: " + "; ".join(bad))

    xtr, ytr = data.load("train")
    xte, yte = data.load("t10k")
    if args.limit_train:
        xtr, ytr = xtr[: args.limit_train], ytr[: args.limit_train]
    if not 0 <= args.val < len(xtr):
        raise SystemExit(f"error: --val {args.val} must be in 0..{len(xtr) - 1}")
    dev = torch.device(args.device)
    xtr, ytr = torch.from_numpy(xtr.copy()).to(dev), torch.from_numpy(ytr.astype(np.int64)).to(dev)
    xte, yte = torch.from_numpy(xte.copy()).to(dev), torch.from_numpy(yte.astype(np.int64)).to(dev)
    val = None
    if args.val:
        val = (xtr[-args.val :], ytr[-args.val :])
        xtr, ytr = xtr[: -args.val], ytr[: -args.val]

    teacher = None
    if args.teacher:
        tck = torch.load(args.teacher, map_location="cpu", weights_only=False)
        teacher = RevSpikeNet(tck["cfg"]).to(dev)
        teacher.load_state_dict(tck["float_state"])
        teacher.eval()
        print(f"teacher {args.teacher}: {json.dumps(tck['cfg'])}")

    gen = torch.Generator().manual_seed(args.seed)
    model = RevSpikeNet(cfg).to(dev)
    if args.init:
        ick = torch.load(args.init, map_location="cpu", weights_only=False)
        # No parameter depends on T (every timestep shares them): a model trained at
        # one T is a start for another; load_state_dict still checks every shape.
        if {**ick["cfg"], "T": cfg["T"]} != cfg:
            raise SystemExit(f"error: --init {args.init}: its config {json.dumps(ick['cfg'])} differs")
        model.load_state_dict(ick["float_state"])
        print(f"init from {args.init} (float parameters)")
    else:
        model.data_init(xtr[torch.randperm(len(xtr), generator=gen)[:2000].to(dev)])
    t0 = time.time()
    run_phase(model, "float", args.epochs, args.lr, xtr, ytr, xte, yte, args, gen, t0, val, teacher)
    # with --val the test set is not looked at (export.py measures it on the file)
    test = val is None
    float_acc = evaluate(model, xte, yte) if test else None
    float_val = evaluate(model, *val) if val is not None else None
    float_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    t_float = time.time() - t0
    fl = f"test {100 * float_acc:.2f}%" if test else f"validation {100 * float_val:.2f}%"
    print(f"float {fl} after {t_float:.0f}s", flush=True)

    model.to_integer()
    int0 = evaluate(model, xte, yte) if test else evaluate(model, *val)
    print(f"integer {'test' if test else 'validation'} accuracy before fine-tuning {100 * int0:.2f}%", flush=True)
    run_phase(model, "int", args.qat_epochs, args.qat_lr, xtr, ytr, xte, yte, args, gen, t0, val)
    int_acc = evaluate(model, xte, yte) if test else None
    int_val = evaluate(model, *val) if val is not None else None
    if val is not None:
        print(f"validation ({args.val} held-out training images): float {100 * float_val:.2f}% integer {100 * int_val:.2f}%")
    total = time.time() - t0
    if test:
        print(f"integer test accuracy {100 * int_acc:.2f}% (torch, integer-exact); training took {total:.0f}s")
    else:
        print(f"training took {total:.0f}s")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(
        {
            "cfg": cfg,
            "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "float_state": float_state,
            "float_acc": float_acc,
            "int_acc_before_qat": int0,
            "int_acc_torch": int_acc,
            "float_val_acc": float_val,
            "int_val_acc": int_val,
            "train_seconds": total,
            "float_seconds": t_float,
            "argv": sys.argv[1:] if argv is None else list(argv),
            "args": vars(args),
        },
        args.out,
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
