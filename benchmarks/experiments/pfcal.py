"""Scratch: per-feature error variants on saved reconstructions (out/codes_pf, dump_codes.py)."""
import json, sys, os
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score

from _tables import report
from dask_anomaly.preprocessing import TabularPreprocessor

HERE = Path(__file__).parent
P = HERE / "out" / os.environ.get("CODES", "codes_pf")
DATA = Path("/work/shared/data/adbench")


EIG = float(os.environ.get("EIG", "1e-6"))


def code_distance(c, cc, trim=0.05, width=32):
    """Sum over members (blocks of ``width`` code units) of the reweighted Mahalanobis distances."""
    cc = cc.astype(float); c = c.astype(float)
    def stats(x):
        mu = x.mean(0); v, U = np.linalg.eigh(np.cov(x - mu, rowvar=False)); v = np.maximum(v, EIG * v.max())
        return mu, U / np.sqrt(v)
    def dist(x, mu, W):
        z = (x - mu) @ W; return (z * z).sum(1)
    d, dcal = 0.0, 0.0
    for k in range(0, c.shape[1], width):
        b = slice(k, k + width)
        mu, W = stats(cc[:, b]); dc = dist(cc[:, b], mu, W)
        mu, W = stats(cc[dc <= np.quantile(dc, 1 - trim), b])
        d = d + dist(c[:, b], mu, W); dcal = dcal + dist(cc[:, b], mu, W)
    return d, dcal


raw_cache = {}
def unclipped(name, clip):
    if (name, clip) not in raw_cache:
        df = pd.read_parquet(DATA / f"{name}.parquet").drop(columns="label")
        raw_cache[(name, clip)] = TabularPreprocessor(clip=clip).fit(df).transform(df).astype(np.float64)
    return raw_cache[(name, clip)]


rows = []
for f in sorted(P.glob("*.npz")):
    name, seed = f.stem.rsplit("_", 1)
    z = np.load(f); y = z["y"]; n = int(y.sum())
    if "E" not in z:
        continue
    d, dcal = code_distance(z["c"], z["cc"])
    D = d / np.median(dcal)
    E, CE = z["E"].astype(float), z["CE"].astype(float)
    V = {}
    V["t05"] = z["e"] / np.median(z["ce"]) + 0.6 * D
    med = np.median(CE, 0); med = np.maximum(med, 1e-6 * max(med.max(), 1e-12))
    en, cen = (E / med).mean(1), (CE / med).mean(1)
    V["norm"] = en / np.median(cen) + 0.6 * D
    gm = np.median(CE)  # one common scale
    for a in (0.25, 0.5, 0.75):
        sc = med ** a * np.mean(med) ** (1 - a)
        en2, cen2 = (E / sc).mean(1), (CE / sc).mean(1)
        V[f"shrink{a}"] = en2 / np.median(cen2) + 0.6 * D
    for fl in (0.1, 0.3, 0.5, 1.0):
        sc = np.maximum(med, fl * np.mean(med))
        en2, cen2 = (E / sc).mean(1), (CE / sc).mean(1)
        V[f"floor{fl}"] = en2 / np.median(cen2) + 0.6 * D
        if fl == 0.5:
            for w in (0.3, 0.4, 0.5, 0.8, 1.0):
                V[f"floor{fl}_w{w}"] = en2 / np.median(cen2) + w * D
            V["floor0.5_err"] = en2
    mean_ = np.maximum(CE.mean(0), 1e-12)
    en2, cen2 = (E / mean_).mean(1), (CE / mean_).mean(1)
    V["normmean"] = en2 / np.median(cen2) + 0.6 * D
    for clip in ():
        X = unclipped(name, clip)
        eu = ((R - X) ** 2).mean(1)
        V[f"unclip{int(clip)}"] = eu / np.median(eu) + 0.6 * D
        enu = ((R - X) ** 2 / med).mean(1)
        V[f"norm_unclip{int(clip)}"] = enu / np.median(enu) + 0.6 * D
    for v, s in V.items():
        top = np.argsort(-s, kind="stable")[:n]
        rows.append(dict(v=v, dataset=name, seed=int(seed), auc=roc_auc_score(y, s), pn=y[top].mean()))
report(rows, "v")
