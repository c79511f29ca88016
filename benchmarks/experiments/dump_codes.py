"""Scratch: fit the default sampler, save each row's reconstruction error and bottleneck code
(all rows and the calibration rows), to compare calibrations of the code distance offline.

Usage: python benchmarks/experiments/dump_codes.py SEED [dataset,...]  -> out/codes/{name}_{seed}.npz
Environment: PARAMS (JSON of sampler parameters), CODES (output folder name under out/),
BRULE (the bottleneck as a Python expression of the number of inputs d).
"""
import json
import os

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dask_anomaly import AutoencoderSampler
from dask_anomaly.config import CALIBRATION_ROWS
from dask_anomaly.parallel import local_training_sample
from dask_anomaly.scoring import feature_errors_and_codes, score_components

DATA = Path("/work/shared/data/adbench")
OUT = Path(__file__).parent / "out" / os.environ.get("CODES", "codes")
PARAMS = json.loads(os.environ.get("PARAMS", "{}"))
OUT.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)
seed = int(sys.argv[1])
names = sys.argv[2].split(",") if len(sys.argv) > 2 else [p.stem for p in sorted(DATA.glob("*.parquet"))]
for name in names:
    df = pd.read_parquet(DATA / f"{name}.parquet")
    y = df.pop("label").to_numpy()
    params = dict(PARAMS)
    if os.environ.get("BRULE"):  # bottleneck as a function of the number of inputs d
        params["bottleneck"] = int(eval(os.environ["BRULE"], {"d": df.shape[1]}))
    s = AutoencoderSampler(random_state=seed, verbose=False, **params).fit(df)
    # the plain mean squared error (no per-feature scales), as these files always held
    kw = dict(code_center=s.code_center_, code_whitening=s.code_whitening_, batch_size=4096)
    mod = s._network_on(torch.device("cpu"))
    X = s.preprocessor_.transform(df)
    cal = local_training_sample(df, s.preprocessor_, n_rows=s.train_rows, seed=s._sample_seed())[:CALIBRATION_ROWS]
    e, d = score_components(mod, X, **kw)
    ce, cd = score_components(mod, cal, **kw)
    c = feature_errors_and_codes(mod, X, batch_size=4096)[1].astype(np.float32)
    cc = feature_errors_and_codes(mod, cal, batch_size=4096)[1].astype(np.float32)
    extra = {}
    k = s.module_.n_members  # per-feature squared errors (an ensemble's: the members' mean)
    with torch.inference_mode():
        for key, rows in (("E", X), ("CE", cal)):
            t = torch.from_numpy(np.ascontiguousarray(rows))
            recon = s.module_.eval()(t)
            extra[key] = (recon - s.module_.targets(t)).square().reshape(len(t), k, -1).mean(1).numpy()
            if key == "E" and k == 1:
                extra["R"] = recon.numpy()
    np.savez(OUT / f"{name}_{seed}.npz", y=y, e=e, d=d, ce=ce, cd=cd, c=c, cc=cc, **extra)
    print(name, seed, flush=True)
