"""Scratch: fit the library's default sampler and save the score's parts per row.

Usage: python benchmarks/experiments/dump_parts.py SEED [dataset,...]
Writes out/parts/{dataset}_{seed}.npz with the label, the reconstruction error, the code
distance (the library's calibration), the calibration scales and quantiles of both parts on the
calibration rows, so that ways of combining the parts can be compared without retraining.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dask_anomaly import AutoencoderSampler
from dask_anomaly.config import CALIBRATION_ROWS
from dask_anomaly.scoring import score_components

DATA = Path("/work/shared/data/adbench")
OUT = Path(__file__).parent / "out" / "parts"
OUT.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)
seed = int(sys.argv[1])
names = sys.argv[2].split(",") if len(sys.argv) > 2 else [p.stem for p in sorted(DATA.glob("*.parquet"))]
for name in names:
    df = pd.read_parquet(DATA / f"{name}.parquet")
    y = df.pop("label").to_numpy()
    s = AutoencoderSampler(random_state=seed, verbose=False).fit(df)
    # the plain mean squared error (no per-feature scales), as these files always held
    kw = dict(code_center=s.code_center_, code_whitening=s.code_whitening_, batch_size=4096)
    mod = s._network_on(torch.device("cpu"))
    e, d = score_components(mod, s.preprocessor_.transform(df), **kw)
    from dask_anomaly.parallel import local_training_sample
    cal = local_training_sample(df, s.preprocessor_, n_rows=s.train_rows, seed=s._sample_seed())[:CALIBRATION_ROWS]
    ce, cd = score_components(mod, cal, **kw)
    np.savez(OUT / f"{name}_{seed}.npz", y=y, e=e, d=d, ce=ce, cd=cd)
    print(name, seed, flush=True)
