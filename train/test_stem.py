"""Tests of intref.py's version 2 (convolutional stem) and of rewind; numpy only, except
the last class, which checks the PyTorch integer mode against intref (skipped without torch).

    /usr/bin/python3 -m unittest discover -s train -p 'test_*.py'
"""

import copy
import json
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import intref  # noqa: E402

try:
    import torch
    from export import model_json
    from model import RevSpikeNet, capacity
except ImportError:
    torch = None


def rand_layer(rng, n, m, bias=2000, mult=(-8, 9), shift=(0, 4)):
    return {
        "in": n,
        "out": m,
        "weights": [intref.encode_row(rng.integers(0, 2, n) * 2 - 1) for _ in range(m)],
        "multiplier": rng.integers(*mult, m).tolist(),
        "bias": rng.integers(-bias, bias + 1, m).tolist(),
        "shift": int(rng.integers(*shift)),
    }


def rand_spike(rng, c):
    return {"threshold": rng.integers(-50, 200, c).tolist(), "shift": int(rng.integers(0, 4))}


def rand_conv(rng, ci, co, k, s, p):
    d = rand_layer(rng, k * k * ci, co)
    return {"kind": "conv", "in_channels": ci, "out_channels": co, "kernel": k, "stride": s, "padding": p,
            "weights": d["weights"], "multiplier": d["multiplier"], "bias": d["bias"], "shift": d["shift"],
            "spike": rand_spike(rng, co)}


def rand_model(rng, grouping="repeat", T=3, shape=(9, 7, 2), stem=((4, 3, 2, 1), (3, 1, 1, 0)), widths=(6, 5),
               blocks=(1, 0), big_bias=False):
    """A random version 2 model; stem entries are (out, kernel, stride, padding)."""
    h, w, c = shape
    convs = []
    for co, k, s, p in stem:
        convs.append(rand_conv(rng, c, co, k, s, p))
        h, w, c = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, co
    n0 = h * w * c
    stages = []
    for l, wd in enumerate(widths):
        st = {
            "width": wd,
            "down": rand_layer(rng, n0 if l == 0 else widths[l - 1], wd, bias=60000 if big_bias else 2000),
            "blocks": [{"spike": rand_spike(rng, wd), "layer": rand_layer(rng, wd, wd)} for _ in range(blocks[l])],
            "decay": {"sign": (rng.integers(0, 2, wd) * 2 - 1).tolist(), "shift": rng.integers(0, 16, wd).tolist()},
            "out_spike": rand_spike(rng, wd),
        }
        if l < len(widths) - 1:
            st["up"] = rand_layer(rng, widths[l + 1], wd)
        stages.append(st)
    return {
        "format": "revspike-model",
        "version": 2,
        "name": "rand",
        "timesteps": T,
        "input": {"group_len": shape[0] * shape[1] * shape[2], "grouping": grouping, "shape": list(shape)},
        "stem": convs,
        "classes": 4,
        "readout": "sum",
        "stages": stages,
        "head": rand_layer(rng, widths[-1], 4),
    }


def naive_conv(sl, a):
    """The spec's formula, one output value at a time (a: (H, W, Ci) of one sample)."""
    h, w, ci = a.shape
    k, s, p = sl["k"], sl["s"], sl["p"]
    h2, w2 = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((h2, w2, sl["co"]), dtype=np.int64)
    for y in range(h2):
        for x in range(w2):
            for o in range(sl["co"]):
                acc = 0
                for ky in range(k):
                    for kx in range(k):
                        yy, xx = y * s + ky - p, x * s + kx - p
                        if 0 <= yy < h and 0 <= xx < w:
                            for c in range(ci):
                                acc += int(sl["W"][o][(ky * k + kx) * ci + c]) * int(a[yy, xx, c])
                u = min(max((acc * int(sl["M"][o]) + int(sl["B"][o])) >> sl["R"], -32768), 32767)
                th, ks = int(sl["spike"]["theta"][o]), sl["spike"]["k"]
                out[y, x, o] = min(max(u >> ks, 0), 255) if u > th else 0
    return out


class Conv(unittest.TestCase):
    def test_by_hand(self):
        # 3x3 map, one channel, 3x3 kernel of all +1 but the centre (-1), padding 1, stride 2:
        # outputs at (0,0), (0,2), (2,0), (2,2); e.g. (0,0) sums a[0..2][0..2] minus 2*a[0][0]
        a = np.arange(1, 10).reshape(1, 3, 3, 1)
        w = [1, 1, 1, 1, -1, 1, 1, 1, 1]
        sl = {"k": 3, "s": 2, "p": 1, "co": 1, "W": np.array([w]), "M": np.array([1]), "B": np.array([0]),
              "R": 0, "spike": {"theta": np.array([-1]), "k": 0}}
        out = intref.conv_fwd(sl, a)
        # (0,0): window a[-1..1][-1..1] -> 1+2+4+5 - 2*1 = 10; (0,1) -> 2+3+5+6 - 2*3 = 10;
        # (1,0): 4+5+7+8 - 2*7 = 10; (1,1): 5+6+8+9 - 2*9 = 10
        self.assertEqual(out.reshape(-1).tolist(), [10, 10, 10, 10])
        # a multiplier, a negative bias (floor shift) and a threshold that silences two outputs
        sl2 = dict(sl, W=np.array([[1] * 9]), M=np.array([-3]), B=np.array([1]), R=2,
                   spike={"theta": np.array([-40]), "k": 0})
        out = intref.conv_fwd(sl2, a)
        # sums 12, 16, 24, 28 -> (-36+1)>>2 = -9, (-48+1)>>2 = -12, -71>>2 = -18, -83>>2 = -21; clamp to 0
        self.assertEqual(out.reshape(-1).tolist(), [0, 0, 0, 0])
        sl2["spike"] = {"theta": np.array([-100]), "k": 0}
        sl2["B"] = np.array([200])
        out = intref.conv_fwd(sl2, a)  # (200-36)>>2 = 41, 152>>2 = 38, 128>>2 = 32, 116>>2 = 29
        self.assertEqual(out.reshape(-1).tolist(), [41, 38, 32, 29])

    def test_matches_the_formula(self):
        rng = np.random.default_rng(5)
        for k in (1, 3, 5):
            for s in (1, 2, 3, 4):
                for p in range(k // 2 + 1):
                    h, w, ci = int(rng.integers(k, 9)), int(rng.integers(k, 9)), int(rng.integers(1, 4))
                    d = rand_conv(rng, ci, 3, k, s, p)
                    sl = intref._conv(d, "stem[0]", (ci, "x"))
                    a = rng.integers(0, 256, (2, h, w, ci))
                    got = intref.conv_fwd(sl, a)
                    for n in range(2):
                        self.assertEqual(got[n].tolist(), naive_conv(sl, a[n]).tolist(), (k, s, p, h, w))

    def test_flatten_order_is_y_x_c(self):
        # a 1x1 identity-like stem layer keeps the map: stage 0 reads (y, x, c) order
        rng = np.random.default_rng(1)
        doc = rand_model(rng, shape=(2, 3, 2), stem=((2, 1, 1, 0),), widths=(4,), blocks=(0,))
        conv = doc["stem"][0]
        conv["weights"] = ["01", "02"]  # out 0 = +a[c0] - a[c1], out 1 = -a[c0] + a[c1]
        conv.update(multiplier=[1, 1], bias=[0, 0], shift=0, spike={"threshold": [-1, -1], "shift": 0})
        m = intref.parse_model(doc)
        g = np.array([[9, 1, 2, 5, 7, 7, 0, 3, 4, 0, 6, 6]])
        out = intref.stem_fwd(m, g)
        self.assertEqual(out.tolist(), [[8, 0, 0, 3, 0, 0, 0, 3, 4, 0, 0, 0]])


class Rewind(unittest.TestCase):
    def check(self, doc, x):
        m = intref.parse_model(json.loads(json.dumps(doc)))
        r = intref.forward(m, x, trace=True)
        rw = intref.rewind(m, x, r["c"][-1], r["buffer"])
        T = m["T"]
        self.assertEqual(len(rw), T)
        for k in range(1, T):
            for l in range(len(m["stages"])):
                self.assertTrue((rw[k - 1][l] == r["c"][T - 1 - k][l]).all(), (k, l))
        for l in range(len(m["stages"])):
            self.assertFalse(rw[T - 1][l].any())
        return r

    def test_returns_to_trajectory_and_zero(self):
        rng = np.random.default_rng(2)
        for grouping in ("repeat", "split"):
            for T in (1, 2, 5):
                doc = rand_model(rng, grouping=grouping, T=T, widths=(6, 5, 3), blocks=(1, 0, 2))
                G = doc["input"]["group_len"]
                x = rng.integers(0, 256, (4, G if grouping == "repeat" else T * G))
                self.check(doc, x)

    def test_exact_through_wraps(self):
        rng = np.random.default_rng(3)
        doc = rand_model(rng, T=6, widths=(8,), blocks=(0,), big_bias=True)
        doc["stages"][0]["decay"] = {"sign": [1, -1] * 4, "shift": [0, 0, 1, 1, 2, 3, 0, 15]}
        x = rng.integers(0, 256, (8, doc["input"]["group_len"]))
        r = self.check(doc, x)
        self.assertGreater(r["wraps"], 0)

    def test_a_wrong_buffer_breaks_it(self):
        # the check above can fail: one flipped low bit must move the rewound state
        rng = np.random.default_rng(4)
        doc = rand_model(rng, T=3, widths=(6,), blocks=(0,))
        doc["stages"][0]["decay"]["shift"] = [3] * 6
        m = intref.parse_model(doc)
        x = rng.integers(0, 256, (1, doc["input"]["group_len"]))
        r = intref.forward(m, x, trace=True)
        buf = copy.deepcopy(r["buffer"])
        buf[1][0][0, 0] ^= 1
        rw = intref.rewind(m, x, r["c"][-1], buf)
        self.assertFalse((rw[0][0] == r["c"][1][0]).all())

    def test_repeat_equals_split_of_the_same_frame(self):
        rng = np.random.default_rng(6)
        doc = rand_model(rng, grouping="repeat", T=3)
        x = rng.integers(0, 256, (3, doc["input"]["group_len"]))
        a = intref.forward(intref.parse_model(doc), x)
        doc["input"]["grouping"] = "split"
        b = intref.forward(intref.parse_model(doc), np.tile(x, 3))
        self.assertEqual(a["logits"].tolist(), b["logits"].tolist())

    def test_infer_one_shape(self):
        rng = np.random.default_rng(7)
        doc = rand_model(rng, T=4, widths=(6, 5), blocks=(1, 1))
        out = intref.infer_one(intref.parse_model(doc), rng.integers(0, 256, doc["input"]["group_len"]))
        self.assertEqual(len(out["states"]), 4)
        self.assertEqual([len(s) for s in out["states"][0]], [6, 5])
        self.assertEqual(out["rewound"][:3], out["states"][2::-1])
        self.assertEqual(out["rewound"][3], [[0] * 6, [0] * 5])


class Loader(unittest.TestCase):
    def base(self):
        return rand_model(np.random.default_rng(0))

    def expect(self, doc, needle):
        with self.assertRaises(intref.ModelError) as cm:
            intref.parse_model(doc)
        self.assertIn(needle, str(cm.exception))

    def test_accepts_the_base_and_v1(self):
        m = intref.parse_model(self.base())
        self.assertEqual(len(m["stem"]), 2)
        self.assertEqual(m["stages"][0]["down"]["W"].shape[1], 5 * 4 * 3)  # 9x7 -> 5x4x4 -> 5x4x3
        d = self.base()
        d["stem"] = []
        del d["input"]["shape"]
        d["stages"][0]["down"] = rand_layer(np.random.default_rng(1), 126, 6)
        self.assertEqual(intref.parse_model(d)["stem"], [])

    def test_rejections(self):
        cases = []

        def case(edit, needle):
            d = self.base()
            edit(d)
            cases.append((d, needle))

        case(lambda d: d["stem"][1].update(in_channels=8), "stem[1].in_channels: expected 4 (stem[0].out_channels), found 8")
        case(lambda d: d["stem"][0].update(in_channels=1), "stem[0].in_channels: expected 2 (input.shape[2]), found 1")
        case(lambda d: d.update(version=1), "stem: unknown field")
        case(lambda d: d["input"].pop("shape"), "input.shape: required")
        case(lambda d: d["input"].update(shape=[9, 7, 3]), "input.shape: H*W*C = 189 differs from group_len 126")
        case(lambda d: d["input"].update(shape=[9, 7]), "input.shape: expected [H, W, C]")
        case(lambda d: d["input"].update(shape=[0, 7, 2]), "input.shape[0]: 0 outside 1..=256")
        case(lambda d: d["stem"][0].update(kernel=2), "stem[0].kernel: expected 1, 3 or 5")
        case(lambda d: d["stem"][0].update(kernel=3.0), "stem[0].kernel: expected 1, 3 or 5")
        case(lambda d: d.update(version=2.0), "version: unsupported version 2.0")
        case(lambda d: d.update(version=3), "version: unsupported version 3")
        case(lambda d: d["stem"][1]["spike"].update(shift=16), "stem[1].spike.shift: 16 outside 0..=15")
        case(lambda d: d["stem"][1].update(shift=32), "stem[1].shift: 32 outside 0..=31")
        case(lambda d: d["stem"][1]["bias"].__setitem__(2, 1 << 25), "stem[1].bias[2]")
        case(lambda d: d.update(stem=None), "stem: expected a list")
        case(lambda d: d["stem"][0].update(stride=5), "stem[0].stride: 5 outside 1..=4")
        case(lambda d: d["stem"][0].update(padding=2), "stem[0].padding: 2 outside 0..=1")
        case(lambda d: d["stem"][0].update(kind="pool"), "stem[0].kind: expected \"conv\"")
        case(lambda d: d["stem"][0].update(extra=1), "stem[0].extra: unknown field")
        case(lambda d: d["stem"][0].pop("spike"), "stem[0].spike: missing field")
        case(lambda d: d["stem"][0]["multiplier"].pop(), "stem[0].multiplier: expected 4 entries, found 3")
        case(lambda d: d["stem"][0]["spike"]["threshold"].append(0), "stem[0].spike.threshold: expected 4 entries")
        case(lambda d: d["stem"][0]["weights"].__setitem__(0, "ffffff"), "stem[0].weights[0]: non-zero padding")
        case(lambda d: d.update(stem=[d["stem"][0]] * 5), "stem: expected a list of 0..=4 layers")
        case(lambda d: d["stages"][0]["down"].update(**{"in": 61}), "stages[0].down.in: expected 60, found 61")
        case(lambda d: d.update(stem=[]), "input.shape: given without a stem")

        def empty(d):  # a 5x5 kernel without padding on a 4-wide map
            d["stem"][1] = rand_conv(np.random.default_rng(0), 4, 3, 5, 1, 0)
        case(empty, "stem[1]: output map 1 x 0 is empty")

        def too_wide(d):  # 5*5*41 = 1025 bits per row
            d["stem"][1] = rand_conv(np.random.default_rng(0), 41, 3, 5, 1, 2)
            d["stem"][0] = rand_conv(np.random.default_rng(0), 2, 41, 3, 2, 1)
        case(too_wide, "stem[1].weights: a row of kernel*kernel*in_channels = 1025 bits exceeds 1024")

        def big_group_no_stem(d):
            d.pop("stem")
            d["input"] = {"group_len": 1025, "grouping": "repeat"}
        case(big_group_no_stem, "input.group_len: 1025 outside 1..=1024")

        def big_stage0(d):  # 64x64x1 through a 1x1 conv: 4096 > 1024 stage-0 inputs
            d["input"] = {"group_len": 4096, "grouping": "repeat", "shape": [64, 64, 1]}
            d["stem"] = [rand_conv(np.random.default_rng(0), 1, 1, 1, 1, 0)]
        case(big_stage0, "stem[0]: output of 4096 values exceeds stage 0's 1024 inputs")
        case(lambda d: d["input"].update(group_len=4097), "input.group_len: 4097 outside 1..=4096")

        for d, needle in cases:
            with self.subTest(needle=needle):
                self.expect(d, needle)
        self.assertGreaterEqual(len(cases), 20)

    def test_group_len_4096_with_a_stem(self):
        d = self.base()
        d["input"] = {"group_len": 4096, "grouping": "repeat", "shape": [64, 64, 1]}
        d["stem"] = [rand_conv(np.random.default_rng(0), 1, 1, 3, 4, 1)]  # 16 x 16 x 1
        d["stages"][0]["down"] = rand_layer(np.random.default_rng(0), 256, 6)
        self.assertEqual(intref.parse_model(d)["G"], 4096)


@unittest.skipIf(torch is None, "needs torch (train/.venv)")
class TorchStem(unittest.TestCase):
    def test_torch_integer_mode_equals_intref(self):
        torch.manual_seed(0)
        for grouping, T, G, shape in (("repeat", 2, 784, [28, 28, 1]), ("split", 4, 196, [7, 28, 1])):
            cfg = {"name": "t", "T": T, "G": G, "grouping": grouping, "widths": [16, 8], "blocks": [1, 1],
                   "readout": "sum", "classes": 10, "shape": shape,
                   "stem": [{"out": 4, "k": 3, "s": 2, "p": 1}, {"out": 6, "k": 5, "s": 1, "p": 2},
                            {"out": 5, "k": 1, "s": 3, "p": 0}]}
            net = RevSpikeNet(cfg)
            x = torch.randint(0, 256, (48, 784), dtype=torch.uint8)
            net.data_init(x)
            with torch.no_grad():
                for st in net.stages:
                    st.leak.lam.copy_(torch.linspace(-1, 1, st.width))
                for sp in net.stem_spikes:
                    sp.theta.uniform_(-0.5, 0.5)
            net.to_integer()
            doc = json.loads(json.dumps(model_json(net)))
            self.assertEqual(doc["version"], 2)
            m = intref.parse_model(doc)
            with torch.no_grad():
                tl = (net(x) * 256).round().to(torch.int64).numpy()
            r = intref.forward(m, x.numpy())
            self.assertTrue((tl == r["logits"]).all(), grouping)
            self.assertGreater(np.abs(r["logits"]).sum(), 0)

    def test_capacity_budget(self):
        cfg = {"name": "t", "T": 2, "G": 784, "grouping": "repeat", "widths": [64], "blocks": [2],
               "readout": "sum", "classes": 10, "shape": [28, 28, 1],
               "stem": [{"out": 16, "k": 3, "s": 2, "p": 1}, {"out": 32, "k": 3, "s": 2, "p": 1}]}
        fig, bad = capacity(cfg)
        self.assertEqual(fig["stage0_in"], 7 * 7 * 32)
        self.assertEqual(fig["largest_map_bytes"], 3136)
        self.assertTrue(any("stage 0 input 1568 > 1024" in b for b in bad), bad)
        cfg["stem"][1]["out"] = 16
        fig, bad = capacity(cfg)
        self.assertEqual(fig["weight_bits"], 144 + 2304 + 784 * 64 + 2 * 64 * 64 + 640)
        self.assertTrue(any("weight bits" in b for b in bad), bad)
        cfg["blocks"] = [1]
        self.assertEqual(capacity(cfg)[1], [])


if __name__ == "__main__":
    unittest.main()
