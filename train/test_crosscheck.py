"""The golden model (the `revspike` binary) against intref.py on generated models; numpy only.

    /usr/bin/python3 -m unittest train/test_crosscheck.py

Runs REVSPIKE_CROSSCHECK_COUNT models (default 25; `crosscheck.py --count 1000` is the
full run). The binary is $REVSPIKE_BIN, else target/release/revspike; without either the
binary tests skip, unless $REVSPIKE_BIN names a file that is missing (then they fail).
"""

import copy
import contextlib
import io
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crosscheck  # noqa: E402
import intref  # noqa: E402
from test_stem import rand_model  # noqa: E402

BIN = crosscheck.default_bin()
COUNT = int(os.environ.get("REVSPIKE_CROSSCHECK_COUNT", "25"))


def run_main(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = crosscheck.main(args)
    return rc, out.getvalue() + err.getvalue()


class Compare(unittest.TestCase):
    def test_finds_each_kind_of_disagreement(self):
        doc = rand_model(np.random.default_rng(9), T=3, widths=(6, 5), blocks=(1, 0))
        m = intref.parse_model(doc)
        ref = intref.infer_one(m, np.random.default_rng(9).integers(0, 256, doc["input"]["group_len"]))
        self.assertEqual(crosscheck.compare(copy.deepcopy(ref), ref), [])
        self.assertIsNone(crosscheck.self_check(ref))
        for key, edit in (
            ("logits", lambda g: g["logits"].__setitem__(1, g["logits"][1] + 1)),
            ("prediction", lambda g: g.update(prediction=g["prediction"] + 1)),
            ("wraps", lambda g: g.update(wraps=1)),
            ("states[2][1][4]", lambda g: g["states"][2][1].__setitem__(4, g["states"][2][1][4] ^ 1)),
            ("rewound[2][0][0]", lambda g: g["rewound"][2][0].__setitem__(0, 7)),
            ("golden output lacks `rewound`", lambda g: g.pop("rewound")),
        ):
            g = copy.deepcopy(ref)
            edit(g)
            bad = crosscheck.compare(g, ref)
            self.assertEqual(len(bad), 1, key)
            self.assertIn(key, bad[0])
        broken = copy.deepcopy(ref)
        broken["rewound"][0][0][0] += 1
        self.assertIn("intref rewound[0]", crosscheck.self_check(broken))


@unittest.skipUnless(os.path.exists(BIN) or os.environ.get("REVSPIKE_BIN"), f"no revspike binary at {BIN}")
class AgainstGolden(unittest.TestCase):
    def test_version_1_models(self):
        # the golden binary reports `rewound` since version 2 support; require it from then on
        extra = [] if crosscheck.supports_stem(BIN) else ["--no-rewound"]
        rc, out = run_main(["--bin", BIN, "--v1", "--count", str(max(COUNT // 2, 1)), *extra])
        self.assertEqual(rc, 0, out)
        self.assertIn(" 0 failed", out)

    def test_version_2_models(self):
        if not crosscheck.supports_stem(BIN):
            self.skipTest(f"{BIN} predates version 2 (no gen-model --max-stem-layers)")
        rc, out = run_main(["--bin", BIN, "--count", str(COUNT)])
        self.assertEqual(rc, 0, out)
        self.assertIn(" 0 failed", out)
        self.assertNotIn(" 0 with a stem", out)


if __name__ == "__main__":
    unittest.main()
