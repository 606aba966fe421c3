"""Unit tests of the integer reference and the exporter's folding (stdlib unittest, no dataset).

    train/.venv/bin/python -m unittest discover -s train -p 'test_*.py'
    /usr/bin/python3 -m unittest discover -s train -p 'test_*.py'   # numpy only: torch tests skip
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
    from model import RevSpikeNet
except ImportError:  # CI runs the numpy-only tests with Debian's python3
    torch = None


def tiny_model():
    """A hand-made 2-stage split model small enough to follow by hand."""

    def layer(n, m, rows, mult, bias, shift):
        return {"in": n, "out": m, "weights": rows, "multiplier": mult, "bias": bias, "shift": shift}

    return {
        "format": "revspike-model",
        "version": 1,
        "name": "tiny",
        "timesteps": 2,
        "input": {"group_len": 3, "grouping": "split"},
        "classes": 2,
        "readout": "sum",
        "stages": [
            {
                "width": 2,
                # row 0: bits 0b011 -> W = [+1, +1, -1]; row 1: 0b100 -> [-1, -1, +1]
                "down": layer(3, 2, ["03", "04"], [3, -1], [5, 0], 1),
                "up": layer(1, 2, ["01", "00"], [1, 1], [0, 0], 0),
                "blocks": [],
                "decay": {"sign": [1, -1], "shift": [1, 0]},
                "out_spike": {"threshold": [0, -5], "shift": 0},
            },
            {
                "width": 1,
                "down": layer(2, 1, ["03"], [1], [0], 0),
                "blocks": [],
                "decay": {"sign": [1], "shift": [15]},
                "out_spike": {"threshold": [2], "shift": 1},
            },
        ],
        "head": layer(1, 2, ["01", "00"], [2, 1], [-1, 0], 0),
    }


class Arithmetic(unittest.TestCase):
    def test_shift_is_floor(self):
        self.assertEqual(int(np.int64(-7) >> 1), -4)
        self.assertEqual(int(np.int64(7) >> 1), 3)

    def test_sat_and_wrap(self):
        x = np.array([-40000, -32768, 32767, 32768, 40000])
        self.assertEqual(intref.sat16(x).tolist(), [-32768, -32768, 32767, 32767, 32767])
        self.assertEqual(intref.wrap16(x).tolist(), [25536, -32768, 32767, -32768, -25536])

    def test_row_encoding_lsb_first(self):
        w = np.array([1, -1, -1, -1, -1, -1, -1, -1, 1, 1])
        self.assertEqual(intref.encode_row(w), "0103")
        self.assertEqual(intref.decode_row("0103", 10, "r").tolist(), w.tolist())

    def test_strict_threshold(self):
        sp = {"theta": np.array([4, 4]), "k": 1}
        self.assertEqual(intref.spike_fwd(sp, np.array([[4, 5]])).tolist(), [[0, 2]])


class Forward(unittest.TestCase):
    def test_tiny_by_hand(self):
        m = intref.parse_model(tiny_model())
        r = intref.forward(m, np.array([[10, 2, 1, 0, 0, 6]]), trace=True)
        # t=0: acc0 = [11, -11]; z = [(33+5)>>1, (11)>>1] = [19, 5]; c = z
        self.assertEqual(r["c"][0][0].tolist(), [[19, 5]])
        # s0 = [19, 5]; stage 1: acc = 24, c = 24, spike 24 > 2 -> 12; head [2*12-1, -12]
        self.assertEqual(r["s"][0][1].tolist(), [[12]])
        self.assertEqual(r["logits_t"][0].tolist(), [[23, -12]])
        # t=1: acc0 = [-6, 6]; z = [(-18+5)>>1, -6>>1] = [-7, -3]; up from s1(0)=12 -> [+12, -12]
        # z = [5, -15]; c = [5 + (19>>1), -15 - 5] = [14, -20]
        self.assertEqual(r["c"][1][0].tolist(), [[14, -20]])
        # s0 = [14, 0] (-20 <= -5); stage 1: acc = 14, c = 14 + (24>>15) = 14 -> spike 7
        self.assertEqual(r["logits_t"][1].tolist(), [[13, -7]])
        self.assertEqual(r["logits"].tolist(), [[36, -19]])
        self.assertEqual(r["wraps"], 0)

    def test_wrap_is_counted(self):
        doc = tiny_model()
        doc["stages"][0]["decay"] = {"sign": [1, 1], "shift": [0, 0]}
        doc["stages"][0]["down"]["bias"] = [60000, 0]
        doc["stages"][0]["down"]["shift"] = 0
        m = intref.parse_model(doc)
        r = intref.forward(m, np.array([[255, 255, 0, 255, 255, 0]]))
        self.assertGreater(r["wraps"], 0)


class Loader(unittest.TestCase):
    def expect(self, doc, needle):
        with self.assertRaises(intref.ModelError) as cm:
            intref.parse_model(doc)
        self.assertIn(needle, str(cm.exception))

    def test_rejections(self):
        d = tiny_model()
        d["stages"][0]["down"]["bias"] = [1]
        self.expect(d, "stages[0].down.bias: expected 2 entries, found 1")
        d = tiny_model()
        d["stages"][0]["down"]["weights"][0] = "0b"  # bit 3 set past in = 3
        self.expect(d, "stages[0].down.weights[0]: non-zero padding")
        d = tiny_model()
        d["extra"] = 1
        self.expect(d, "extra: unknown field")
        d = tiny_model()
        d["stages"][0]["decay"]["shift"][0] = 16
        self.expect(d, "stages[0].decay.shift[0]: 16 outside 0..=15")
        d = tiny_model()
        d["stages"][1]["up"] = copy.deepcopy(d["stages"][0]["up"])
        self.expect(d, "stages[1].up")
        d = tiny_model()
        d["head"]["multiplier"][0] = 128
        self.expect(d, "head.multiplier[0]")


@unittest.skipIf(torch is None, "needs torch (train/.venv)")
class ExportAgreement(unittest.TestCase):
    def test_torch_integer_mode_equals_intref(self):
        torch.manual_seed(0)
        cfg = {"name": "t", "T": 4, "G": 196, "grouping": "split", "widths": [16, 8], "blocks": [1, 1],
               "readout": "sum", "classes": 10}
        net = RevSpikeNet(cfg)
        x = torch.randint(0, 256, (64, 784), dtype=torch.uint8)
        net.data_init(x)
        with torch.no_grad():
            for st in net.stages:  # exercise negative leaks, h = 0 and non-zero thresholds
                st.leak.lam.copy_(torch.linspace(-1, 1, st.width))
                st.out_spike.theta.uniform_(-0.5, 0.5)
        net.to_integer()
        doc = json.loads(json.dumps(model_json(net)))
        m = intref.parse_model(doc)
        with torch.no_grad():
            tl = (net(x) * 256).round().to(torch.int64).numpy()
        self.assertTrue((tl == intref.forward(m, x.numpy())["logits"]).all())


if __name__ == "__main__":
    unittest.main()
