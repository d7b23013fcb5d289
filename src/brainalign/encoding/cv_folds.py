"""Cross-validation folds made of whole runs, in natural run order.

Runs (sessions, episodes) are sorted naturally (``run-2`` before ``run-10``) and
cut into contiguous blocks, so neighbouring runs share a fold and no fold
interleaves time points of different runs. The same rule gives the inner folds
that pick ridge alphas and the outer folds of nested cross-validation.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import ArrayLike, NDArray

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key comparing digit runs as numbers: ``run-2`` < ``run-10``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(name) if part)


def natural_order(names: ArrayLike) -> list[str]:
    """Unique names in natural order."""
    return sorted({str(n) for n in np.asarray(names).tolist()}, key=natural_key)


def group_folds(groups: ArrayLike, n_folds: int) -> list[tuple[NDArray, NDArray]]:
    """``(train_rows, validation_rows)`` per fold; each fold is a contiguous block of whole runs.

    With more runs than folds, runs are split into ``n_folds`` blocks of the naturally
    sorted run list (sizes differ by at most one run); with fewer, each run is a fold.
    """
    groups = np.asarray(groups).astype(str)
    runs = natural_order(groups)
    if len(runs) < 2:
        raise ValueError(f"cross-validation needs at least 2 runs/groups in the training data, got {len(runs)}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    n = min(n_folds, len(runs))
    fold_of_run = {run: i for i, block in enumerate(np.array_split(np.array(runs, dtype=object), n)) for run in block}
    fold = np.array([fold_of_run[g] for g in groups])
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n)]


def block_groups(n_samples: int, n_folds: int) -> NDArray:
    """Group labels cutting ``n_samples`` rows into ``n_folds`` contiguous blocks (no runs known)."""
    if n_samples < n_folds:
        raise ValueError(f"{n_samples} samples cannot be split into {n_folds} folds")
    return np.concatenate([np.full(len(b), i) for i, b in enumerate(np.array_split(np.arange(n_samples), n_folds))])
