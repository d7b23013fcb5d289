"""Variance partitioning: SPEC formulas and recovery of known shared and unique parts."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.encoding.fitting import RidgeSettings
from brainalign.partition import partition_pair, partition_scores
from brainalign.stores import validate

from .conftest import brain_dataset, features_dataset

SETTINGS = RidgeSettings(alphas=np.logspace(-2, 4, 10), n_folds=3, n_iter=10)


def test_partition_scores_by_hand():
    out = partition_scores(np.array([0.5, 0.4]), np.array([0.3, 0.4]), np.array([0.6, 0.4]))
    np.testing.assert_allclose(out["shared"], [0.2, 0.4])
    np.testing.assert_allclose(out["unique_a"], [0.3, 0.0])
    np.testing.assert_allclose(out["unique_b"], [0.1, 0.0])
    np.testing.assert_allclose(out["joint"], [0.6, 0.4])
    # unique1 = NBA1 - shared = NBA12 - NBA2 (SPEC)
    np.testing.assert_allclose(out["unique_a"], out["joint"] - np.array([0.3, 0.4]))
    np.testing.assert_allclose(out["unique_a"] + out["shared"], [0.5, 0.4])
    np.testing.assert_allclose(out["unique_b"] + out["shared"], [0.3, 0.4])


@pytest.fixture(scope="module")
def known_parts():
    """A = [U_a, S], B = [U_b, S]; voxel groups driven by U_a, by U_b and by S (10 voxels each)."""
    rng = np.random.default_rng(0)
    n_train, n_test = 240, 120
    n = n_train + n_test
    ua, ub, s = (rng.standard_normal((n, 4)) for _ in range(3))
    y = np.concatenate([z @ rng.standard_normal((4, 10)) / 2 for z in (ua, ub, s)], axis=1)
    y += 0.5 * rng.standard_normal(y.shape)
    runs = np.repeat(["s1", "s2", "s3", "s4"], n_train // 4).tolist() + ["test"] * n_test
    split = ["train"] * n_train + ["test"] * n_test
    mask = np.zeros((3, 30), dtype=bool)
    for i in range(3):
        mask[i, 10 * i: 10 * (i + 1)] = True
    ceiling = np.full(30, 0.9)
    ids = [f"i{k}" for k in range(n)]
    brain = brain_dataset(y, runs, split, ceiling=ceiling, roi_mask=mask, ids=ids)
    fa = features_dataset(np.concatenate([ua, s], axis=1)[None], ids, model="A", instruction="IC")
    fb = features_dataset(np.concatenate([ub, s], axis=1)[None], ids, model="B", instruction="VQ1")
    return brain, fa, fb


def test_partition_recovers_known_parts_r2(known_parts):
    brain, fa, fb = known_parts
    ds = partition_pair(fa, 0, fb, -1, brain, SETTINGS, [1], 0.05, metric="r2")
    validate(ds, "partition")
    ua_vox, ub_vox, s_vox = slice(0, 10), slice(10, 20), slice(20, 30)
    ua, ub, shared = ds["unique_a"].values, ds["unique_b"].values, ds["shared"].values
    # voxels driven by A's own part: unique to A
    assert ua[ua_vox].mean() > 0.5 and abs(ub[ua_vox].mean()) < 0.05 and abs(shared[ua_vox].mean()) < 0.1
    # voxels driven by B's own part: unique to B
    assert ub[ub_vox].mean() > 0.5 and abs(ua[ub_vox].mean()) < 0.05 and abs(shared[ub_vox].mean()) < 0.1
    # voxels driven by the common part: shared, nothing unique
    assert shared[s_vox].mean() > 0.5 and abs(ua[s_vox].mean()) < 0.05 and abs(ub[s_vox].mean()) < 0.05
    # parts are consistent with the stored separate and joint scores
    np.testing.assert_allclose(ds["shared"] + ds["unique_a"], ds["score_a"], atol=1e-5)
    np.testing.assert_allclose(ds["shared"] + ds["unique_b"], ds["score_b"], atol=1e-5)
    np.testing.assert_allclose(ds["joint"], ds["score_ab"], atol=1e-6)
    assert ds.attrs["metric"] == "r2"
    assert (ds.attrs["a_model"], ds.attrs["a_instruction"], ds.attrs["a_layer"]) == ("A", "IC", 0)
    assert (ds.attrs["b_model"], ds.attrs["b_instruction"], ds.attrs["b_layer"]) == ("B", "VQ1", 0)
    assert ds["roi_mask"].shape == (3, 30)


def test_partition_normalized_metric_uses_ceiling(known_parts):
    brain, fa, fb = known_parts
    ds = partition_pair(fa, 0, fb, 0, brain, SETTINGS, [], 0.05, metric="normalized")
    assert ds.attrs["metric"] == "normalized"
    # with a ceiling of 0.9 every separate score is r / 0.9: the shared voxels are near r_max / 0.9 for both
    s_vox = slice(20, 30)
    assert ds["score_a"].values[s_vox].mean() > 0.9
    np.testing.assert_allclose(ds["shared"] + ds["unique_a"], ds["score_a"], atol=1e-5)
    assert ds["shared"].values[s_vox].mean() > ds["unique_a"].values[s_vox].mean() + 0.5


def test_partition_unknown_metric(known_parts):
    brain, fa, fb = known_parts
    with pytest.raises(ValueError, match="unknown partition metric 'r'; allowed: normalized, r2"):
        partition_pair(fa, 0, fb, 0, brain, SETTINGS, [], 0.05, metric="r")
