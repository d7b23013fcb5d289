"""Noise ceilings for movie data: repeat split-half and cross-subject extrapolation.

Uses :mod:`brainalign.ceiling` when it provides the functions; the fallbacks
here follow SPEC.md so this module works on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _zscore(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    return x / np.where(sd > 0, sd, 1.0)


def voxel_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r per column of two (time x voxel) arrays."""
    return (_zscore(a) * _zscore(b)).mean(axis=0)


def split_half_ceiling(rep1: np.ndarray, rep2: np.ndarray) -> np.ndarray:
    """Correlation ceiling per voxel of the 2-repeat average (Spearman-Brown).

    r = corr(rep1, rep2) estimates single-repeat reliability; the average of two
    repeats has reliability 2r / (1 + r); its square root (negatives clipped to 0)
    is the highest correlation a perfect model could reach.
    """
    try:
        from brainalign.ceiling import split_half_ceiling as shared
    except ImportError:
        shared = None
    if shared is not None:
        return np.asarray(shared(rep1, rep2), dtype=np.float32)
    if rep1.shape != rep2.shape:
        raise ValueError(f"repeats differ in shape: {rep1.shape} vs {rep2.shape}")
    r = voxel_corr(rep1, rep2)
    r = np.clip(np.nan_to_num(r), 0.0, 1.0)
    sb = 2 * r / (1 + r)
    return np.sqrt(np.clip(np.nan_to_num(sb), 0, None)).astype(np.float32)


def cross_subject(
    target: np.ndarray,
    sources: Sequence[np.ndarray],
    train: np.ndarray,
    test: np.ndarray,
    groups: np.ndarray | None = None,
    n_boot: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """Cross-subject ceiling of ``target`` (sample x voxel) from ``sources`` (same shape).

    Uses the ridge-based :func:`brainalign.ceiling.cross_subject_ceiling` when the
    library provides it (fitted on ``train`` samples, scored on ``test``), else the
    cheaper same-voxel-average version below on the test samples.
    """
    try:
        from brainalign.ceiling import cross_subject_ceiling as shared
    except ImportError:
        shared = None
    if shared is not None:
        out = shared([target, *sources], 0, np.flatnonzero(train), np.flatnonzero(test),
                     groups=groups, n_bootstrap=n_boot, seed=seed)
        return np.clip(np.nan_to_num(np.asarray(out, np.float32)), 0, 1)
    return cross_subject_ceiling_mean(target[test], [s[test] for s in sources], n_boot, seed)


def cross_subject_ceiling_mean(
    target: np.ndarray,
    sources: Sequence[np.ndarray],
    n_boot: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """Ceiling per voxel extrapolated from how well other subjects predict ``target``.

    For each subset size x of source subjects (bootstrapped ``n_boot`` times), the
    prediction is the source subjects' mean response in the same voxel (a cheap
    stand-in for the ridge prediction of the original), scored by Pearson r;
    v(x) = v0 * (1 - exp(-x / tau)) is fitted per voxel and bootstrap over a tau
    grid, and the ceiling is the median v0 over bootstraps, clipped to [0, 1].
    """
    if not sources:
        raise ValueError("cross-subject ceiling needs at least one other subject")
    for i, s in enumerate(sources):
        if s.shape != target.shape:
            raise ValueError(f"source subject {i} has shape {s.shape}, target {target.shape}")
    rng = np.random.default_rng(seed)
    n_src = len(sources)
    xs = np.arange(1, n_src + 1, dtype=float)
    taus = np.geomspace(0.1, 50, 60)
    v0s = np.empty((n_boot, target.shape[1]), dtype=np.float64)
    zt = _zscore(target)
    for b in range(n_boot):
        curve = np.empty((n_src, target.shape[1]))
        for j, x in enumerate(range(1, n_src + 1)):
            pick = rng.choice(n_src, size=x, replace=False)
            pred = np.mean([sources[k] for k in pick], axis=0)
            curve[j] = (zt * _zscore(pred)).mean(axis=0)
        g = 1 - np.exp(-xs[:, None] / taus[None, :])  # sizes x taus
        v0 = (g.T @ curve) / (g**2).sum(axis=0)[:, None]  # taus x voxels
        sse = ((curve[None, :, :] - g.T[:, :, None] * v0[:, None, :]) ** 2).sum(axis=1)
        v0s[b] = v0[sse.argmin(axis=0), np.arange(target.shape[1])]
    return np.clip(np.median(v0s, axis=0), 0, 1).astype(np.float32)
