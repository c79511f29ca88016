"""Scratch exploration of detector variants on numpy (not the library path).

Usage: python benchmarks/experiments/explore.py NAME '{"json": "config"}' [--seeds 1]
Appends mean metrics to benchmarks/experiments/out/explore.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from dask_anomaly.preprocessing import TabularPreprocessor

DATA = Path("/work/shared/data/adbench")
OUT = Path(__file__).parent / "out"


TARGET: list = [None]


def arch(d: int, cfg: dict) -> tuple[list[int], int]:
    mode = cfg.get("arch", "lib")
    if mode == "lib":
        first = min(256, max(16, 2 * d))
        b = min(32, max(2, -(-d // 4)))
        b = max(1, min(b, d - 1)) if d > 1 else 1
        return [first, max(first // 2, b)], b
    if mode == "pyod":
        return [64, 32], 32
    if mode == "wide":
        first = min(256, max(32, 2 * d))
        return [first, max(first // 2, d)], max(2, min(64, d))
    if mode == "half":
        b = max(2, min(32, d // 2))
        first = min(128, max(16, 2 * d))
        return [first, max(first // 2, b)], b
    if mode == "small":
        first = min(64, max(8, d))
        b = max(1, min(16, -(-d // 3)))
        return [first], b
    raise ValueError(mode)


def net(d: int, hidden: list[int], b: int, cfg: dict, gen: torch.Generator) -> nn.Module:
    widths = [d, *hidden, b, *reversed(hidden), d]
    layers: list[nn.Module] = []
    n = len(widths) - 1
    for i in range(n):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < n - 1 and i != len(hidden):
            if cfg.get("bn"):
                layers.append(nn.BatchNorm1d(widths[i + 1]))
            layers.append(nn.LeakyReLU(0.01))
            if cfg.get("dropout", 0):
                layers.append(nn.Dropout(cfg["dropout"]))
        elif i < n - 1 and cfg.get("act_code", False):
            layers.append(nn.LeakyReLU(0.01))
    m = nn.Sequential(*layers)
    for mod in m.modules():
        if isinstance(mod, nn.Linear):
            nn.init.xavier_uniform_(mod.weight, generator=gen)
            nn.init.zeros_(mod.bias)
    return m


def errors(m: nn.Module, X: torch.Tensor) -> torch.Tensor:
    m.eval()
    with torch.no_grad():
        e = (m(X) - X).square()
    m.train()
    return e


def preprocess(pdf: pd.DataFrame, cfg: dict) -> np.ndarray:
    X = TabularPreprocessor(clip=cfg.get("clip", 10.0)).fit(pdf).transform(pdf)
    scale = cfg.get("scale", "std")
    if scale == "robust":  # median/IQR on the standardised values
        med = np.median(X, axis=0)
        q75, q25 = np.percentile(X, [75, 25], axis=0)
        iqr = q75 - q25
        iqr = np.where(iqr > 1e-3, iqr / 1.349, 1.0)
        X = np.clip((X - med) / iqr, -cfg.get("clip", 10.0), cfg.get("clip", 10.0))
    elif scale == "quantile":
        from sklearn.preprocessing import QuantileTransformer

        X = QuantileTransformer(output_distribution="normal", n_quantiles=1000).fit_transform(X)
    elif scale == "minmax":
        lo, hi = X.min(0), X.max(0)
        X = (X - lo) / np.where(hi > lo, hi - lo, 1)
    return X.astype(np.float32)


def fit_score(X: np.ndarray, seed: int, cfg: dict) -> np.ndarray:
    d = X.shape[1]
    g = torch.Generator().manual_seed(seed)
    hidden, b = arch(d, cfg)
    if "width_mult" in cfg:
        hidden = [max(4, int(h * cfg["width_mult"])) for h in hidden]
    m = net(d, hidden, b, cfg, g)
    T = torch.from_numpy(X)
    n = len(T)
    opt = torch.optim.Adam(m.parameters(), lr=cfg.get("lr", 1e-3), weight_decay=cfg.get("wd", 0.0))
    epochs = cfg.get("epochs", 20)
    bs = cfg.get("bs", 256)
    if cfg.get("bs_auto"):
        bs = int(min(bs, max(cfg.get("bs_min", 32), n // cfg["bs_auto"])))
    min_steps = cfg.get("min_steps", 0)
    steps_per_epoch = -(-n // bs)
    if min_steps and epochs * steps_per_epoch < min_steps:
        epochs = -(-min_steps // steps_per_epoch)
    max_steps = cfg.get("max_steps", 0)
    if max_steps and epochs * steps_per_epoch > max_steps:
        epochs = max(1, max_steps // steps_per_epoch)
    trim = cfg.get("trim", 0.0)
    trim_start = cfg.get("trim_start", 0.5)
    active = torch.arange(n)
    weights = None
    m.train()
    for ep in range(epochs):
        if trim and ep >= int(trim_start * epochs) and (ep == int(trim_start * epochs) or cfg.get("retrim", True)):
            e = errors(m, T)
            if cfg.get("trim_norm", False):
                e = e / e.median(dim=0).values.clamp_min(1e-6)
            r = e.mean(1)
            k = int(round(n * (1 - trim)))
            active = torch.argsort(r)[:k]
        perm = active[torch.randperm(len(active), generator=g)]
        for s in range(0, len(perm), bs):
            xb = T[perm[s : s + bs]]
            if cfg.get("noise", 0):
                xin = xb + cfg["noise"] * torch.randn(xb.shape, generator=g)
            else:
                xin = xb
            opt.zero_grad()
            loss = (m(xin) - xb).square()
            loss = loss.mean()
            loss.backward()
            opt.step()
    if cfg.get("libscore"):
        return lib_score(m, T, hidden, cfg, g)
    e = errors(m, T).double()
    if TARGET[0] is not None:
        m.eval()
        with torch.no_grad():
            e = (m(T).double() - torch.from_numpy(TARGET[0]).double()).square()
        m.train()
    extra = None
    if cfg.get("latent", 0):
        m.eval()
        with torch.no_grad():
            nb = len(hidden) * (2 + bool(cfg.get("dropout", 0)) + bool(cfg.get("bn"))) + 1
            enc = m[:nb]
            Z = enc(T).double()
        Zt = Z[active]
        mu = Zt.mean(0)
        C = torch.cov((Zt - mu).T) if Z.shape[1] > 1 else Zt.var().reshape(1, 1)
        D = Z - mu
        if "eig_floor" in cfg:  # eigenvalues floored (or components dropped) at a share of the top
            w, V = torch.linalg.eigh(C.reshape(Z.shape[1], Z.shape[1]))
            f = cfg["eig_floor"] * w.max()
            if cfg.get("eig_drop"):
                keep = w >= f
                W = (D @ V[:, keep]) / w[keep].sqrt()
            else:
                W = (D @ V) / w.clamp_min(f).sqrt()
            maha = W.square().sum(1)
        else:
            C = C + 1e-6 * torch.eye(C.shape[0], dtype=C.dtype) * C.diagonal().mean()
            maha = (D @ torch.linalg.inv(C) * D).sum(1)
        extra = maha / Z.shape[1]
    if cfg.get("tail"):
        return tail_score(m, T, e, active, hidden, cfg)
    norm = cfg.get("norm", "none")
    if norm != "none":
        ref = e[active] if cfg.get("norm_on_active", True) else e
        if norm == "median":
            s = ref.median(0).values
        elif norm == "mean":
            s = ref.mean(0)
        elif norm == "q90":
            s = torch.quantile(ref, 0.9, dim=0)
        s = s.clamp_min(1e-6 * s.max().clamp_min(1e-12))
        e = e / s
        if cfg.get("norm_log", False):
            e = torch.log1p(e)
    r = e.mean(1)
    if extra is not None:
        ref_r = r[active]
        r = r / ref_r.median() + cfg["latent"] * extra / extra[active].median()
    return r.numpy()


def lib_score(m, T, hidden, cfg, g):
    """The library's score: per-feature errors / floored medians + 0.6 x reweighted code distance,
    both calibrated on (up to) 20,000 random rows."""
    E = errors(m, T).double().numpy()
    m.eval()
    with torch.no_grad():
        nb = len(hidden) * (2 + bool(cfg.get("dropout", 0)) + bool(cfg.get("bn"))) + 1
        Z = m[:nb](T).double().numpy()
    m.train()
    n = len(T)
    ref = torch.randperm(n, generator=g)[:20000].numpy() if n > 20000 else np.arange(n)
    med = np.median(E[ref], 0)
    scale = np.maximum(med, 0.5 * med.mean()) if med.mean() > 0 else np.ones_like(med)
    e = (E / scale).mean(1)

    def stats(x):
        mu = x.mean(0)
        v, U = np.linalg.eigh(np.cov(x - mu, rowvar=False).reshape(x.shape[1], x.shape[1]))
        return mu, U / np.sqrt(np.maximum(v, 1e-6 * v.max()))

    def dist(x, mu, W):
        q = (x - mu) @ W
        return (q * q).sum(1)

    mu, W = stats(Z[ref])
    dr = dist(Z[ref], mu, W)
    mu, W = stats(Z[ref][dr <= np.quantile(dr, 0.95)])
    d = dist(Z, mu, W)
    return e / np.median(e[ref]) + cfg.get("latent", 0.6) * d / np.median(d[ref])


def _tails(ref: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """-log of the share of reference values at least as large (per column), ECDF with +1."""
    n = len(ref)
    out = np.empty_like(vals)
    for j in range(vals.shape[1]):
        srt = np.sort(ref[:, j])
        ge = n - np.searchsorted(srt, vals[:, j], side="left")
        out[:, j] = -np.log((ge + 1) / (n + 1))
    return out


def tail_score(m, T, e, active, hidden, cfg):
    E = e.numpy()
    ref = E[active.numpy()]
    mode = cfg["tail"]
    if mode == "ecdf":
        parts = _tails(ref, E)
        r = parts.sum(1) if cfg.get("agg", "sum") == "sum" else parts.max(1)
    elif mode == "norm":
        s = np.median(ref, 0)
        s = np.maximum(s, 1e-6 * max(s.max(), 1e-12))
        r = (E / s).mean(1)
    r = r / np.median(r[active.numpy()])
    if cfg.get("latent", 0):
        m.eval()
        with torch.no_grad():
            nb = len(hidden) * (2 + bool(cfg.get("dropout", 0)) + bool(cfg.get("bn"))) + 1
            Z = m[:nb](T).double().numpy()
        Zt = Z[active.numpy()]
        mu = Zt.mean(0)
        C = np.cov((Zt - mu).T).reshape(Z.shape[1], Z.shape[1])
        w, V = np.linalg.eigh(C)
        w = np.maximum(w, 1e-6 * w.max())
        W = (Z - mu) @ (V / np.sqrt(w))
        if cfg.get("code_tail"):
            c = _tails(np.abs(W[active.numpy()]), np.abs(W)).sum(1)
        else:
            c = (W ** 2).sum(1)
        r = r + cfg["latent"] * c / np.median(c[active.numpy()])
    return r


def detector(X: np.ndarray, seed: int, cfg: dict) -> np.ndarray:
    k = cfg.get("ensemble", 1)
    if k == 1:
        return fit_score(X, seed, cfg)
    scores = []
    for i in range(k):
        s = fit_score(X, seed * 1000 + i, cfg)
        if cfg.get("ens_combine", "rank") == "rank":
            s = pd.Series(s).rank(pct=True).to_numpy()
        else:
            s = s / np.median(s)
        scores.append(s)
    return np.mean(scores, 0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("cfg")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--datasets", default="")
    a = p.parse_args()
    cfg = json.loads(a.cfg)
    torch.set_num_threads(1)
    rows = []
    paths = sorted(DATA.glob("*.parquet"))
    if a.datasets:
        paths = [q for q in paths if q.stem in a.datasets.split(",")]
    for path in paths:
        pdf = pd.read_parquet(path)
        y = pdf.pop("label").to_numpy()
        X = preprocess(pdf, cfg)
        if cfg.get("target_clip"):  # model input clipped at `clip`, errors vs a wider clip
            TARGET[0] = preprocess(pdf, {**cfg, "clip": cfg["target_clip"]})
        for seed in range(a.seeds):
            t = time.perf_counter()
            s = detector(X, seed, cfg)
            sec = time.perf_counter() - t
            n = int(y.sum())
            top = np.argsort(-s, kind="stable")[:n]
            rows.append(dict(dataset=path.stem, seed=seed, auc=roc_auc_score(y, s),
                             ap=average_precision_score(y, s), pn=y[top].mean(), sec=sec))
    df = pd.DataFrame(rows).groupby("dataset")[["auc", "ap", "pn", "sec"]].mean()
    base = json.loads((OUT / "baselines.json").read_text()) if (OUT / "baselines.json").exists() else []
    line = {"name": a.name, "cfg": cfg, "auc": df.auc.mean(), "ap": df.ap.mean(), "pn": df.pn.mean(),
            "sec": df.sec.sum(), "per": df.auc.round(4).to_dict(), "per_pn": df.pn.round(4).to_dict()}
    msg = f"{a.name:30s} auc={df.auc.mean():.4f} ap={df.ap.mean():.4f} pn={df.pn.mean():.4f} sec={df.sec.sum():.1f}"
    if base:
        bdf = pd.DataFrame(base)
        bdf = bdf[bdf.dataset.isin(df.index)]
        ae = bdf[bdf.method == "pyod-ae"].groupby("dataset").roc_auc.mean()
        if len(ae) == len(df):
            wins = int((df.auc >= ae).sum())
            msg += f" wins_vs_ae={wins}/{len(df)} losses={list(df.index[df.auc < ae])}"
            line["wins"] = wins
    print(msg, flush=True)
    with open(OUT / "explore.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
