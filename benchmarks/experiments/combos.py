"""Scratch: compare ways of combining the saved score parts (out/parts, from dump_parts.py)."""
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score

import os
P = Path(__file__).parent / "out" / os.environ.get("PARTS", "parts")
base = pd.DataFrame(json.load(open(Path(__file__).parent / "out" / "baselines.json")))
ae = base[base.method == "pyod-ae"].set_index("dataset").roc_auc
ecod_pn = base[base.method == "ecod"].set_index("dataset").pn

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
df = pd.DataFrame(rows).groupby(["combo", "dataset"])[["auc", "pn"]].mean().reset_index()
nd = df.dataset.nunique()
out = []
for c, g in df.groupby("combo", sort=False):
    g = g.set_index("dataset")
    out.append(dict(combo=c, auc=g.auc.mean(), pn=g.pn.mean(), wins=int((g.auc >= ae[g.index]).sum()), n=nd))
print(pd.DataFrame(out).sort_values("auc", ascending=False).round(4).to_string(index=False))
if len(sys.argv) > 1:
    pd.set_option("display.width", 250)
    for key in ("auc", "pn"):
        t = df[df.combo.isin(sys.argv[1].split(","))].pivot(index="dataset", columns="combo", values=key)
        t["pyod-ae"] = ae if key == "auc" else base[base.method == "pyod-ae"].set_index("dataset").pn
        t["ecod"] = base[base.method == "ecod"].set_index("dataset")["roc_auc" if key == "auc" else "pn"]
        print(t.round(3).to_string()); print(t.mean().round(4).to_string())
