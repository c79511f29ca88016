"""Defaults and column names shared by the estimator, the Dask layer and the CLI.

Every default is defined once here and reused by signatures and command-line options.
"""

from __future__ import annotations

from typing import Final

#: Name of the per-row anomaly score column (higher means more anomalous).
SCORE_COLUMN: Final = "anomaly_score"
#: Name of the rank column in the sample (1 is the most anomalous row).
RANK_COLUMN: Final = "anomaly_rank"
#: Name of the boolean column marking rows selected into the sample.
IN_SAMPLE_COLUMN: Final = "in_sample"
#: Columns the library adds; input frames may not already contain them.
RESERVED_COLUMNS: Final = (SCORE_COLUMN, RANK_COLUMN, IN_SAMPLE_COLUMN)

DEFAULT_HIDDEN_LAYERS: Final = None  # derived from the number of features
DEFAULT_BOTTLENECK: Final = None  # derived from the number of features
#: Training length: 60 passes of 512-row batches at Adam's step 2e-3. On large tables this is
#: 3/4 of the optimiser steps of 40 passes of 256 rows at 1e-3 (the previous defaults), each
#: step on twice the rows with twice the step size (the linear scaling rule); small tables,
#: where a pass is one or two steps, get 50% more steps. Measured in benchmarks/RESULTS.md.
DEFAULT_EPOCHS: Final = 60
DEFAULT_BATCH_SIZE: Final = 512
DEFAULT_LEARNING_RATE: Final = 2e-3
#: Share of hidden units dropped in each training step.
DEFAULT_DROPOUT: Final = 0.1
#: Autoencoders in the ensemble (trained side by side as one network). One by default: three
#: take about twice as long to train, score more slowly and were not more accurate on the
#: development datasets with the current score (see benchmarks/RESULTS.md).
DEFAULT_MEMBERS: Final = 1
DEFAULT_TRAIN_ROWS: Final = 100_000
#: A training sample smaller than this is flagged as too small to be reliable (the smallest
#: ADBench development dataset, glass, has 214 rows and is scored well).
MIN_TRAINING_ROWS: Final = 100
DEFAULT_TRAINING: Final = "sample"
DEFAULT_RANDOM_STATE: Final = 0
DEFAULT_DEVICE: Final = "auto"
DEFAULT_MAX_CATEGORIES: Final = 20
#: Weight of the bottleneck-code (Mahalanobis) distance in the score, next to the
#: reconstruction error; both parts are normalised by their median on the training sample.
DEFAULT_CODE_WEIGHT: Final = 0.6
#: Rows of the training sample (lowest hashes) used to calibrate the score.
CALIBRATION_ROWS: Final = 20_000
#: Model inputs are clipped to +-DEFAULT_CLIP standard deviations (outputs are never clipped).
DEFAULT_CLIP: Final = 10.0
#: Rows per forward pass when scoring. Batches are padded to this size so that a row's score
#: does not depend on which other rows share its partition.
DEFAULT_SCORE_BATCH_SIZE: Final = 4096
#: Fan-in of the tree reductions (statistics, training sample, top-k).
DEFAULT_SPLIT_EVERY: Final = 8
#: A categorical column with more distinct values than this is refused (likely an identifier).
MAX_DISTINCT_VALUES: Final = 100_000

TRAINING_MODES: Final = ("sample", "stream")
#: Partitions visited per epoch in streamed training (None: all, within the row budget).
DEFAULT_STREAM_PARTITIONS: Final = None
DEVICES: Final = ("auto", "cpu", "cuda")
