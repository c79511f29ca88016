"""Scratch: fit the default sampler (on pandas) per dataset and seed; save labels and scores.

Usage: python benchmarks/experiments/libscores.py VARIANT SEED [dataset,...]
  -> out/lib/VARIANT/{name}_{seed}.npz (y, score, seconds). PARAMS: JSON of sampler parameters.
Compare variants with libcompare.py.
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dask_anomaly import AutoencoderSampler

DATA = Path("/work/shared/data/adbench")
variant, seed = sys.argv[1], int(sys.argv[2])
OUT = Path(__file__).parent / "out" / "lib" / variant
OUT.mkdir(parents=True, exist_ok=True)
PARAMS = json.loads(os.environ.get("PARAMS", "{}"))
torch.set_num_threads(1)
names = sys.argv[3].split(",") if len(sys.argv) > 3 else [p.stem for p in sorted(DATA.glob("*.parquet"))]
for name in names:
    df = pd.read_parquet(DATA / f"{name}.parquet")
    y = df.pop("label").to_numpy()
    t = time.perf_counter()
    s = AutoencoderSampler(random_state=seed, verbose=False, **PARAMS).fit(df)
    score = np.asarray(s.decision_function(df), dtype=np.float64)
    np.savez(OUT / f"{name}_{seed}.npz", y=y, score=score, seconds=time.perf_counter() - t,
             loss=np.asarray(s.loss_history_ if hasattr(s, "loss_history_") else []))
    print(variant, name, seed, round(time.perf_counter() - t, 2), flush=True)
