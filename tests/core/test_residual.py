"""Residual analysis: removing feature space B from A with a residualiser fitted on training rows."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.encoding.layerwise import encode_features
from brainalign.encoding.fitting import RidgeSettings
from brainalign.residual import encode_residual, remove_space

from .conftest import brain_dataset, features_dataset

SETTINGS = RidgeSettings(alphas=np.logspace(-2, 4, 10), n_folds=3)
N_TRAIN, N_TEST = 240, 60


def _spaces(seed: int = 0):
    """B, an independent part C, and A = [B M, C] (A shares 6 dims with B and has 6 of its own)."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    b = rng.standard_normal((n, 6))
    c = rng.standard_normal((n, 6))
    a = np.concatenate([b @ rng.standard_normal((6, 6)), c], axis=1)
    groups = np.repeat(["s1", "s2", "s3", "s4"], N_TRAIN // 4)
    return a, b, c, groups


def test_remove_space_removes_what_b_explains():
    a, b, c, groups = _spaces()
    tr, te = slice(0, N_TRAIN), slice(N_TRAIN, None)
    res_train, res_test = remove_space(a[tr], a[te], b[tr], b[te], groups, SETTINGS)
    assert res_train.shape == (N_TRAIN, 12) and res_test.shape == (N_TEST, 12)
    # the B-driven columns are gone, the independent part survives almost unchanged
    assert np.linalg.norm(res_test[:, :6]) < 0.05 * np.linalg.norm(a[te][:, :6])
    for j in range(6):
        assert np.corrcoef(res_test[:, 6 + j], c[te][:, j])[0, 1] > 0.95
    assert np.linalg.norm(res_train[:, :6]) < 0.05 * np.linalg.norm(a[tr][:, :6])


def test_residualiser_uses_training_rows_only():
    a, b, _, groups = _spaces(1)
    tr, te = slice(0, N_TRAIN), slice(N_TRAIN, None)
    _, res = remove_space(a[tr], a[te], b[tr], b[te], groups, SETTINGS)
    a_test = a[te].copy()
    a_test[5:] += 100.0  # changing test targets must not change the fitted residualiser
    b_test = b[te].copy()
    b_test[5:] *= -3.0
    _, res2 = remove_space(a[tr], a_test, b[tr], b_test, groups, SETTINGS)
    np.testing.assert_allclose(res2[:5], res[:5], rtol=1e-5, atol=1e-5)


def test_encode_residual_drops_only_the_shared_part():
    a, b, c, _ = _spaces(2)
    rng = np.random.default_rng(3)
    n = N_TRAIN + N_TEST
    y = np.concatenate([b @ rng.standard_normal((6, 10)), c @ rng.standard_normal((6, 10))], axis=1)
    y += 0.5 * rng.standard_normal(y.shape)
    runs = np.repeat(["s1", "s2", "s3", "s4"], N_TRAIN // 4).tolist() + ["test"] * N_TEST
    split = ["train"] * N_TRAIN + ["test"] * N_TEST
    ids = [f"i{k}" for k in range(n)]
    brain = brain_dataset(y, runs, split, ids=ids)  # roi0 = B-driven voxels, roi1 = C-driven voxels
    target = features_dataset(np.stack([np.zeros_like(a), a]), ids, model="multi")
    remove = features_dataset(b[None], ids, model="uni", instruction="none")
    ds = encode_residual(target, remove, -1, brain, SETTINGS, [1], 0.05, target_layer=1)
    r = ds["r"].values[0]
    assert ds.sizes["layer"] == 1 and int(ds["layer"].values[0]) == 1
    assert abs(r[:10].mean()) < 0.2  # what B explained is gone
    assert r[10:].mean() > 0.8  # the unique part of A still predicts its voxels
    assert ds.attrs["analysis"] == "residual"
    assert (ds.attrs["removed_model"], ds.attrs["removed_instruction"], ds.attrs["removed_layer"]) == ("uni", "none", 0)
    every = encode_residual(target, remove, 0, brain, SETTINGS, [1], 0.05, target_layer=None)
    assert every.sizes["layer"] == 2
    np.testing.assert_allclose(every["r"].values[1], r, atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        encode_residual(target, remove, 3, brain, SETTINGS, [1], 0.05)


def test_removing_a_space_from_itself_leaves_nothing_and_an_unrelated_space_changes_little():
    a, b, c, _ = _spaces(4)
    rng = np.random.default_rng(5)
    n = N_TRAIN + N_TEST
    y = a @ rng.standard_normal((12, 20)) / np.sqrt(12) + 0.5 * rng.standard_normal((n, 20))
    runs = np.repeat(["s1", "s2", "s3", "s4"], N_TRAIN // 4).tolist() + ["test"] * N_TEST
    ids = [f"i{k}" for k in range(n)]
    brain = brain_dataset(y, runs, ["train"] * N_TRAIN + ["test"] * N_TEST, ids=ids)
    target = features_dataset(a[None], ids, model="multi")
    original = encode_features(target, brain, SETTINGS, [], 0.05)["r"].values.mean()
    # ridge leaves a shrunk copy of what it explains, so not all is gone, but it must not be rescaled back
    itself = encode_residual(target, target, 0, brain, SETTINGS, [], 0.05)
    assert itself["r"].values.mean() < 0.75 * original
    unrelated = features_dataset(rng.standard_normal((1, n, 6)), ids, model="other")
    kept = encode_residual(target, unrelated, 0, brain, SETTINGS, [], 0.05)
    assert kept["r"].values.mean() > 0.95 * original
