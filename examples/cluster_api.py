"""The Python API on a running Dask cluster: connect, read Parquet, fit, sample, save.

usage: python examples/cluster_api.py tcp://127.0.0.1:8786 data/ --k 20 --exclude row_id

Every Dask computation runs on the cluster the client connects to: the statistics of the
preprocessing, the training sample, the scoring of every partition and the top-k reduction. The
network itself is trained in this process. The workers read the Parquet files themselves, so the
paths must be reachable from every worker (a shared filesystem or an object store such as S3).
"""

from __future__ import annotations

import argparse

import dask.dataframe as dd
from distributed import Client

from dask_anomaly import AutoencoderSampler


def main(argv: list[str] | None = None) -> int:
    """Sample the most anomalous rows of Parquet INPUT on the scheduler at ADDRESS."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("address", help="scheduler address, like tcp://127.0.0.1:8786")
    parser.add_argument("inputs", nargs="+", help="Parquet files, folders or glob patterns")
    parser.add_argument("--k", type=int, default=20, help="rows to select")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs")
    parser.add_argument("--exclude", default="", help="comma-separated non-feature columns")
    parser.add_argument("--out", default="api-sample.parquet", help="where to write the sample")
    args = parser.parse_args(argv)

    with Client(args.address) as client:
        workers = len(client.scheduler_info()["workers"])
        print(f"connected to {args.address} ({workers} workers)")
        ddf = dd.read_parquet(args.inputs if len(args.inputs) > 1 else args.inputs[0])
        sampler = AutoencoderSampler(
            epochs=args.epochs, exclude=args.exclude.split(",") if args.exclude else None
        )
        result = sampler.fit(ddf).sample(ddf, k=args.k)
    print(result.report)
    print(result.sample.head(10).to_string())
    result.sample.to_parquet(args.out)
    print(f"sample of {len(result.sample)} rows written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
