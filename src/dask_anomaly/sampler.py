"""AutoencoderSampler: preprocessing + autoencoder + training as a scikit-learn style estimator.

"Fit small, apply big": statistics and the training sample are gathered from every partition
by :mod:`dask_anomaly.parallel`; the network is trained in this process on the sample; scoring
is mapped over the partitions again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from ._base import BaseEstimator, check_is_fitted
from .calibration import combine_scores, fit_calibration
from .config import (
    CALIBRATION_ROWS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_BOTTLENECK,
    DEFAULT_CLIP,
    DEFAULT_CODE_WEIGHT,
    DEFAULT_DEVICE,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN_LAYERS,
    DEFAULT_LEARNING_RATE,
    DEFAULT_MAX_CATEGORIES,
    DEFAULT_MEMBERS,
    DEFAULT_RANDOM_STATE,
    DEFAULT_SCORE_BATCH_SIZE,
    DEFAULT_STREAM_PARTITIONS,
    DEFAULT_TRAIN_ROWS,
    DEFAULT_TRAINING,
    DEVICES,
    MIN_TRAINING_ROWS,
    TRAINING_MODES,
)
from .exceptions import DaskAnomalyWarning, EmptyDataError
from .model import Autoencoder, InferenceNetwork, default_architecture
from .preprocessing import TabularPreprocessor
from .scoring import score_components
from .training import SAMPLE_WORD, ChunkSource, resolve_device, seed_words, train_on_chunks

if TYPE_CHECKING:
    from .calibration import ScoreCalibration
    from .pipeline import AnomalySample

logger = logging.getLogger(__name__)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value > 0)


def frame_kind(X: object) -> str:
    """Return ``"pandas"`` or ``"dask"`` for a supported frame.

    Raises
    ------
    TypeError
        Naming the type that arrived.
    """
    if isinstance(X, pd.DataFrame):
        return "pandas"
    if (
        type(X).__module__.startswith("dask")
        and hasattr(X, "map_partitions")
        and hasattr(X, "columns")
    ):
        return "dask"
    raise TypeError(f"X must be a pandas or Dask DataFrame, got {type(X).__name__}.")


class AutoencoderSampler(BaseEstimator):
    """Find the most anomalous rows of a table with an autoencoder.

    A row's anomaly score combines its mean squared reconstruction error (each feature's error
    relative to its typical error) and the Mahalanobis distance of its bottleneck code from the
    training codes (weighted by ``code_weight``); each part is divided by its median over the
    training sample (see :mod:`dask_anomaly.calibration`).
    With ``n_members > 1`` the network is a small ensemble of autoencoders trained side by side
    from different initial weights, and both parts are averaged over them.
    Higher means more anomalous.

    Parameters
    ----------
    hidden_layers : sequence of int or None, default=None
        Encoder widths; the decoder mirrors them. None derives them from the number of
        features (see :func:`~dask_anomaly.model.default_architecture`).
    bottleneck : int or None, default=None
        Width of the code layer; None derives it from the number of features.
    epochs : int, default=60
        Passes over the training sample.
    batch_size : int, default=512
        Rows per optimisation step.
    learning_rate : float, default=2e-3
        Adam's step size.
    train_rows : int, default=100_000
        Size of the training sample drawn across all partitions.
    training : {"sample", "stream"}, default="sample"
        How training rows are gathered. ``"sample"``: up to ``train_rows`` rows drawn by a
        seeded hash across all partitions, held in memory, independent of partitioning.
        ``"stream"``: every epoch visits the partitions in a seeded random order (a subset with
        ``stream_partitions``) until ``train_rows`` rows have been trained on, holding at most
        two partitions in memory; reproducible for the same partitioning.
    random_state : int, default=0
        Seeds every random choice (sample, initial weights, batch order).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the network runs; "auto" uses a CUDA GPU when torch sees one.
    verbose : bool, default=True
        Show training progress (a bar in a terminal, log lines otherwise).
    columns, exclude : sequence of str or None, default=None
        Feature columns to use / to leave out; other columns ride along in the outputs.
    max_categories : int, default=20
        Most frequent values one-hot encoded per categorical column.
    clip : float, default=10.0
        Scaled numeric inputs are clipped to ``[-clip, clip]`` (scores are never clipped).
    score_batch_size : int, default=4096
        Rows per forward pass when scoring.
    stream_partitions : int or None, default=None
        With ``training="stream"``: partitions visited per epoch (a seeded subset); None visits
        them all, within the ``train_rows`` budget.
    code_weight : float, default=0.6
        Weight of the bottleneck-code distance in the score; 0 scores by reconstruction only.
    dropout : float, default=0.1
        Share of hidden units dropped at random in each training step (0 turns it off). With
        the default wide code it keeps the network from learning to copy its input.
    n_members : int, default=1
        Autoencoders in the ensemble, each of the architecture above, trained together in one
        network (see :class:`~dask_anomaly.model.Autoencoder`). 3 takes about twice the
        training time and a slower scoring pass, and was not more accurate on the development
        datasets with the current score.

    Attributes
    ----------
    preprocessor_ : TabularPreprocessor
        Fitted on all rows.
    module_ : Autoencoder
        The trained network (CPU, eval mode), holding all members.
    loss_history_ : list of float
        Mean training loss per epoch (averaged over the members).
    feature_names_in_ : list of str
        Input columns the model reads.
    n_features_in_ : int
        Their number.
    hidden_layers_, bottleneck_ : tuple of int, int
        The architecture used (of each member).
    n_train_rows_ : int
        Rows in the training sample.
    n_rows_fit_, n_partitions_fit_ : int
        Rows and partitions of the data ``fit`` saw.
    fit_seconds_ : float
        Wall time of ``fit``.
    warnings_ : list of str
        Caveats found while fitting (for example a training sample small for the model).
    code_center_, code_whitening_ : numpy.ndarray
        Mean bottleneck code of the training sample and the matrix that whitens centred codes.
    error_scale_, code_scale_ : float
        Median reconstruction part and median code distance of the training rows.
    feature_error_scale_ : numpy.ndarray
        Typical squared error of each model input on the training rows; each feature's squared
        error is divided by it before the mean.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pdf = pd.DataFrame(rng.normal(size=(500, 4)), columns=list("abcd"))
    >>> sampler = AutoencoderSampler(epochs=2, verbose=False).fit(pdf)
    >>> sampler.decision_function(pdf).shape
    (500,)
    >>> len(sampler.sample(pdf, k=5).sample)
    5
    """

    def __init__(
        self,
        *,
        hidden_layers: Sequence[int] | None = DEFAULT_HIDDEN_LAYERS,
        bottleneck: int | None = DEFAULT_BOTTLENECK,
        epochs: int = DEFAULT_EPOCHS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        learning_rate: float = DEFAULT_LEARNING_RATE,
        train_rows: int = DEFAULT_TRAIN_ROWS,
        training: str = DEFAULT_TRAINING,
        random_state: int = DEFAULT_RANDOM_STATE,
        device: str = DEFAULT_DEVICE,
        verbose: bool = True,
        columns: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        clip: float = DEFAULT_CLIP,
        score_batch_size: int = DEFAULT_SCORE_BATCH_SIZE,
        stream_partitions: int | None = DEFAULT_STREAM_PARTITIONS,
        code_weight: float = DEFAULT_CODE_WEIGHT,
        dropout: float = DEFAULT_DROPOUT,
        n_members: int = DEFAULT_MEMBERS,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.bottleneck = bottleneck
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.train_rows = train_rows
        self.training = training
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.columns = columns
        self.exclude = exclude
        self.max_categories = max_categories
        self.clip = clip
        self.score_batch_size = score_batch_size
        self.stream_partitions = stream_partitions
        self.code_weight = code_weight
        self.dropout = dropout
        self.n_members = n_members

    # ----------------------------------------------------------------- validation
    def _validate_params(self) -> None:
        """Check every parameter; raise ``ValueError``/``TypeError`` naming the first bad one."""
        for name in ("epochs", "batch_size", "train_rows", "score_batch_size", "n_members"):
            if not _is_positive_int(getattr(self, name)):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}.")
        if self.hidden_layers is not None and (
            isinstance(self.hidden_layers, (str, bytes))
            or not all(_is_positive_int(w) for w in self.hidden_layers)
        ):
            raise ValueError(
                "hidden_layers must be a sequence of positive integers or None, "
                f"got {self.hidden_layers!r}."
            )
        if self.stream_partitions is not None and not _is_positive_int(self.stream_partitions):
            raise ValueError(
                "stream_partitions must be a positive integer or None, "
                f"got {self.stream_partitions!r}."
            )
        if self.bottleneck is not None and not _is_positive_int(self.bottleneck):
            raise ValueError(
                f"bottleneck must be a positive integer or None, got {self.bottleneck!r}."
            )
        weight = self.code_weight
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not (0 <= weight < np.inf)
        ):
            raise ValueError(f"code_weight must be a non-negative number, got {weight!r}.")
        rate = self.dropout
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 <= rate < 1):
            raise ValueError(f"dropout must be a number in [0, 1), got {rate!r}.")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (0 < lr < np.inf):
            raise ValueError(f"learning_rate must be a positive number, got {lr!r}.")
        if self.training not in TRAINING_MODES:
            raise ValueError(
                f"training must be one of {list(TRAINING_MODES)}, got {self.training!r}."
            )
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {list(DEVICES)}, got {self.device!r}.")
        if (
            isinstance(self.random_state, bool)
            or not isinstance(self.random_state, (int, np.integer))
            or self.random_state < 0
        ):
            raise ValueError(
                f"random_state must be a non-negative integer, got {self.random_state!r}."
            )

    def _make_preprocessor(self) -> TabularPreprocessor:
        return TabularPreprocessor(
            columns=self.columns,
            exclude=self.exclude,
            max_categories=self.max_categories,
            clip=self.clip,
        )

    # ----------------------------------------------------------------- fit
    def fit(self, X: Any, y: object = None) -> AutoencoderSampler:
        """Fit preprocessing on all rows and train the autoencoder on a sample of them.

        Parameters
        ----------
        X : pandas.DataFrame or dask.dataframe.DataFrame
            The table; every column not excluded is a candidate feature.
        y : ignored
            Present for scikit-learn compatibility.

        Returns
        -------
        self : AutoencoderSampler

        Raises
        ------
        EmptyDataError
            If ``X`` has no rows.
        NoFeatureColumnsError
            If no usable feature column remains.
        TrainingDivergedError
            If the training loss becomes NaN or infinite.
        """
        self._validate_params()
        kind = frame_kind(X)
        start = time.perf_counter()
        device = resolve_device(self.device)
        preprocessor, n_partitions = self._fit_preprocessor(X, kind)
        n_out = len(preprocessor.feature_names_out_)
        default_hidden, default_bottleneck = default_architecture(n_out)
        hidden = (
            tuple(int(w) for w in self.hidden_layers)
            if self.hidden_layers is not None
            else default_hidden
        )
        bottleneck = int(self.bottleneck) if self.bottleneck is not None else default_bottleneck
        chunks, n_train = self._training_chunks(X, kind, preprocessor)
        caveats = self._check_sample_size(n_train, bottleneck)
        module, history = train_on_chunks(
            chunks,
            n_features=n_out,
            hidden_layers=hidden,
            bottleneck=bottleneck,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            random_state=int(self.random_state),
            dropout=float(self.dropout),
            n_members=int(self.n_members),
            device=str(device),
            verbose=self.verbose,
        )
        calibration = self._calibrate(module, X, kind, preprocessor, chunks)
        n_train = getattr(chunks, "rows_seen", [n_train])[0]  # streamed: rows of epoch 1
        # fitted state is set only once training succeeded
        self.preprocessor_ = preprocessor
        self.module_ = module
        self.loss_history_ = history
        self.feature_names_in_ = list(preprocessor.feature_names_in_)
        self.n_features_in_ = len(self.feature_names_in_)
        self.hidden_layers_ = hidden
        self.bottleneck_ = bottleneck
        self.n_train_rows_ = n_train
        self.n_rows_fit_ = preprocessor.n_rows_seen_
        self.n_partitions_fit_ = n_partitions
        self.warnings_ = caveats
        self.code_center_ = calibration.code_center
        self.code_whitening_ = calibration.code_whitening
        self.error_scale_ = calibration.error_scale
        self.code_scale_ = calibration.code_scale
        self.feature_error_scale_ = calibration.feature_error_scale
        self.fit_seconds_ = time.perf_counter() - start
        self._fitted_digest: str | None = None
        self.__dict__.pop("_inference_networks", None)
        logger.info(
            "fit: %d rows, %d partitions, %d training rows (%s), %d epochs in %.2f s",
            self.n_rows_fit_,
            n_partitions,
            n_train,
            self.training,
            self.epochs,
            self.fit_seconds_,
        )
        return self

    def _fit_preprocessor(self, X: Any, kind: str) -> tuple[TabularPreprocessor, int]:
        """Fit the preprocessing on all rows; return it and the number of partitions."""
        from . import parallel

        if kind == "pandas":
            preprocessor, n_partitions = self._make_preprocessor().fit(X), 1
        else:
            preprocessor, n_partitions = parallel.fit_preprocessor(X, self._make_preprocessor())
        if preprocessor.n_rows_seen_ == 0:
            raise EmptyDataError("X has no rows; fit needs data.")
        return preprocessor, n_partitions

    def _training_chunks(
        self, X: Any, kind: str, preprocessor: TabularPreprocessor
    ) -> tuple[ChunkSource, int]:
        """Return the source of training chunks per epoch and the rows of one epoch."""
        from . import parallel

        seed = self._sample_seed()
        if self.training == "stream" and kind == "dask":
            stream = parallel.PartitionStream(
                X,
                preprocessor,
                seed=seed,
                rows_per_epoch=self.train_rows,
                max_partitions=self.stream_partitions,
            )
            first = stream.order(0)
            n_train = min(preprocessor.n_rows_seen_, self.train_rows)
            logger.info("streamed training over up to %d partitions per epoch", len(first))
            return stream, n_train
        if kind == "pandas":
            train = parallel.local_training_sample(
                X, preprocessor, n_rows=self.train_rows, seed=seed
            )
        else:
            train = parallel.training_sample(X, preprocessor, n_rows=self.train_rows, seed=seed)
        return (lambda epoch: [train]), len(train)

    def _calibrate(
        self,
        module: Autoencoder,
        X: Any,
        kind: str,
        preprocessor: TabularPreprocessor,
        chunks: ChunkSource,
    ) -> ScoreCalibration:
        """Fit the score calibration on the lowest-hash rows of the training sample.

        These are the first :data:`~dask_anomaly.config.CALIBRATION_ROWS` rows of the sampled
        training set; streamed training draws the same rows in one extra pass.
        """
        from . import parallel

        if self.training == "stream" and kind == "dask":
            rows = parallel.training_sample(
                X,
                preprocessor,
                n_rows=min(self.train_rows, CALIBRATION_ROWS),
                seed=self._sample_seed(),
            )
        else:
            rows = next(iter(chunks(0)))[:CALIBRATION_ROWS]
        return fit_calibration(
            InferenceNetwork.of(module), rows, batch_size=int(self.score_batch_size)
        )

    def _sample_seed(self) -> int:
        return int(seed_words(int(self.random_state))[SAMPLE_WORD])

    def _check_sample_size(self, n_train: int, bottleneck: int) -> list[str]:
        """Warn when the training sample is too small for the model; return the caveats."""
        caveats = []
        if n_train < MIN_TRAINING_ROWS:
            caveats.append(
                f"The training sample has {n_train} rows, fewer than {MIN_TRAINING_ROWS}; "
                "a sample this small cannot separate normal from anomalous rows reliably. "
                "Use more rows (train_rows or more data)."
            )
        if n_train <= bottleneck:
            caveats.append(
                f"The training sample has {n_train} rows, no more than the bottleneck width "
                f"{bottleneck}; the autoencoder can memorise it and scores will carry little "
                "signal."
            )
        for caveat in caveats:
            logger.warning(caveat)
            warnings.warn(caveat, DaskAnomalyWarning, stacklevel=4)
        return caveats

    # ----------------------------------------------------------------- scoring
    def _score_array(self, X: np.ndarray) -> np.ndarray:
        """Return the anomaly scores of preprocessed rows ``X`` (float64)."""
        device = resolve_device(self.device)
        errors, distances = score_components(
            self._network_on(device),
            X,
            code_center=self.code_center_,
            code_whitening=self.code_whitening_,
            batch_size=int(self.score_batch_size),
            device=device,
            # files saved before per-feature scales existed score without them
            feature_scale=getattr(self, "feature_error_scale_", None),
        )
        return combine_scores(
            errors,
            distances,
            error_scale=self.error_scale_,
            code_scale=self.code_scale_,
            code_weight=float(self.code_weight),
        )

    def _network_on(self, device: torch.device) -> InferenceNetwork:
        """Return the inference copy of the network on ``device`` (cached per process)."""
        cache = self.__dict__.setdefault("_inference_networks", {})
        if str(device) not in cache:
            cache[str(device)] = InferenceNetwork.of(self.module_).to(device)
        return cache[str(device)]

    def decision_function(self, X: Any) -> Any:
        """Return each row's anomaly score; higher means more anomalous.

        Parameters
        ----------
        X : pandas.DataFrame or dask.dataframe.DataFrame
            Rows with (at least) the columns the sampler was fitted on.

        Returns
        -------
        pandas.Series or dask.dataframe.Series
            ``anomaly_score`` (float64) on ``X``'s index; lazy for Dask input.
        """
        check_is_fitted(self)
        if frame_kind(X) == "pandas":
            from .scoring import score_partition

            return score_partition(X, self)
        from .parallel import score_frame

        return score_frame(X, self)

    def sample(
        self, X: Any, *, k: int | None = None, fraction: float | None = None
    ) -> AnomalySample:
        """Select the ``k`` (or ``ceil(fraction * rows)``) most anomalous rows of ``X``.

        The data is read and scored once to select; ``result.scored`` and
        ``result.preprocessed`` stay lazy for Dask input.

        Parameters
        ----------
        X : pandas.DataFrame or dask.dataframe.DataFrame
        k : int, optional
            Number of rows to select. Exactly one of ``k`` and ``fraction``.
        fraction : float in (0, 1], optional
            Share of the rows to select.

        Returns
        -------
        AnomalySample
        """
        check_is_fitted(self)
        from .pipeline import select_sample

        return select_sample(self, X, k=k, fraction=fraction)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted sampler to one model file (JSON + tensor weights, no pickle).

        The file is replaced atomically; see :mod:`dask_anomaly.persistence` for the format.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        pathlib.Path
        """
        from .persistence import save_sampler

        return save_sampler(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AutoencoderSampler:
        """Read a sampler written by :meth:`save`; it gives identical scores.

        Raises
        ------
        ModelFileError
            If the file is not a dask-anomaly model, is corrupted, or needs a newer version.
        """
        from .persistence import load_sampler

        return load_sampler(path, cls)

    # ----------------------------------------------------------------- dask/pickle hooks
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_inference_networks", None)
        return state

    def __dask_tokenize__(self) -> str:
        """A deterministic token from the parameters and the fitted state (for Dask graphs)."""
        digest = hashlib.sha256(repr(sorted(self.get_params().items())).encode())
        if getattr(self, "module_", None) is not None:
            fitted = self.__dict__.get("_fitted_digest")
            if fitted is None:
                weights = hashlib.sha256(repr(self.preprocessor_.fitted_state()).encode())
                for name, tensor in self.module_.state_dict().items():
                    weights.update(name.encode())
                    weights.update(tensor.numpy().tobytes())
                for name in (
                    "code_center_",
                    "code_whitening_",
                    "error_scale_",
                    "code_scale_",
                    "feature_error_scale_",
                ):
                    weights.update(np.asarray(getattr(self, name, np.nan), np.float64).tobytes())
                fitted = self._fitted_digest = weights.hexdigest()
            digest.update(fitted.encode())
        return digest.hexdigest()
