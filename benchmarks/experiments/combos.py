"""Scratch: compare ways of combining the saved score parts (out/parts: CODES=parts dump_codes.py)."""
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score

from _tables import report

import os
P = Path(__file__).parent / "out" / os.environ.get("PARTS", "parts")

def q(v, p): return float(np.quantile(v, p)) if p < 1 else float(np.max(v))

def combos():
    yield "cur", lambda e, d, ce, cd: e / np.median(ce) + 0.6 * d / np.median(cd)
    for p in (0.9, 0.95, 0.99):
        for w in (0.3, 0.6, 1.0):
            yield f"q{p}_w{w}", lambda e, d, ce, cd, p=p, w=w: e / q(ce, p) + w * d / q(cd, p)
        yield f"max_q{p}", lambda e, d, ce, cd, p=p: np.maximum(e / q(ce, p), d / q(cd, p))
    yield "err", lambda e, d, ce, cd: e
    yield "code", lambda e, d, ce, cd: d
    # robust z of the logs, summed
    def lz(v, ref):
        l, r = np.log(v + 1e-300), np.log(ref + 1e-300)
        m = np.median(r); s = np.subtract(*np.percentile(r, [75, 25])) or 1.0
        return (l - m) / s
    yield "logz_sum", lambda e, d, ce, cd: lz(e, ce) + lz(d, cd)
    yield "logz_max", lambda e, d, ce, cd: np.maximum(lz(e, ce), lz(d, cd))

rows = []
for f in sorted(P.glob("*.npz")):
    name, seed = f.stem.rsplit("_", 1)
    z = np.load(f); y = z["y"]; n = int(y.sum())
    for cname, fn in combos():
        s = fn(z["e"], z["d"], z["ce"], z["cd"])
        top = np.argsort(-s, kind="stable")[:n]
        rows.append(dict(combo=cname, dataset=name, seed=int(seed), auc=roc_auc_score(y, s), pn=y[top].mean()))
report(rows, "combo", sort=True)
