"""Scratch: compare variants saved by libscores.py (ROC-AUC, precision@n, wins vs PyOD AE).

Usage: python benchmarks/experiments/libcompare.py [variant,...(per-dataset tables)]
"""
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from _tables import report

rows = []
for f in sorted((Path(__file__).parent / "out" / "lib").glob("*/*.npz")):
    z = np.load(f)
    name, seed = f.stem.rsplit("_", 1)
    y, s = z["y"], z["score"]
    n = int(y.sum())
    top = np.argsort(-s, kind="stable")[:n]
    rows.append({"variant": f.parent.name, "dataset": name, "seed": int(seed),
                 "auc": roc_auc_score(y, s), "pn": y[top].mean(), "sec": float(z["seconds"])})
df = report(rows, "variant", sort=True)
