"""Statistics: block permutations, ROI permutation test, BH-FDR, bootstrap CIs, across-subject tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from brainalign.stats import (
    across_subjects,
    block_permutation,
    bootstrap_ci,
    fdr_bh,
    one_sample_test,
    paired_test,
    roi_permutation_test,
)


def test_block_permutation_moves_whole_blocks():
    perm = block_permutation(23, 5, np.random.default_rng(0))
    assert sorted(perm) == list(range(23))
    starts = [0, 5, 10, 15, 20]
    chunks, i = [], 0
    while i < 23:  # read the permutation back as blocks: each starts at a block start and runs contiguously
        assert perm[i] in starts
        length = 3 if perm[i] == 20 else 5
        np.testing.assert_array_equal(perm[i:i + length], np.arange(perm[i], perm[i] + length))
        chunks.append(perm[i])
        i += length
    assert sorted(chunks) == starts
    np.testing.assert_array_equal(block_permutation(23, 5, np.random.default_rng(0)), perm)  # seeded
    assert not np.array_equal(block_permutation(23, 5, np.random.default_rng(1)), perm)
    np.testing.assert_array_equal(block_permutation(7, 1, np.random.default_rng(2)),
                                  np.random.default_rng(2).permutation(7))


def test_roi_permutation_test_statistic_and_p():
    rng = np.random.default_rng(0)
    n, v = 100, 6
    obs = rng.standard_normal((n, v))
    pred = np.concatenate([obs[:, :3] + 0.3 * rng.standard_normal((n, 3)), rng.standard_normal((n, 3))], axis=1)
    mask = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=bool)
    actual, p = roi_permutation_test(pred, obs, mask, 99, 10, seed=1)
    r = np.array([np.corrcoef(pred[:, j], obs[:, j])[0, 1] for j in range(v)])
    np.testing.assert_allclose(actual, [r[:3].mean(), r[3:].mean(), 0.0], atol=1e-12)
    assert p[0] == pytest.approx(1 / 100)  # never 0: (k + 1) / (n + 1)
    assert p[1] > 0.05
    assert p[2] == 1.0  # an empty ROI (mean 0) never beats its permutations
    np.testing.assert_allclose(np.round(p * 100), p * 100)  # p = (k + 1) / 100
    again = roi_permutation_test(pred, obs, mask, 99, 10, seed=1)
    np.testing.assert_array_equal(again[1], p)


def test_roi_permutation_p_matches_independent_count():
    rng = np.random.default_rng(3)
    n = 40
    obs = rng.standard_normal((n, 2))
    pred = obs + 2.0 * rng.standard_normal((n, 2))
    mask = np.ones((1, 2), dtype=bool)
    _, p = roi_permutation_test(pred, obs, mask, 50, 4, seed=7)
    # recompute with the same permutations
    gen = np.random.default_rng(7)
    actual = np.mean([np.corrcoef(pred[:, j], obs[:, j])[0, 1] for j in range(2)])
    k = 0
    for _ in range(50):
        perm = block_permutation(n, 4, gen)
        null = np.mean([np.corrcoef(pred[:, j], obs[perm, j])[0, 1] for j in range(2)])
        k += null >= actual - 1e-12
    assert p[0] == pytest.approx((k + 1) / 51)


def test_fdr_bh_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4) -> 0.02, 0.02, 0.04, 0.04 after the step-up minimum
    np.testing.assert_allclose(fdr_bh(p), [0.02, 0.04, 0.04, 0.02, np.nan])
    np.testing.assert_allclose(fdr_bh([0.5, 0.9]), [0.9, 0.9])
    assert np.isnan(fdr_bh([np.nan, np.nan])).all()


def test_bootstrap_ci():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 1.0, 50)
    lo, hi = bootstrap_ci(values, 2000, 0.95, seed=4)
    assert lo < values.mean() < hi
    half_width = 1.96 * values.std(ddof=1) / math.sqrt(50)  # normal-theory interval for comparison
    assert (hi - lo) / 2 == pytest.approx(half_width, rel=0.15)
    assert bootstrap_ci(values, 2000, 0.95, seed=4) == (lo, hi)
    assert bootstrap_ci(np.r_[values, np.nan], 2000, 0.95, seed=4) == (lo, hi)  # NaNs ignored
    assert bootstrap_ci([2.0, 2.0, 2.0], 100) == (2.0, 2.0)
    assert all(math.isnan(x) for x in bootstrap_ci([np.nan]))
    lo90, hi90 = bootstrap_ci(values, 2000, 0.90, seed=4)
    assert lo < lo90 and hi90 < hi


def test_paired_ttest_by_hand():
    a = np.array([0.30, 0.25, 0.40, 0.35, 0.28])
    b = np.array([0.20, 0.22, 0.31, 0.30, 0.29])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    p = 2 * sps.t.sf(abs(t), len(d) - 1)
    stat, pv = paired_test(a, b, "ttest")
    assert stat == pytest.approx(t) and pv == pytest.approx(p)


def test_wilcoxon_by_hand():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    stat, p = paired_test(a + np.array([0.1, 0.2, 0.3, 0.4, 0.5]), a, "wilcoxon")
    # all 5 differences positive: W- = 0, exact two-sided p = 2 / 2^5
    assert stat == 0.0 and p == pytest.approx(2 / 32)
    stat, p = paired_test([0.1, -0.2, 0.3, -0.4, 0.5, 0.6], np.zeros(6), "wilcoxon")
    # ranks 1..6, negatives have ranks 2 and 4: W- = 6 = min(W+, W-); exact p = 2 * P(W <= 6) = 2 * 14 / 64
    # (subsets of ranks 1..6 summing to <= 6: 1 + 1 + 1 + 2 + 2 + 3 + 4 = 14)
    assert stat == 6.0 and p == pytest.approx(2 * 14 / 64)


def test_paired_test_edge_cases():
    assert paired_test([1.0, 2.0], [1.0, 2.0]) == (0.0, 1.0)
    assert all(math.isnan(x) for x in paired_test([1.0, np.nan], [0.0, 0.0]))
    with pytest.raises(ValueError, match="unknown test 'sign'; allowed: wilcoxon, ttest"):
        paired_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], "sign")
    assert one_sample_test([0.1, 0.2, 0.3, 0.4, 0.5])[1] == pytest.approx(2 / 32)


def test_across_subjects_groups_and_fdr():
    rows = []
    for roi, offset in (("EV", 0.5), ("HV", 0.0), ("LANG", 0.3)):
        for s in range(5):
            rows.append({"roi": roi, "model": "m", "value": offset + 0.01 * (s + 1) * (1 if offset else (-1) ** s)})
    table = pd.DataFrame(rows)
    out = across_subjects(table, ["roi", "model"], "ttest", 200, seed=0)
    assert list(out["roi"]) == ["EV", "HV", "LANG"]
    assert out.loc[0, "mean"] == pytest.approx(table[table.roi == "EV"]["value"].mean())
    assert (out["n_subjects"] == 5).all()
    for _, row in out.iterrows():
        vals = table[table.roi == row["roi"]]["value"].to_numpy()
        assert row["p"] == pytest.approx(sps.ttest_1samp(vals, 0).pvalue)
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    np.testing.assert_allclose(out["p_fdr"], fdr_bh(out["p"].to_numpy()))
    assert across_subjects(table.iloc[:0], ["roi"], "ttest", 10).empty
