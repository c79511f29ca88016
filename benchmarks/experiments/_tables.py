"""Scratch: the summary tables the offline comparisons print (codecal.py, pfcal.py, combos.py)."""
import json
import sys
from pathlib import Path

import pandas as pd

BASE = pd.DataFrame(json.load(open(Path(__file__).parent / "out" / "baselines.json")))


def peer(method: str, key: str) -> pd.Series:
    """A peer's per-dataset mean of ``key`` ("roc_auc" or "pn") from out/baselines.json."""
    return BASE[BASE.method == method].set_index("dataset")[key]


def report(rows: list, key: str, *, sort: bool = False, show: str = "") -> pd.DataFrame:
    """Print mean ROC-AUC, precision@n and wins against PyOD AE per variant ``key``.

    ``rows`` hold one dict per (variant, dataset, seed) with ``auc`` and ``pn``; ``show``
    (comma-separated variants, default: the first command-line argument) adds per-dataset tables.
    """
    ae = peer("pyod-ae", "roc_auc")
    df = pd.DataFrame(rows).groupby([key, "dataset"])[["auc", "pn"]].mean().reset_index()
    out = []
    for name, g in df.groupby(key, sort=False):
        g = g.set_index("dataset")
        wins = int((g.auc >= ae[g.index]).sum())
        out.append({key: name, "auc": g.auc.mean(), "pn": g.pn.mean(), "wins": wins, "n": len(g)})
    table = pd.DataFrame(out)
    if sort:
        table = table.sort_values("auc", ascending=False)
    print(table.round(4).to_string(index=False))
    show = show or (sys.argv[1] if len(sys.argv) > 1 else "")
    if show:
        pd.set_option("display.width", 250)
        for metric, peer_key in (("auc", "roc_auc"), ("pn", "pn")):
            t = df[df[key].isin(show.split(","))].pivot(index="dataset", columns=key, values=metric)
            t["pyod-ae"] = peer("pyod-ae", peer_key)
            t["ecod"] = peer("ecod", peer_key)
            print(t.round(3).to_string())
    return df
