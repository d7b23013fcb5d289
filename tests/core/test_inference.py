"""Statistics: block permutations, ROI permutation test, BH-FDR, bootstrap CIs, across-subject tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from brainalign.statistics.inference import (
    across_subjects,
    block_permutation,
    bootstrap_ci,
    fdr_bh,
    fraction_significant,
    one_sample_test,
    paired_test,
    resolve_test,
    roi_permutation_test,
    voxel_permutation_test,
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
    with pytest.raises(ValueError, match="unknown test 'sign'; allowed: auto, ttest, wilcoxon"):
        paired_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], "sign")
    assert one_sample_test([0.1, 0.2, 0.3, 0.4, 0.5], "wilcoxon")[1] == pytest.approx(2 / 32)
    # the default with 5 subjects is the t-test
    assert one_sample_test([0.1, 0.2, 0.3, 0.4, 0.5])[1] == pytest.approx(
        sps.ttest_1samp([0.1, 0.2, 0.3, 0.4, 0.5], 0).pvalue)


def test_default_test_by_number_of_subjects():
    assert [resolve_test("auto", n) for n in (3, 4, 5, 6, 10)] == ["ttest"] * 3 + ["wilcoxon"] * 2
    assert resolve_test("wilcoxon", 4) == "wilcoxon" and resolve_test("ttest", 20) == "ttest"
    # why: the smallest exact two-sided Wilcoxon p with 4 subjects is 2 / 2^4
    assert paired_test([0.3, 0.31, 0.29, 0.32], np.zeros(4), "wilcoxon")[1] == pytest.approx(0.125)


def test_four_subjects_with_a_real_effect_reach_significance():
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(200):
        values = 0.1 + 0.03 * rng.standard_normal(4)  # effect of 3 between-subject sd
        hits += one_sample_test(values)[1] < 0.05
    assert hits / 200 > 0.9
    out = across_subjects(pd.DataFrame({"roi": "EV", "value": [0.12, 0.09, 0.11, 0.1]}), ["roi"], "auto", 100)
    assert out.loc[0, "p"] < 0.05 and out.loc[0, "test"] == "ttest"


def test_four_subjects_without_effect_are_significant_at_the_nominal_rate():
    rng = np.random.default_rng(6)
    p = np.array([one_sample_test(0.03 * rng.standard_normal(4))[1] for _ in range(2000)])
    assert 0.035 < (p < 0.05).mean() < 0.065
    p = np.array([paired_test(*(0.1 + 0.03 * rng.standard_normal((2, 4))))[1] for _ in range(2000)])
    assert 0.035 < (p < 0.05).mean() < 0.065


def test_voxel_permutation_test_and_fraction_significant():
    rng = np.random.default_rng(0)
    n = 120
    obs = rng.standard_normal((n, 20))
    pred = np.concatenate([obs[:, :10] + 0.5 * rng.standard_normal((n, 10)), rng.standard_normal((n, 10))], axis=1)
    r, p = voxel_permutation_test(pred, obs, 199, 10, seed=2)
    np.testing.assert_allclose(r[0], np.corrcoef(pred[:, 0], obs[:, 0])[0, 1], atol=1e-12)
    assert (p[:10] == 1 / 200).all()  # strong signal: no permutation reaches it
    assert (p[10:] > 0.01).sum() >= 8
    mask = np.zeros((2, 20), dtype=bool)
    mask[0, :10] = mask[1, 10:] = True
    frac = fraction_significant(p, mask)
    assert frac[0] == 1.0 and frac[1] <= 0.1
    np.testing.assert_array_equal(voxel_permutation_test(pred, obs, 199, 10, seed=2)[1], p)


def test_voxel_permutation_is_calibrated_under_the_null():
    rng = np.random.default_rng(1)
    n, v = 100, 400
    _, p = voxel_permutation_test(rng.standard_normal((n, v)), rng.standard_normal((n, v)), 99, 1, seed=0)
    assert 0.02 < (p < 0.05).mean() < 0.09
    assert (fdr_bh(p) < 0.05).mean() < 0.01


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


def test_permutation_tests_share_permutations_and_match_the_separate_tests():
    from brainalign.statistics.inference import permutation_tests, roi_permutation_test, voxel_permutation_test

    rng = np.random.default_rng(5)
    obs = rng.standard_normal((80, 12))
    pred = obs + rng.standard_normal((80, 12)) * np.r_[np.full(6, 0.5), np.full(6, 20.0)]
    mask = np.zeros((2, 12), bool)
    mask[0, :6], mask[1, 6:] = True, True
    roi_r, roi_p, vox_p = permutation_tests(pred, obs, mask, 99, 5, seed=3)
    ref_r, ref_p = roi_permutation_test(pred, obs, mask, 99, 5, seed=3)
    _, ref_vox = voxel_permutation_test(pred, obs, 99, 5, seed=3)
    np.testing.assert_allclose(roi_r, ref_r)
    np.testing.assert_allclose(roi_p, ref_p)
    np.testing.assert_allclose(vox_p, ref_vox)
    assert vox_p[:6].max() == pytest.approx(0.01) and roi_p[0] == pytest.approx(0.01)
    assert np.isnan(permutation_tests(pred, obs, mask, 0, 5)[2]).all()
