"""Column-wise scores of predictions against measurements (a leaf module: no project imports)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def columnwise_pearson(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """Pearson r between matching columns of two (sample x column) arrays; NaN for constant columns."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=0) / denom
    return np.where(denom > 0, r, np.nan)


def columnwise_r2(prediction: NDArray, measured: NDArray) -> NDArray[np.float64]:
    """Coefficient of determination per column: ``1 - SSE / SST`` (NaN for constant columns)."""
    prediction = np.asarray(prediction, dtype=float)
    measured = np.asarray(measured, dtype=float)
    resid = ((measured - prediction) ** 2).sum(axis=0)
    total = ((measured - measured.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 1.0 - resid / total, np.nan)
