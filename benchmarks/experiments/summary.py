"""Scratch: means, wins against PyOD AutoEncoder and time ratios of one accuracy.py --json run.

Usage: python benchmarks/experiments/summary.py RUN.json
"""

import json
import sys

import pandas as pd

runs = pd.DataFrame(json.load(open(sys.argv[1])))
m = runs.groupby(["dataset", "method"])[["roc_auc", "ap", "precision_at_n", "seconds"]].mean()
print(m.groupby("method").mean().round(4).to_string())
da, ae = m.xs("dask-anomaly", level="method"), m.xs("pyod-ae", level="method")
print("ROC-AUC >= PyOD AE on", int((da.roc_auc >= ae.roc_auc).sum()), "of", len(da),
      "; behind on", list(da.index[da.roc_auc < ae.roc_auc]))
print("time <= PyOD AE on", int((da.seconds <= ae.seconds).sum()), "of", len(da),
      "; slower on", {d: (round(da.seconds[d], 2), round(ae.seconds[d], 2))
                      for d in da.index[da.seconds > ae.seconds]})
