"""Statistics: block permutation, across-subject tests, BH-FDR, bootstrap CIs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps


def block_permutation(n: int, block_size: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """A permutation of ``range(n)`` that shuffles contiguous blocks (keeps autocorrelation)."""
    if block_size <= 1:
        return rng.permutation(n)
    blocks = [np.arange(i, min(i + block_size, n)) for i in range(0, n, block_size)]
    return np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])


def roi_permutation_test(
    prediction: NDArray,
    observed: NDArray,
    roi_mask: NDArray,
    n_permutations: int,
    block_size: int,
    seed: int = 0,
) -> tuple[NDArray, NDArray]:
    """ROI-mean test correlation and its permutation p-value, per ROI.

    The observed responses are permuted (in blocks of ``block_size`` samples for
    time series, single samples for images) against the predictions; the null
    statistic is the ROI mean of voxelwise Pearson r. Returns (roi_mean_r, p).
    p uses the (k + 1) / (n + 1) estimator, so it is never 0.
    """
    counts = _permutation_counts(prediction, observed, roi_mask, n_permutations, block_size, seed)
    return counts.roi_r, (counts.roi_exceed + 1.0) / (n_permutations + 1.0)


@dataclass
class _PermutationCounts:
    r: NDArray  # voxelwise r
    exceed: NDArray  # permutations whose voxel r reaches it
    roi_r: NDArray
    roi_exceed: NDArray


def _permutation_counts(
    prediction: NDArray, observed: NDArray, roi_mask: NDArray | None, n_permutations: int, block_size: int, seed: int,
) -> _PermutationCounts:
    """One pass of block permutations, counted for voxels and (with ``roi_mask``) ROI means."""
    rng = np.random.default_rng(seed)
    zp, zo = _zcols(prediction), _zcols(observed)
    n = zp.shape[0]
    weights = None if roi_mask is None else np.asarray(roi_mask, dtype=float)

    def roi_means(r: NDArray) -> NDArray:
        return np.zeros(0) if weights is None else weights @ r / np.maximum(weights.sum(axis=1), 1)

    actual = np.nan_to_num((zp * zo).mean(axis=0))
    roi_actual = roi_means(actual)
    exceed, roi_exceed = np.zeros(actual.shape), np.zeros(roi_actual.shape)
    for _ in range(n_permutations):
        r = np.nan_to_num((zp * zo[block_permutation(n, block_size, rng)]).mean(axis=0))
        exceed += r >= actual
        roi_exceed += roi_means(r) >= roi_actual
    return _PermutationCounts(actual, exceed, roi_actual, roi_exceed)


def _zcols(x: NDArray) -> NDArray:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, np.inf)


def fdr_bh(p: ArrayLike) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (NaNs kept in place)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = sps.false_discovery_control(p[ok], method="bh")
    return out


def bootstrap_ci(values: ArrayLike, n_bootstrap: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = rng.choice(v, size=(n_bootstrap, v.size), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


TESTS = ("auto", "ttest", "wilcoxon")
SMALL_N = 6  # below this many subjects an exact Wilcoxon test cannot reach p < 0.05 (two-sided)


def resolve_test(test: str, n: int) -> str:
    """The test actually used for ``n`` paired values.

    ``auto`` (the default) is the t-test when ``n < 6`` (an exact two-sided Wilcoxon
    test's smallest p with 4 subjects is 0.125) and the Wilcoxon signed-rank test
    otherwise; ``ttest`` and ``wilcoxon`` force one.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; allowed: {', '.join(TESTS)}")
    if test == "auto":
        return "ttest" if n < SMALL_N else "wilcoxon"
    return test


def paired_test(a: ArrayLike, b: ArrayLike, test: str = "auto") -> tuple[float, float]:
    """Across-subject paired comparison of ``a`` and ``b``: (statistic, two-sided p)."""
    stat, p, _ = paired_test_named(a, b, test)
    return stat, p


def paired_test_named(a: ArrayLike, b: ArrayLike, test: str = "auto") -> tuple[float, float, str]:
    """:func:`paired_test` plus the name of the test used (``ttest`` or ``wilcoxon``)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    used = resolve_test(test, int(ok.sum()))
    if ok.sum() < 2:
        return float("nan"), float("nan"), used
    d = a[ok] - b[ok]
    if np.allclose(d, 0):
        return 0.0, 1.0, used
    if used == "wilcoxon":
        res = sps.wilcoxon(a[ok], b[ok])
    else:
        res = sps.ttest_rel(a[ok], b[ok])
    return float(res.statistic), float(res.pvalue), used


def one_sample_test(values: ArrayLike, test: str = "auto") -> tuple[float, float]:
    """Across-subject test that the mean differs from 0: (statistic, two-sided p)."""
    v = np.asarray(values, dtype=float)
    return paired_test(v, np.zeros_like(v), test)


def across_subjects(table: pd.DataFrame, by: list[str], test: str, n_bootstrap: int, seed: int = 0) -> pd.DataFrame:
    """Mean over subjects, bootstrap CI and a one-sample test per group; BH-FDR over groups.

    The ``test`` column names the test used for each row (see :func:`resolve_test`).
    """
    rows = []
    for key, grp in table.groupby(by, dropna=False, sort=True):
        vals = grp["value"].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(vals, n_bootstrap, seed=seed)
        stat, p, used = paired_test_named(vals, np.zeros_like(vals), test)
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "mean": np.nanmean(vals),
                     "ci_low": lo, "ci_high": hi, "n_subjects": int((~np.isnan(vals)).sum()),
                     "statistic": stat, "p": p, "test": used})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["p_fdr"] = fdr_bh(out["p"].to_numpy())
    return out


def voxel_permutation_test(
    prediction: NDArray, observed: NDArray, n_permutations: int, block_size: int, seed: int = 0,
) -> tuple[NDArray, NDArray]:
    """Voxelwise test-set Pearson r and its one-sided permutation p-value.

    The observed responses are permuted against the predictions in blocks of
    ``block_size`` samples (time series) or singly (images); p = (k + 1) / (n + 1)
    with k the permutations whose r reaches the actual r. Correct the p-values
    over voxels with :func:`fdr_bh`.
    """
    counts = _permutation_counts(prediction, observed, None, n_permutations, block_size, seed)
    return counts.r, (counts.exceed + 1.0) / (n_permutations + 1.0)


def permutation_tests(
    prediction: NDArray, observed: NDArray, roi_mask: NDArray, n_permutations: int, block_size: int, seed: int = 0,
) -> tuple[NDArray, NDArray, NDArray]:
    """ROI-mean r with its permutation p, and every voxel's p, from one shared set of permutations.

    Same statistics as :func:`roi_permutation_test` (ROI mean of voxelwise r) and
    :func:`voxel_permutation_test`; each permutation is drawn once and serves both.
    Returns (roi_mean_r, roi_p, voxel_p); p-values are NaN without permutations.
    """
    counts = _permutation_counts(prediction, observed, roi_mask, n_permutations, block_size, seed)
    if n_permutations == 0:
        return counts.roi_r, np.full(len(counts.roi_r), np.nan), np.full(len(counts.r), np.nan)
    return (counts.roi_r, (counts.roi_exceed + 1.0) / (n_permutations + 1.0),
            (counts.exceed + 1.0) / (n_permutations + 1.0))


def fraction_significant(p: NDArray, roi_mask: NDArray, alpha: float = 0.05) -> NDArray:
    """Per ROI: the fraction of its voxels whose BH-FDR adjusted p (over all voxels) is below ``alpha``."""
    q = fdr_bh(p)
    sig = (q < alpha).astype(float)
    mask = np.asarray(roi_mask, dtype=float)
    return mask @ sig / np.maximum(mask.sum(axis=1), 1)
