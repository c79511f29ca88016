"""``python -m dask_anomaly``: the same as the ``dask-anomaly`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
