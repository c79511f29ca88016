#!/usr/bin/env bash
# dask-anomaly on a real Dask cluster, started with Dask's own commands on this machine.
#
# Starts one `dask scheduler` and two `dask worker` processes on 127.0.0.1 (free ports), runs
# `dask-anomaly sample --scheduler tcp://127.0.0.1:PORT`, `dask-anomaly score` with the saved
# model, and the Python API (examples/cluster_api.py) against it, then stops the cluster: also
# when a step fails or on Ctrl-C.
#
# usage: examples/cluster.sh [PARQUET...]
#
#   PARQUET   your Parquet files, folders or glob patterns. Without them, ROWS rows of example
#             data with 20 planted anomalies are generated (columns f0..f7, segment, row_id,
#             is_planted).
#
# Run it where dask-anomaly is installed (for example after `. .venv/bin/activate`).
# Environment, all optional:
#   WORK=DIR      scheduler file, logs and results (default: a new temporary folder)
#   K=N           rows to select (default: 20)
#   EPOCHS=N      training epochs (default: 20)
#   EXCLUDE=A,B   columns that are not features (default: none; row_id,is_planted for the
#                 generated data)
#   ROWS=N        rows of generated example data (default: 20000)
#   TIMEOUT=S     seconds to wait for the scheduler and the workers (default: 60)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
WORK="${WORK:-$(mktemp -d -t dask-anomaly-cluster.XXXXXX)}"
K="${K:-20}"
EPOCHS="${EPOCHS:-20}"
TIMEOUT="${TIMEOUT:-60}"
ROWS="${ROWS:-20000}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"

# ---------------------------------------------------------------- stop everything we started
pids=()
stop_cluster() {
    trap - EXIT INT TERM
    [ "${#pids[@]}" -eq 0 ] && return 0
    echo "== stopping the cluster"
    kill -TERM "${pids[@]}" 2>/dev/null || true  # workers stop their worker processes
    for _ in $(seq 1 50); do  # up to 10 s for a clean exit, then force it
        kill -0 "${pids[@]}" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- example data (no PARQUET)
if [ "$#" -eq 0 ]; then
    echo "== generating example data in $WORK/data"
    "$PYTHON" - "$WORK/data" "$ROWS" <<'PY'
import shutil
import sys

import dask.dataframe as dd

from dask_anomaly.datasets import make_planted

shutil.rmtree(sys.argv[1], ignore_errors=True)
pdf = make_planted(int(sys.argv[2]), n_anomalies=20, random_state=0)
dd.from_pandas(pdf, npartitions=4).to_parquet(sys.argv[1], write_index=False)
PY
    set -- "$WORK/data"
    EXCLUDE="${EXCLUDE-row_id,is_planted}"
fi
EXCLUDE="${EXCLUDE-}"

# ---------------------------------------------------------------- the scheduler
echo "== starting the scheduler (log: $WORK/scheduler.log)"
rm -f "$WORK/scheduler.json"
dask scheduler --host 127.0.0.1 --port 0 --dashboard-address 127.0.0.1:0 \
    --scheduler-file "$WORK/scheduler.json" >"$WORK/scheduler.log" 2>&1 &
pids+=("$!")
ADDRESS=""
for _ in $(seq 1 $((TIMEOUT * 5))); do
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$WORK/scheduler.log" >&2; exit 1; }
    ADDRESS="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' \
        "$WORK/scheduler.json" 2>/dev/null)" && break
    sleep 0.2
done
[ -n "$ADDRESS" ] || { echo "error: the scheduler did not start in ${TIMEOUT} s" >&2; exit 1; }
echo "scheduler at $ADDRESS"

# ---------------------------------------------------------------- two workers
# One thread per worker process, as in the LocalCluster of `dask-anomaly sample`. The malloc
# setting matches what the library gives the workers it starts itself (see parallel.py);
# --death-timeout makes a worker exit if it loses the scheduler.
for i in 1 2; do
    MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-134217728}" \
    dask worker "$ADDRESS" --host 127.0.0.1 --nthreads 1 --name "worker-$i" \
        --dashboard-address 127.0.0.1:0 --death-timeout "$TIMEOUT" \
        --local-directory "$WORK/dask-scratch" >"$WORK/worker-$i.log" 2>&1 &
    pids+=("$!")
done
"$PYTHON" - "$ADDRESS" "$TIMEOUT" <<'PY'
import sys

from distributed import Client

with Client(sys.argv[1], timeout=sys.argv[2] + "s") as client:
    client.wait_for_workers(2, timeout=float(sys.argv[2]))
    print(f"{len(client.scheduler_info()['workers'])} workers connected")
PY

# ---------------------------------------------------------------- the command line
echo "== dask-anomaly sample $* --scheduler $ADDRESS"
dask-anomaly sample "$@" --scheduler "$ADDRESS" --out "$WORK/cli" --k "$K" \
    --epochs "$EPOCHS" ${EXCLUDE:+--exclude "$EXCLUDE"} --model-out "$WORK/model.zip" --overwrite
echo "== dask-anomaly score --model $WORK/model.zip $* --scheduler $ADDRESS"
dask-anomaly score --model "$WORK/model.zip" "$@" --scheduler "$ADDRESS" --out "$WORK/score" \
    --k "$K" --overwrite

# ---------------------------------------------------------------- the Python API
echo "== python examples/cluster_api.py $ADDRESS $*"
"$PYTHON" "$HERE/cluster_api.py" "$ADDRESS" "$@" --k "$K" --epochs "$EPOCHS" \
    --exclude "$EXCLUDE" --out "$WORK/api-sample.parquet"

echo "== done: results in $WORK (cli/, score/, api-sample.parquet, model.zip)"
