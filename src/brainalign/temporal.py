"""Temporal alignment of stimulus features to fMRI volumes (TRs).

Sub-TR stimulus units (words, frames, audio windows) become one feature
vector per TR, then FIR delays stack copies shifted by 1..K TRs so a linear
model can learn each voxel's haemodynamic response. Nothing crosses a run
boundary: delays are zero-padded at the start of each run.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def lanczos_kernel(t: NDArray, cutoff: float, window: int = 3) -> NDArray:
    """Lanczos (windowed sinc) low-pass kernel with cutoff frequency ``cutoff`` (Hz).

    ``sinc(2 cutoff t) * sinc(2 cutoff t / window)``: 1 at ``t = 0``, zero beyond
    ``window`` lobes. At the TR grid's Nyquist frequency (``1 / (2 tr)``) each lobe
    is one TR wide, as in Huth et al.'s ``lanczosinterp2D``.
    """
    t = np.asarray(t, dtype=float) * 2.0 * cutoff
    return np.where(np.abs(t) < window, np.sinc(t) * np.sinc(t / window), 0.0)


def lanczos_resample(
    values: NDArray, onsets: ArrayLike, target_times: ArrayLike, tr: float, window: int = 3
) -> NDArray:
    """Resample irregularly timed feature vectors (words) to ``target_times``.

    Each target sample is a Lanczos-weighted sum of the events around it, with
    the cutoff at the Nyquist frequency of the TR grid (``1 / (2 tr)``); the
    usual method for word-rate features in naturalistic fMRI encoding.
    """
    values = np.asarray(values, dtype=float)
    onsets = np.asarray(onsets, dtype=float)
    target_times = np.asarray(target_times, dtype=float)
    if values.shape[0] != onsets.shape[0]:
        raise ValueError(f"{values.shape[0]} feature rows but {onsets.shape[0]} onsets")
    weights = lanczos_kernel(target_times[:, None] - onsets[None, :], 1.0 / (2.0 * tr), window)
    return weights @ values


def window_average(
    values: NDArray, onsets: ArrayLike, target_times: ArrayLike, tr: float
) -> NDArray:
    """Average the units whose onset falls in each TR window ``[t, t + tr)``.

    A TR with no unit inside takes the nearest preceding unit (or zeros before
    the first), so brief gaps do not create spurious zeros.
    """
    values = np.asarray(values, dtype=float)
    onsets = np.asarray(onsets, dtype=float)
    target_times = np.asarray(target_times, dtype=float)
    out = np.zeros((len(target_times), values.shape[1]))
    order = np.argsort(onsets, kind="stable")
    onsets, values = onsets[order], values[order]
    starts = np.searchsorted(onsets, target_times, side="left")
    stops = np.searchsorted(onsets, target_times + tr, side="left")
    for i, (a, b) in enumerate(zip(starts, stops)):
        if b > a:
            out[i] = values[a:b].mean(axis=0)
        elif a > 0:
            out[i] = values[a - 1]
    return out


def align_to_trs(
    values: NDArray,
    unit_runs: ArrayLike,
    unit_onsets: ArrayLike,
    tr_runs: ArrayLike,
    tr_times: ArrayLike,
    tr: float,
    method: str,
) -> NDArray:
    """Align unit features to the TRs of every run.

    ``method`` is ``lanczos`` (words) or ``average`` (frames, audio windows, clips).
    Runs present in the brain data but absent from the features raise an error
    naming them.
    """
    if method not in ("lanczos", "average"):
        raise ValueError(f"unknown alignment method {method!r}; allowed: lanczos, average")
    values = np.asarray(values, dtype=float)
    unit_runs = np.asarray(unit_runs).astype(str)
    unit_onsets = np.asarray(unit_onsets, dtype=float)
    tr_runs = np.asarray(tr_runs).astype(str)
    tr_times = np.asarray(tr_times, dtype=float)
    missing = sorted(str(r) for r in set(tr_runs) - set(unit_runs))
    if missing:
        raise ValueError(f"no stimulus features for runs {missing}")
    out = np.zeros((len(tr_times), values.shape[1]))
    resample = lanczos_resample if method == "lanczos" else window_average
    for run in np.unique(tr_runs):
        rows = tr_runs == run
        units = unit_runs == run
        out[rows] = resample(values[units], unit_onsets[units], tr_times[rows], tr)
    return out


def fir_delays(x: NDArray, runs: ArrayLike, delays: list[int]) -> NDArray:
    """Concatenate copies of ``x`` delayed by each of ``delays`` TRs, within runs.

    Row ``t`` of the copy for delay ``d`` holds ``x[t - d]`` from the same run,
    zero where ``t - d`` precedes the run's start.
    """
    x = np.asarray(x)
    runs = np.asarray(runs).astype(str)
    if not delays:
        return x
    blocks = []
    for d in delays:
        if d < 0:
            raise ValueError(f"delays must be >= 0, got {d}")
        shifted = np.zeros_like(x)
        for run in np.unique(runs):
            idx = np.flatnonzero(runs == run)
            if d < len(idx):
                shifted[idx[d:]] = x[idx[: len(idx) - d]] if d else x[idx]
        blocks.append(shifted)
    return np.concatenate(blocks, axis=1)
