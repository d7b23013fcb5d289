"""Ridge encoding settings and the scoring helpers built on :class:`~brainalign.encoding.ridge_encoder.RidgeEncoder`.

Rules of the game, enforced by the encoder rather than left to callers:

* cross-validation folds are whole runs (or sessions / episodes) in natural
  order, never interleaved samples (:mod:`brainalign.encoding.cv_folds`);
* z-scoring statistics are fitted on training samples only;
* each voxel gets its own regularisation strength, chosen on training folds;
* scores are computed on held-out test samples only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from brainalign.encoding.backends import BACKENDS
from brainalign.encoding.cv_folds import block_groups, group_folds  # noqa: F401  (re-exported)
from brainalign.encoding.ridge_encoder import DEFAULT_ALPHAS, RidgeEncoder, Standardizer  # noqa: F401  (re-exported)
from brainalign.metrics import columnwise_pearson, columnwise_r2

log = logging.getLogger(__name__)

#: share of voxels whose chosen alpha sits on an edge of the grid above which a warning is logged
EDGE_WARNING = 0.05


@dataclass(frozen=True)
class RidgeSettings:
    """Hyper-parameters of the ridge search (the config's ``encoding`` block)."""

    alphas: NDArray = field(default_factory=lambda: DEFAULT_ALPHAS.copy())
    n_folds: int = 5
    backend: str = "numpy"
    n_iter: int = 20  # band-weight samples of banded ridge
    solver: str = "auto"
    cv_scoring: str = "mse"
    target_mem_mb: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; allowed: {', '.join(BACKENDS)}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")

    def encoder(self, bands: list[slice] | None = None, scale_x: bool = True) -> RidgeEncoder:
        """A fresh encoder with these settings."""
        return RidgeEncoder(
            alphas=self.alphas, n_folds=self.n_folds, solver=self.solver, backend=self.backend, bands=bands,
            n_iter=self.n_iter, scale_x=scale_x, cv_scoring=self.cv_scoring, target_mem_mb=self.target_mem_mb,
            random_state=self.seed,
        )


@dataclass
class FitResult:
    """Test-set scores of one ridge model (arrays over targets) and its fitted encoder."""

    r: NDArray
    r2: NDArray
    alpha: NDArray
    prediction: NDArray
    cv_score: NDArray
    encoder: RidgeEncoder


def fit_score(
    x_train: NDArray,
    y_train: NDArray,
    x_test: NDArray,
    y_test: NDArray | None,
    groups: NDArray,
    settings: RidgeSettings,
    bands: list[slice] | None = None,
    scale_x: bool = True,
) -> FitResult:
    """Fit an encoder on the training rows, predict the test rows, score them when ``y_test`` is given.

    ``bands`` (column slices) switches to banded ridge, one regularisation per band.
    ``scale_x=False`` only centres the features (for residual features, whose
    variance is the point: rescaling would blow up what the residualiser left).
    """
    enc = settings.encoder(bands=bands, scale_x=scale_x).fit(x_train, y_train, groups)
    if enc.edge_fraction_ > EDGE_WARNING:
        log.warning("%.0f%% of targets chose an alpha at the edge of the grid [%g, %g]: widen encoding.alphas",
                    100 * enc.edge_fraction_, np.min(settings.alphas), np.max(settings.alphas))
    pred = np.asarray(enc.predict(x_test), dtype=np.float64)
    if y_test is None:
        nan = np.full(pred.shape[1], np.nan)
        return FitResult(nan, nan, enc.alpha_, pred, enc.cv_score_, enc)
    return FitResult(columnwise_pearson(pred, y_test), columnwise_r2(pred, y_test), enc.alpha_, pred,
                     enc.cv_score_, enc)


def fit_ridge_predict(
    x_train: NDArray,
    y_train: NDArray,
    x_test: NDArray,
    groups: NDArray | None = None,
    alphas: NDArray | None = None,
    n_folds: int = 5,
    backend: str = "numpy",
) -> NDArray:
    """Fit a per-target ridge on (standardised) training data and predict test rows.

    Without ``groups`` (or with a single group) the training rows are split into
    ``n_folds`` contiguous blocks.
    """
    settings = RidgeSettings(alphas=DEFAULT_ALPHAS if alphas is None else np.asarray(alphas), n_folds=n_folds,
                             backend=backend)
    if groups is None or len(np.unique(groups)) < 2:
        groups = block_groups(len(x_train), n_folds)
    return fit_score(x_train, y_train, x_test, None, groups, settings).prediction


def normalize(r: NDArray, ceiling: NDArray, ceiling_min: float = 0.05) -> NDArray:
    """Normalised brain alignment ``r / ceiling``; NaN where the ceiling < ``ceiling_min``.

    Values are not clipped: counts outside [0, 1] are reported by the summaries.
    """
    ceiling = np.asarray(ceiling, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ceiling >= ceiling_min, np.asarray(r) / ceiling, np.nan)


def ridge_settings(encoding_cfg: dict) -> RidgeSettings:
    """Ridge hyper-parameters from the config's ``encoding`` block."""
    a = encoding_cfg["alphas"]
    return RidgeSettings(
        alphas=np.logspace(a["min_exp"], a["max_exp"], a["num"]),
        n_folds=int(encoding_cfg["n_folds"]),
        backend=encoding_cfg["backend"],
        n_iter=int(encoding_cfg.get("n_iter", 20)),
        solver=encoding_cfg.get("solver", "auto"),
        cv_scoring=encoding_cfg.get("cv_scoring", "mse"),
        target_mem_mb=int(encoding_cfg.get("target_mem_mb", 1024)),
    )
