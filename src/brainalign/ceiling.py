"""Noise ceilings: the best correlation any model could reach, per voxel.

All functions return a *correlation* ceiling (the expected Pearson r between
the noise-free signal and the measured, repeat-averaged response), so that
normalised brain alignment is simply ``r / ceiling``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from brainalign.metrics import columnwise_pearson


def nsd_effective_inverse_n(repeat_counts: ArrayLike) -> float:
    """``1/n`` of the NSD ceiling, corrected for images shown a mixed number of times.

    With A, B, C test images shown 3, 2 and 1 times, ``1/n`` becomes
    ``(A/3 + B/2 + C/1) / (A + B + C)`` (Allen et al. 2022). Generalised to any
    repeat count: the mean of ``1/count`` over images.
    """
    counts = np.asarray(repeat_counts, dtype=float)
    if counts.size == 0 or np.any(counts < 1):
        raise ValueError("repeat_counts must be a non-empty list of counts >= 1")
    return float(np.mean(1.0 / counts))


def nsd_noise_ceiling(ncsnr: ArrayLike, repeat_counts: ArrayLike) -> NDArray[np.float64]:
    """Correlation ceiling from NSD's ncsnr: ``sqrt(ncsnr^2 / (ncsnr^2 + 1/n))``.

    ``NC (%) = 100 * ncsnr^2 / (ncsnr^2 + 1/n)`` is the explainable variance;
    its square root is the ceiling on Pearson r.
    """
    snr2 = np.square(np.asarray(ncsnr, dtype=float))
    inv_n = nsd_effective_inverse_n(repeat_counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = snr2 / (snr2 + inv_n)
    return np.sqrt(np.clip(nc, 0.0, 1.0))


def ncsnr_from_repeats(trials: NDArray, stimulus_ids: ArrayLike) -> NDArray[np.float64]:
    """Estimate ncsnr per voxel from single trials with repeated stimuli.

    ``trials`` is (trial, voxel), already z-scored per session as in NSD.
    Noise sd = sqrt(mean within-stimulus variance); signal sd =
    sqrt(max(0, total variance - noise variance)); ncsnr = signal sd / noise sd.
    Only stimuli with at least two repeats inform the noise estimate.
    """
    trials = np.asarray(trials, dtype=float)
    ids = np.asarray(stimulus_ids)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    rep = counts[inverse] >= 2
    if not np.any(rep):
        raise ValueError("no stimulus was shown twice: cannot estimate ncsnr")
    var_sum = np.zeros(trials.shape[1])
    dof = 0
    for k in np.flatnonzero(counts >= 2):
        block = trials[inverse == k]
        var_sum += block.var(axis=0, ddof=1) * (len(block) - 1)
        dof += len(block) - 1
    noise_var = var_sum / dof
    total_var = trials[rep].var(axis=0, ddof=1)
    signal_var = np.clip(total_var - noise_var, 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(signal_var) / np.sqrt(noise_var)


def spearman_brown(r: ArrayLike, factor: float = 2.0) -> NDArray[np.float64]:
    """Reliability of the average of ``factor`` measurements from one-measurement reliability ``r``."""
    r = np.asarray(r, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return factor * r / (1.0 + (factor - 1.0) * r)


def split_half_ceiling(rep1: NDArray, rep2: NDArray, n_presentations: float = 2.0) -> NDArray[np.float64]:
    """Correlation ceiling of the average of ``n_presentations`` repeats, from two repeats (time x voxel).

    The split-half correlation estimates single-repeat reliability; Spearman-Brown
    gives the reliability of the average, whose square root bounds Pearson r.
    Negative reliabilities are set to 0. The scored responses must be that
    average (by default the mean of the two repeats given).
    """
    a = np.asarray(rep1, dtype=float)
    b = np.asarray(rep2, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"repeats differ in shape: {a.shape} vs {b.shape}")
    r_half = columnwise_pearson(a, b)
    reliability = np.clip(spearman_brown(np.clip(r_half, 0.0, None), n_presentations), 0.0, 1.0)
    return np.sqrt(reliability)


def fit_saturation(sizes: NDArray, curve: NDArray, taus: NDArray | None = None) -> NDArray:
    """Least-squares ``v0`` of ``v(x) = v0 * (1 - exp(-x / tau))`` per column of ``curve``.

    ``curve`` is (len(sizes) x voxel); tau is searched on a log grid, v0 solved in
    closed form for each tau, and the best (tau, v0) pair kept per voxel.
    """
    taus = np.geomspace(0.1, 50, 60) if taus is None else taus
    g = 1.0 - np.exp(-np.asarray(sizes, float)[:, None] / taus[None, :])  # sizes x taus
    v0 = (g.T @ curve) / (g**2).sum(axis=0)[:, None]  # taus x voxels
    sse = ((curve[None, :, :] - g.T[:, :, None] * v0[:, None, :]) ** 2).sum(axis=1)
    return v0[sse.argmin(axis=0), np.arange(curve.shape[1])]


def cross_subject_ceiling(
    subject_responses: list[NDArray],
    target: int,
    train: NDArray,
    test: NDArray,
    groups: NDArray | None = None,
    n_bootstrap: int = 100,
    alphas: NDArray | None = None,
    seed: int = 0,
    backend: str = "numpy",
) -> NDArray[np.float64]:
    """Cross-subject prediction ceiling of one subject (SPEC "Movies").

    For every subset size x of source subjects, predict the target subject's
    test responses from the concatenated responses of x other subjects with
    ridge (alpha by CV on the training samples), score Pearson r per voxel,
    fit ``v(x) = v0 * (1 - exp(-x / tau0))`` per voxel over subset sizes (tau0 at
    most twice the largest subset size), and
    return the median v0 over ``n_bootstrap`` resamplings of subsets, in [0, 1].
    """
    from brainalign.encoding.fitting import fit_ridge_predict

    rng = np.random.default_rng(seed)
    others = [i for i in range(len(subject_responses)) if i != target]
    if not others:
        raise ValueError("cross-subject ceiling needs at least two subjects")
    y = subject_responses[target]
    for i in others:
        if subject_responses[i].shape[0] != y.shape[0]:
            raise ValueError(f"subject {i} has {subject_responses[i].shape[0]} samples, target {y.shape[0]}")
    sizes = np.arange(1, len(others) + 1)
    v0s = np.empty((n_bootstrap, y.shape[1]))
    group_train = None if groups is None else np.asarray(groups)[train]
    for b in range(n_bootstrap):
        curve = np.empty((len(sizes), y.shape[1]))
        for i, size in enumerate(sizes):
            chosen = rng.choice(others, size=size, replace=False)
            x = np.concatenate([subject_responses[j] for j in chosen], axis=1)
            pred = fit_ridge_predict(x[train], y[train], x[test], groups=group_train, alphas=alphas, backend=backend)
            curve[i] = np.nan_to_num(columnwise_pearson(pred, y[test]))
        # tau is bounded by twice the largest subset: with few subjects, an unbounded
        # tau lets a small positive r of a pure-noise voxel extrapolate to a high v0.
        taus = np.geomspace(0.1, 2.0 * sizes[-1], 60)
        v0s[b] = curve[0] if len(sizes) == 1 else fit_saturation(sizes, curve, taus)
    return np.clip(np.median(v0s, axis=0), 0.0, 1.0)
