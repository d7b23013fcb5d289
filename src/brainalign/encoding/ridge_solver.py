"""Exact ridge regression with per-target alphas chosen by grouped cross-validation.

The algebra, for standardised features X (n x p) and targets Y (n x t):

* **primal form** (n > p): the Gram matrix ``C = X'X`` and ``X'Y`` are computed
  once; a fold's training Gram is ``C - Xv'Xv`` (down-dating by its validation
  rows), eigendecomposed once (``C_f = V diag(l) V'``) and shared by every
  alpha and every chunk of targets.
* **kernel (dual) form** (p >= n): the kernel ``K = XX'`` is computed once; a
  fold's training kernel is a sub-block of it, eigendecomposed once per fold.

Either way a fold is described by its eigenvalues ``l`` (r values), the
validation projections ``A`` (n_val x r) and per target chunk the projected
targets ``Z`` (r x chunk), and the validation predictions of every alpha are
``A diag(1 / (l + alpha)) Z``. Only the scores of those predictions are needed,
so per alpha the solver computes ``||pred||^2`` through ``M = A`` or, when r <
n_val, the triangular factor of A (``||A v|| = ||R v||``), and the cross terms
``y'pred``, ``sum(pred)`` through r x chunk products precomputed per fold.

Precision: the Gram or kernel matrix and its eigendecomposition are computed
in float64 (eigenvalues of standardised, correlated features span many orders
of magnitude and float32 loses the small ones relative to alpha); every
product with the targets runs in float32. Banded ridge (one regularisation
per feature band) scales the bands by ``sqrt(gamma)`` for sampled band weights
gamma and solves each weighting exactly with the same machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brainalign.encoding.backends import ArrayOps

@dataclass
class FoldBasis:
    """One cross-validation fold, decomposed."""

    train: Any  # backend index arrays
    val: Any
    eigvals: Any  # (r,) float32
    vecs: Any  # (p x r) primal or (n_train x r) kernel, float32
    val_proj: Any  # A: (n_val x r) float32
    norm_factor: Any  # M: A, or R of A's QR when r < n_val
    val_sum: Any  # A' 1: (r,)


@dataclass
class Design:
    """Training design on the backend: features, their Gram or kernel, the form."""

    x: Any  # (n x p) float32, band-scaled
    form: str  # "primal" or "kernel"
    gram: Any  # (p x p) or (n x n) float64


def choose_form(n_samples: int, n_features: int, solver: str = "auto") -> str:
    """``primal`` when samples outnumber features, ``kernel`` otherwise (or as forced)."""
    if solver not in ("auto", "primal", "kernel"):
        raise ValueError(f"unknown ridge solver {solver!r}; allowed: auto, primal, kernel")
    if solver != "auto":
        return solver
    return "primal" if n_samples > n_features else "kernel"


def band_scale(n_features: int, bands: list[slice], gamma: np.ndarray) -> np.ndarray:
    """Per-column factor ``sqrt(gamma_band)`` for band weights ``gamma``."""
    scale = np.ones(n_features)
    for band, g in zip(bands, gamma):
        scale[band] = np.sqrt(g)
    return scale


def make_design(ops: ArrayOps, x: Any, form: str) -> Design:
    """Design of ``x`` (on the backend, float32) with its float64 Gram (primal) or kernel."""
    x64 = ops.cast(x, "float64")
    return Design(x=x, form=form, gram=x64.T @ x64 if form == "primal" else x64 @ x64.T)


def band_kernels(ops: ArrayOps, base: Design, bands: list[slice]) -> list[Any]:
    """Float64 linear kernel ``X_k X_k'`` of every band."""
    out = []
    for band in bands:
        xk = ops.cast(base.x[:, band], "float64")
        out.append(xk @ xk.T)
    return out


def scaled_design(
    ops: ArrayOps, base: Design, scale: np.ndarray, kernels: list[Any] | None = None, gamma: np.ndarray | None = None,
) -> Design:
    """``base`` with columns multiplied by ``scale = sqrt(gamma_band)``, reusing its Gram or the band kernels."""
    x = base.x * ops.asarray(scale, "float32")
    if base.form == "primal":
        s64 = ops.asarray(scale, "float64")
        return Design(x=x, form="primal", gram=base.gram * s64[:, None] * s64[None, :])
    gram = kernels[0] * float(gamma[0])
    for k, g in zip(kernels[1:], gamma[1:]):
        gram = gram + k * float(g)
    return Design(x=x, form="kernel", gram=gram)


def fold_basis(ops: ArrayOps, design: Design, train: np.ndarray, val: np.ndarray) -> FoldBasis:
    """Eigendecomposition of one fold's training Gram/kernel and the validation projections."""
    tr, va = ops.index(train), ops.index(val)
    if design.form == "primal":
        xv64 = ops.cast(design.x[va], "float64")
        eigvals, vecs = ops.eigh(design.gram - xv64.T @ xv64)
        vecs32 = ops.cast(vecs, "float32")
        val_proj = design.x[va] @ vecs32
    else:
        eigvals, vecs = ops.eigh(design.gram[tr][:, tr])
        vecs32 = ops.cast(vecs, "float32")
        val_proj = ops.cast(design.gram[va][:, tr], "float32") @ vecs32
    eigvals32 = ops.cast(eigvals, "float32")
    eigvals32 = eigvals32 * (eigvals32 > 0)  # rounding can leave tiny negative eigenvalues
    n_val, rank = val_proj.shape
    norm_factor = ops.qr_r(val_proj) if rank < n_val else val_proj
    return FoldBasis(tr, va, eigvals32, vecs32, val_proj, norm_factor, val_proj.sum(0))


def projected_targets(design: Design, basis: FoldBasis, y: Any, xty: Any | None) -> Any:
    """``Z`` (r x chunk): the fold's training targets in its eigenbasis."""
    if design.form == "primal":
        xv = design.x[basis.val]
        return basis.vecs.T @ (xty - xv.T @ y[basis.val])
    return basis.vecs.T @ y[basis.train]


def fold_alpha_scores(
    ops: ArrayOps, design: Design, basis: FoldBasis, y: Any, xty: Any | None, alphas: np.ndarray,
) -> tuple[Any, Any]:
    """Validation ``-MSE`` and Pearson r of every alpha for one fold and target chunk (alphas x chunk).

    The cross terms ``y'pred`` and ``sum(pred)`` of all alphas come from two
    (alphas x r) @ (r x chunk) products; only ``||pred||^2`` needs one product per alpha.
    """
    z = projected_targets(design, basis, y, xty)
    yv = y[basis.val]
    n_val = yv.shape[0]
    shrink = 1.0 / (basis.eigvals[None, :] + ops.asarray(alphas)[:, None])  # (alphas x r)
    cross = shrink @ ((basis.val_proj.T @ yv) * z)
    p_sum = shrink @ (basis.val_sum[:, None] * z)
    p_sq = ops.zeros(cross.shape)
    for i in range(len(alphas)):
        proj = basis.norm_factor @ (z * shrink[i][:, None])
        p_sq[i] = (proj * proj).sum(0)
    y_sum, y_sq = yv.sum(0), (yv * yv).sum(0)
    neg_mse = -(y_sq[None, :] - 2 * cross + p_sq) / n_val
    cov = cross - p_sum * y_sum[None, :] / n_val
    denom = ops.sqrt((p_sq - p_sum * p_sum / n_val).clip(min=0) * (y_sq - y_sum * y_sum / n_val).clip(min=0)[None, :])
    return neg_mse, cov / (denom + (denom == 0))


def refit_coefficients(ops: ArrayOps, design: Design, y: Any, alpha: np.ndarray) -> Any:
    """Weights on all training rows with one alpha per target: primal (p x t) or dual (n x t).

    One Cholesky factorisation of ``G + alpha I`` (G the float64 Gram or kernel) per
    distinct chosen alpha, independent of each other (run side by side on CPU):
    cheaper than a full eigendecomposition while few alphas are in use, and exact.
    """
    rhs = design.x.T @ y if design.form == "primal" else y
    out = ops.zeros(tuple(rhs.shape))
    eye = ops.cast(np.eye(design.gram.shape[0]), "float64")

    def solve(value: float) -> tuple[Any, Any]:
        cols = ops.index(np.flatnonzero(alpha == value))
        return cols, ops.solve_spd(design.gram + float(value) * eye, ops.cast(rhs[:, cols], "float64"))

    for cols, weights in ops.map_independent(solve, list(np.unique(alpha))):
        out[:, cols] = ops.cast(weights, "float32")
    return out
