"""``RidgeEncoder``: the one voxelwise ridge estimator of the project (sklearn style).

Used by encoding, residual analysis, variance partitioning and the
cross-subject ceiling alike::

    enc = RidgeEncoder(alphas=np.logspace(-1, 6, 29), n_folds=5).fit(x_train, y_train, groups)
    r = enc.score(x_test, y_test)          # Pearson r per target
    enc.alpha_, enc.cv_score_, enc.form_   # fitted attributes end with "_"

What it guarantees:

* features and targets are standardised with training statistics only;
* every target gets its own alpha, chosen by cross-validation whose folds are
  contiguous blocks of whole runs (``groups``) in natural order; the choice
  maximises the mean validation ``-MSE`` over folds (himalaya's criterion, with
  its tie-break towards larger alphas) or, with ``cv_scoring="r"``, Pearson r;
* the primal or the kernel (dual) form is chosen from the shape (recorded in
  ``form_``), with one eigendecomposition per fold shared by every alpha and
  every target chunk (see :mod:`brainalign.encoding.ridge_solver`);
* with ``bands`` (column slices), banded ridge: band weights are sampled as in
  himalaya's ``BandedRidgeCV`` (Dirichlet, first sample uniform, seeded by
  ``random_state``) and each weighting is solved exactly; each target keeps its
  best (band weights, alpha).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from brainalign.encoding import ridge_solver as rs
from brainalign.encoding.backends import ArrayOps, array_ops
from brainalign.encoding.cv_folds import group_folds
from brainalign.metrics import columnwise_pearson

log = logging.getLogger(__name__)

DEFAULT_ALPHAS = np.logspace(-1, 6, 29)
CV_SCORINGS = ("mse", "r")


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

    def centring_only(self) -> "Standardizer":
        """The same means with unit scale (centre, do not rescale)."""
        return Standardizer(mean=self.mean, std=np.ones_like(self.std))

    def transform(self, x: NDArray) -> NDArray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.std).astype(np.float32)


class RidgeEncoder:
    """Per-target ridge with grouped-CV alphas, primal or kernel form, optional bands.

    Parameters are stored unchanged (sklearn convention); see the module docstring.
    ``target_mem_mb`` bounds the working memory of one target chunk.
    """

    def __init__(
        self,
        alphas: NDArray = DEFAULT_ALPHAS,
        n_folds: int = 5,
        solver: str = "auto",
        backend: str = "numpy",
        bands: list[slice] | None = None,
        n_iter: int = 20,
        scale_x: bool = True,
        cv_scoring: str = "mse",
        target_mem_mb: int = 1024,
        random_state: int = 0,
        progress: bool = False,
    ) -> None:
        self.alphas = alphas
        self.n_folds = n_folds
        self.solver = solver
        self.backend = backend
        self.bands = bands
        self.n_iter = n_iter
        self.scale_x = scale_x
        self.cv_scoring = cv_scoring
        self.target_mem_mb = target_mem_mb
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def fit(self, x: NDArray, y: NDArray, groups: NDArray) -> "RidgeEncoder":
        """Standardise, choose alphas (and band weights) by grouped CV, refit on all rows."""
        x, y = _check_xy(x, y)
        if self.cv_scoring not in CV_SCORINGS:
            raise ValueError(f"unknown cv_scoring {self.cv_scoring!r}; allowed: {', '.join(CV_SCORINGS)}")
        alphas = np.sort(np.asarray(self.alphas, dtype=np.float64).ravel())
        if alphas.size == 0 or np.any(alphas <= 0):
            raise ValueError(f"alphas must be positive, got {alphas}")
        ops = array_ops(self.backend)
        self.x_scaler_ = Standardizer.fit(x) if self.scale_x else Standardizer.fit(x).centring_only()
        self.y_scaler_ = Standardizer.fit(y)
        folds = group_folds(groups, self.n_folds)
        self.form_ = rs.choose_form(x.shape[0], x.shape[1], self.solver)
        self.backend_ = ops.name
        base = rs.make_design(ops, ops.asarray(self.x_scaler_.transform(x)), self.form_)
        bands = self._bands(x.shape[1])
        gammas = self._gammas(len(bands))
        self.n_features_in_ = x.shape[1]
        self._search(ops, base, bands, gammas, folds, y, alphas)
        self._refit(ops, base, bands, gammas, y)
        at_edge = (self.alpha_ <= alphas[0]) | (self.alpha_ >= alphas[-1])
        self.edge_fraction_ = float(at_edge.mean()) if alphas.size > 1 else 0.0
        return self

    def _bands(self, n_features: int) -> list[slice]:
        if not self.bands:
            return [slice(0, n_features)]
        covered = np.zeros(n_features, int)
        for band in self.bands:
            covered[band] += 1
        if np.any(covered != 1):
            raise ValueError("bands must cover every feature column exactly once")
        return list(self.bands)

    def _gammas(self, n_bands: int) -> NDArray:
        if n_bands == 1:
            return np.ones((1, 1))
        from himalaya.kernel_ridge import generate_dirichlet_samples

        gammas = generate_dirichlet_samples(self.n_iter, n_bands, concentration=[0.1, 1.0],
                                            random_state=self.random_state)
        gammas[0] = 1.0 / n_bands
        return gammas

    def _designs(self, ops: ArrayOps, base: rs.Design, bands: list[slice], gammas: NDArray):
        """Yield (gamma index, design) for every band weighting, reusing the base Gram or band kernels."""
        if len(bands) == 1:
            yield 0, base
            return
        band_kernels = rs.band_kernels(ops, base, bands) if base.form == "kernel" else None
        for g, gamma in enumerate(gammas):
            yield g, rs.scaled_design(ops, base, rs.band_scale(base.x.shape[1], bands, gamma), band_kernels, gamma)

    def _search(self, ops, base, bands, gammas, folds, y, alphas) -> None:
        n_targets = y.shape[1]
        best = np.full(n_targets, -np.inf)
        self.alpha_ = np.full(n_targets, alphas[-1])
        self.cv_score_ = np.full(n_targets, np.nan)
        self.gamma_index_ = np.zeros(n_targets, dtype=int)
        chunk = self._chunk_size(y.shape[0], base, len(alphas))
        ys = self.y_scaler_.transform(y)
        tie_break = np.log(alphas) * 1e-10
        designs = tqdm(list(self._designs(ops, base, bands, gammas)), desc="band weights",
                       disable=not self.progress or len(gammas) == 1, leave=False)
        for g, design in designs:
            bases = ops.map_independent(lambda fold: rs.fold_basis(ops, design, *fold), folds)
            for start in range(0, n_targets, chunk):
                cols = slice(start, start + chunk)
                yc = ops.asarray(ys[:, cols])
                xty = design.x.T @ yc if design.form == "primal" else None
                neg_mse = np.zeros((len(alphas), yc.shape[1]))
                corr = np.zeros_like(neg_mse)
                for basis in bases:
                    m, c = rs.fold_alpha_scores(ops, design, basis, yc, xty, alphas)
                    neg_mse += ops.to_numpy(m)
                    corr += ops.to_numpy(c)
                score = (neg_mse if self.cv_scoring == "mse" else corr) / len(bases) + tie_break[:, None]
                pick = score.argmax(axis=0)
                value = score[pick, np.arange(len(pick))]
                better = value > best[cols] + (_EPS32 if g > 0 else 0.0)
                idx = np.arange(start, start + len(pick))[better]
                best[idx] = value[better]
                self.alpha_[idx] = alphas[pick[better]]
                self.cv_score_[idx] = (corr[pick, np.arange(len(pick))] / len(bases))[better]
                self.gamma_index_[idx] = g
        self.band_weights_ = gammas[self.gamma_index_].T  # (bands x targets)

    def _chunk_size(self, n_samples: int, base: rs.Design, n_alphas: int) -> int:
        rank = base.gram.shape[0]
        per_target = 4 * (3 * n_samples + 8 * rank + 4 * n_alphas)
        return max(1, int(self.target_mem_mb * 2**20 // per_target))

    def _refit(self, ops, base, bands, gammas, y) -> None:
        """Weights on all training rows, per band weighting chosen by some target."""
        ys = self.y_scaler_.transform(y)
        n_targets = y.shape[1]
        self._coef_parts = []
        chunk = self._chunk_size(y.shape[0], base, 1)
        for g, design in self._designs(ops, base, bands, gammas):
            targets = np.flatnonzero(self.gamma_index_ == g)
            if targets.size == 0:
                continue
            coef = np.empty((design.gram.shape[0], targets.size), np.float32)
            for start in range(0, targets.size, chunk):
                cols = targets[start:start + chunk]
                w = rs.refit_coefficients(ops, design, ops.asarray(ys[:, cols]), self.alpha_[cols])
                coef[:, start:start + len(cols)] = ops.to_numpy(w)
            scale = rs.band_scale(base.x.shape[1], bands, gammas[g]) if len(bands) > 1 else None
            self._coef_parts.append((targets, coef, scale))
        self._x_train = ops.to_numpy(base.x) if self.form_ == "kernel" else None
        self.n_targets_ = n_targets

    # -------------------------------------------------------------- predict
    @property
    def coef_(self) -> NDArray:
        """Primal weights (standardised units, features x targets)."""
        out = np.zeros((self.n_features_in_, self.n_targets_), np.float32)
        for targets, coef, scale in self._coef_parts:
            if self.form_ == "primal":
                w = coef
            else:
                xt = self._x_train if scale is None else self._x_train * scale.astype(np.float32)
                w = xt.T @ coef
            out[:, targets] = w if scale is None else w * scale[:, None].astype(np.float32)
        return out

    def predict(self, x: NDArray) -> NDArray:
        """Predicted targets in their original units."""
        xs = self.x_scaler_.transform(np.asarray(x))
        if xs.shape[1] != self.n_features_in_:
            raise ValueError(f"x has {xs.shape[1]} features, the encoder was fitted with {self.n_features_in_}")
        pred = np.zeros((xs.shape[0], self.n_targets_), np.float32)
        for targets, coef, scale in self._coef_parts:
            xz = xs if scale is None else xs * scale.astype(np.float32)
            if self.form_ == "primal":
                pred[:, targets] = xz @ coef
            else:
                xt = self._x_train if scale is None else self._x_train * scale.astype(np.float32)
                pred[:, targets] = (xz @ xt.T) @ coef
        return pred * self.y_scaler_.std + self.y_scaler_.mean

    def score(self, x: NDArray, y: NDArray) -> NDArray:
        """Pearson r per target between predictions for ``x`` and ``y``."""
        return columnwise_pearson(self.predict(x), y)

    def summary(self) -> dict[str, Any]:
        """Fitted settings worth recording in a store's attributes."""
        return {"solver_form": self.form_, "backend": self.backend_, "cv_scoring": self.cv_scoring,
                "alpha_edge_fraction": round(self.edge_fraction_, 6),
                "precision": "float64 Gram/kernel and eigendecomposition; float32 target products"}


_EPS32 = float(np.finfo(np.float32).eps)  # a band weighting must beat the best by this (himalaya's rule)


def _check_xy(x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"x and y must be 2-D (samples x columns), got {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples, y has {y.shape[0]}")
    for name, a in (("features", x), ("responses", y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contain NaN or Inf values ({int((~np.isfinite(a)).sum())} entries)")
    return x, y
