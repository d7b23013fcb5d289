"""Noise ceilings as brain stores keep them (float32 per voxel, NaN as 0), for the kinds that estimate one.

Adapters over :mod:`brainalign.ceiling`, which holds the one implementation of each
formula: split-half reliability of repeated presentations, and cross-subject prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brainalign import ceiling


def split_half_ceiling(rep1: np.ndarray, rep2: np.ndarray, n_presentations: float = 2.0) -> np.ndarray:
    """Correlation ceiling per voxel of the average of ``n_presentations`` repeats (Spearman-Brown), float32."""
    return np.nan_to_num(ceiling.split_half_ceiling(rep1, rep2, n_presentations)).astype(np.float32)


def cross_subject(
    target: np.ndarray,
    sources: Sequence[np.ndarray],
    train: np.ndarray,
    test: np.ndarray,
    groups: np.ndarray | None = None,
    n_boot: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """Cross-subject ceiling of ``target`` (sample x voxel) from ``sources`` (boolean train/test masks), float32."""
    if not sources:
        raise ValueError("cross-subject ceiling needs at least one other subject")
    for i, s in enumerate(sources):
        if s.shape != target.shape:
            raise ValueError(f"source subject {i} has shape {s.shape}, target {target.shape}")
    out = ceiling.cross_subject_ceiling(
        [target, *sources], 0, np.flatnonzero(train), np.flatnonzero(test), groups=groups,
        n_bootstrap=n_boot, seed=seed,
    )
    return np.nan_to_num(out).astype(np.float32)
