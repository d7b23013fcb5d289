"""Voxelwise ridge encoding models (himalaya) with leakage-free cross-validation.

Rules of the game, enforced here rather than left to callers:

* cross-validation folds are whole runs (or sessions / episodes), never
  interleaved samples;
* z-scoring statistics are fitted on training samples only;
* each voxel gets its own regularisation strength, chosen on training folds;
* scores are computed on held-out test samples only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from brainalign.ceiling import columnwise_pearson

log = logging.getLogger(__name__)

BACKENDS = ("numpy", "torch", "torch_cuda")


@dataclass(frozen=True)
class RidgeSettings:
    """Hyper-parameters of the ridge search."""

    alphas: NDArray = field(default_factory=lambda: np.logspace(1, 4, 20))
    n_folds: int = 5
    backend: str = "numpy"
    n_iter: int = 20  # random-search iterations for banded ridge

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; allowed: {', '.join(BACKENDS)}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")


@dataclass(frozen=True)
class Standardizer:
    """Column means and standard deviations fitted on training rows only."""

    mean: NDArray
    std: NDArray

    @classmethod
    def fit(cls, x: NDArray) -> "Standardizer":
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0)
        return cls(mean=x.mean(axis=0), std=np.where(std > 0, std, 1.0))

    def transform(self, x: NDArray) -> NDArray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.std).astype(np.float32)


def group_folds(groups: NDArray, n_folds: int) -> list[tuple[NDArray, NDArray]]:
    """Cross-validation splits that keep every group (run) whole.

    Groups are assigned to folds in contiguous blocks of their sorted order, so
    neighbouring runs land in the same fold when there are more runs than folds.
    """
    groups = np.asarray(groups).astype(str)
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise ValueError(
            f"cross-validation needs at least 2 runs/groups in the training data, got {len(uniq)}"
        )
    n = min(n_folds, len(uniq))
    fold_of_group = {g: i for i, chunk in enumerate(np.array_split(uniq, n)) for g in chunk}
    fold = np.array([fold_of_group[g] for g in groups])
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n)]


def _backend(name: str):
    from himalaya.backend import set_backend

    return set_backend(name, on_error="raise")


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

    Without ``groups`` the training rows are split into ``n_folds`` contiguous blocks.
    """
    settings = RidgeSettings(
        alphas=np.logspace(1, 4, 20) if alphas is None else np.asarray(alphas), n_folds=n_folds, backend=backend
    )
    if groups is None or len(np.unique(groups)) < 2:
        groups = np.repeat(np.arange(n_folds), int(np.ceil(len(x_train) / n_folds)))[: len(x_train)]
    fit = fit_score(x_train, y_train, x_test, None, groups, settings)
    return fit.prediction


@dataclass
class FitResult:
    """Test-set scores of one ridge model (arrays over targets)."""

    r: NDArray
    r2: NDArray
    alpha: NDArray
    prediction: NDArray


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
    """Standardise on training data, choose per-target alphas by grouped CV, score on test.

    ``bands`` (column slices) switches to banded ridge, one regularisation per band.
    ``scale_x=False`` only centres the features (for residual features, whose
    variance is the point: rescaling would blow up what the residualiser left).
    """
    from himalaya.ridge import BandedRidgeCV, RidgeCV

    backend = _backend(settings.backend)
    xs = Standardizer.fit(x_train)
    if not scale_x:
        xs = Standardizer(mean=xs.mean, std=np.ones_like(xs.std))
    ys = Standardizer.fit(y_train)
    xtr, xte = xs.transform(x_train), xs.transform(x_test)
    ytr = ys.transform(y_train)
    cv = group_folds(groups, settings.n_folds)
    alphas = np.asarray(settings.alphas, dtype=np.float64)
    if bands is None:
        model = RidgeCV(alphas=alphas, cv=cv, solver_params={"n_targets_batch": 2000})
        model.fit(xtr, ytr)
        best_alpha = backend.to_numpy(model.best_alphas_)
    else:
        from himalaya.ridge import ColumnTransformerNoStack
        from sklearn.pipeline import make_pipeline

        ct = ColumnTransformerNoStack([(f"band{i}", "passthrough", b) for i, b in enumerate(bands)])
        banded = BandedRidgeCV(
            groups="input",
            cv=cv,
            solver_params={
                "alphas": alphas,
                "n_iter": settings.n_iter,
                "n_targets_batch": 2000,
                "progress_bar": False,
            },
            random_state=0,
        )
        model = make_pipeline(ct, banded)
        model.fit(xtr, ytr)
        best_alpha = backend.to_numpy(banded.best_alphas_)
    pred = np.asarray(backend.to_numpy(model.predict(xte)), dtype=np.float64)
    pred = pred * ys.std + ys.mean
    n_targets = y_train.shape[1]
    if y_test is None:
        nan = np.full(n_targets, np.nan)
        return FitResult(nan, nan, best_alpha, pred)
    y_test = np.asarray(y_test, dtype=np.float64)
    r = columnwise_pearson(pred, y_test)
    resid = ((y_test - pred) ** 2).sum(axis=0)
    total = ((y_test - y_test.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1.0 - resid / total
    return FitResult(r=r, r2=r2, alpha=best_alpha, prediction=pred)


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
    )
