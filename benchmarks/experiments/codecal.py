"""Scratch: compare calibrations of the code distance on saved codes (out/codes, dump_codes.py)."""
import json, sys, os
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score

from _tables import report

P = Path(__file__).parent / "out" / os.environ.get("CODES", "codes")


FLOOR = [1e-6]


def whiten(x, width=32):
    """Block-diagonal whitening, one block per ensemble member (codes of ``width`` units)."""
    W = np.zeros((x.shape[1], x.shape[1]))
    for k in range(0, x.shape[1], width):
        b = slice(k, k + width)
        v, U = np.linalg.eigh(np.cov(x[:, b], rowvar=False))
        v = np.maximum(v, FLOOR[0] * v.max())
        W[b, b] = U / np.sqrt(v)
    return W


def dist(c, mu, W):
    z = (c - mu) @ W
    return (z * z).sum(1)


def variant(c, cc, e, ce, trim, steps=1, w=0.6, by="code", comb="sum", floor=1e-6):
    FLOOR[0] = floor
    cc = cc.astype(np.float64); c = c.astype(np.float64)
    keep = np.ones(len(cc), bool)
    for _ in range(steps + 1):
        mu = cc[keep].mean(0); W = whiten(cc[keep] - mu)
        dc = dist(cc, mu, W)
        if not trim:
            break
        key = dc if by == "code" else ce / np.median(ce) + w * dc / np.median(dc)
        if isinstance(trim, str):  # chi-square cutoff at quantile q, scaled by the median
            from scipy.stats import chi2
            q, k = float(trim[3:]), cc.shape[1]
            keep = dc <= np.median(dc) * chi2.ppf(q, k) / chi2.ppf(0.5, k)
        else:
            keep = key <= np.quantile(key, 1 - trim)
    dcal = dc
    d = dist(c, mu, W)
    a, b = e / np.median(ce), d / np.median(dcal)
    if comb == "sqrt":
        return np.sqrt(a) + w * np.sqrt(b)
    if comb == "log":
        return np.log(a + 1e-12) + w * np.log(b + 1e-12)
    if comb == "max":
        return np.maximum(a, w * b)
    if comb.startswith("pow"):
        p = float(comb[3:])
        return a ** p + w * b ** p
    return a + w * b


VARS = {"cur": dict(trim=0)}
for t in (0.01, 0.025, 0.05, 0.1):
    VARS[f"trim{t}"] = dict(trim=t)
    VARS[f"trim{t}_twice"] = dict(trim=t, steps=2)
for fl in (1e-4, 1e-3, 1e-2, 3e-2):
    VARS[f"trim0.05_floor{fl}"] = dict(trim=0.05, floor=fl)
    VARS[f"plain_floor{fl}"] = dict(trim=0, floor=fl)
rows = []
for f in sorted(P.glob("*.npz")):
    name, seed = f.stem.rsplit("_", 1)
    z = np.load(f); y = z["y"]; n = int(y.sum())
    for v, kw in VARS.items():
        s = variant(z["c"], z["cc"], z["e"], z["ce"], **kw)
        top = np.argsort(-s, kind="stable")[:n]
        rows.append(dict(v=v, dataset=name, seed=int(seed), auc=roc_auc_score(y, s), pn=y[top].mean()))
report(rows, "v")
