"""Ridge encoding: leakage-free folds and scaling, per-voxel alphas, scores, NBA, backends."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.encoding import ridge_encoder as encoder_module
from brainalign.encoding import fitting as encoding
from brainalign.encoding.fitting import (
    RidgeSettings,
    Standardizer,
    fit_ridge_predict,
    fit_score,
    group_folds,
    normalize,
    ridge_settings,
)

N_RUNS, PER_RUN, N_TEST = 6, 40, 80


def _data(n_vox: int = 200, noise: float = 1.0, seed: int = 0):
    """Responses driven by ``x_true``; ``x_noise`` is independent of them."""
    rng = np.random.default_rng(seed)
    n = N_RUNS * PER_RUN + N_TEST
    x_true = rng.standard_normal((n, 10))
    x_noise = rng.standard_normal((n, 10))
    y = x_true @ rng.standard_normal((10, n_vox)) / np.sqrt(10) + noise * rng.standard_normal((n, n_vox))
    groups = np.repeat([f"run-{i}" for i in range(N_RUNS)], PER_RUN)
    tr = slice(0, N_RUNS * PER_RUN)
    te = slice(N_RUNS * PER_RUN, n)
    return x_true, x_noise, y, groups, tr, te


def test_noise_features_score_zero_and_true_features_score_high():
    x_true, x_noise, y, groups, tr, te = _data()
    settings = RidgeSettings(alphas=np.logspace(-1, 4, 12), n_folds=3)
    noise_fit = fit_score(x_noise[tr], y[tr], x_noise[te], y[te], groups, settings)
    assert abs(np.mean(noise_fit.r)) < 0.05
    assert np.mean(noise_fit.r2) < 0.0  # no out-of-sample variance explained
    true_fit = fit_score(x_true[tr], y[tr], x_true[te], y[te], groups, settings)
    assert np.mean(true_fit.r) > 0.6


def test_scores_match_independent_computation():
    x_true, _, y, groups, tr, te = _data(n_vox=20)
    fit = fit_score(x_true[tr], y[tr], x_true[te], y[te], groups, RidgeSettings(n_folds=3))
    r = [np.corrcoef(fit.prediction[:, j], y[te][:, j])[0, 1] for j in range(20)]
    np.testing.assert_allclose(fit.r, r, atol=1e-10)
    resid = ((y[te] - fit.prediction) ** 2).sum(0)
    total = ((y[te] - y[te].mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(fit.r2, 1 - resid / total, atol=1e-10)


def test_prediction_equals_closed_form_ridge_on_training_statistics():
    x_true, _, y, groups, tr, te = _data(n_vox=5)
    alpha = 30.0
    fit = fit_score(x_true[tr], y[tr], x_true[te], y[te], groups, RidgeSettings(alphas=np.array([alpha]), n_folds=3))
    xm, xsd = x_true[tr].mean(0), x_true[tr].std(0)
    ym, ysd = y[tr].mean(0), y[tr].std(0)
    xs, ys = (x_true[tr] - xm) / xsd, (y[tr] - ym) / ysd
    w = np.linalg.solve(xs.T @ xs + alpha * np.eye(xs.shape[1]), xs.T @ ys)
    expected = ((x_true[te] - xm) / xsd) @ w * ysd + ym
    np.testing.assert_allclose(fit.prediction, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.alpha, alpha, rtol=1e-6)


def test_cv_folds_keep_runs_whole(monkeypatch):
    seen = []
    real_folds = encoder_module.group_folds

    def spy(groups, n_folds):
        folds = real_folds(groups, n_folds)
        seen.append(folds)
        return folds

    monkeypatch.setattr(encoder_module, "group_folds", spy)
    x_true, _, y, groups, tr, te = _data(n_vox=4)
    # shuffle the training rows so runs are interleaved in sample order
    order = np.random.default_rng(1).permutation(N_RUNS * PER_RUN)
    fit_score(x_true[tr][order], y[tr][order], x_true[te], y[te], groups[order], RidgeSettings(n_folds=4))
    (folds,) = seen
    assert len(folds) == 4
    val_all = np.concatenate([val for _, val in folds])
    assert sorted(val_all) == list(range(N_RUNS * PER_RUN))  # every training row validated exactly once
    g = groups[order]
    for train_idx, val_idx in folds:
        assert set(g[train_idx]).isdisjoint(g[val_idx])
        for run in set(g[val_idx]):
            assert np.sum(g[val_idx] == run) == PER_RUN  # a run is never split


def test_group_folds_contiguous_blocks_of_runs():
    groups = np.repeat(["a", "b", "c", "d", "e"], 3)
    folds = group_folds(groups, 2)
    assert [sorted(set(groups[v])) for _, v in folds] == [["a", "b", "c"], ["d", "e"]]
    assert len(group_folds(groups, 10)) == 5  # no more folds than runs
    with pytest.raises(ValueError, match="at least 2 runs"):
        group_folds(np.array(["a"] * 4), 3)


def test_scaler_is_fitted_on_training_rows_only(monkeypatch):
    fitted_rows = []
    real_fit = Standardizer.fit.__func__

    def spy(cls, x):
        fitted_rows.append(np.asarray(x).shape[0])
        return real_fit(cls, x)

    monkeypatch.setattr(Standardizer, "fit", classmethod(spy))
    x_true, _, y, groups, tr, te = _data(n_vox=6)
    fit = fit_score(x_true[tr], y[tr], x_true[te], y[te], groups, RidgeSettings(n_folds=3))
    assert fitted_rows == [N_RUNS * PER_RUN, N_RUNS * PER_RUN]
    # predictions of a test row do not depend on the other test rows
    shifted = x_true[te].copy()
    shifted[1:] += 5.0
    other = fit_score(x_true[tr], y[tr], shifted, y[te], groups, RidgeSettings(n_folds=3))
    np.testing.assert_allclose(other.prediction[0], fit.prediction[0], rtol=1e-5)


def test_standardizer_uses_training_statistics():
    train = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = Standardizer.fit(train)
    np.testing.assert_allclose(s.mean, [2.0, 5.0])
    np.testing.assert_allclose(s.std, [1.0, 1.0])  # constant column: sd replaced by 1
    np.testing.assert_allclose(s.transform(np.array([[12.0, 7.0]])), [[10.0, 2.0]])


def test_alphas_per_voxel_from_the_grid():
    rng = np.random.default_rng(3)
    n = N_RUNS * PER_RUN + N_TEST
    x = rng.standard_normal((n, 20))
    signal = x @ rng.standard_normal((20, 20)) / np.sqrt(20)
    y = np.concatenate([signal[:, :10] + 0.05 * rng.standard_normal((n, 10)),
                        signal[:, 10:] + 10.0 * rng.standard_normal((n, 10))], axis=1)
    groups = np.repeat([f"r{i}" for i in range(N_RUNS)], PER_RUN)
    grid = np.logspace(-2, 5, 15)
    fit = fit_score(x[: N_RUNS * PER_RUN], y[: N_RUNS * PER_RUN], x[N_RUNS * PER_RUN:], None, groups,
                    RidgeSettings(alphas=grid, n_folds=3))
    assert fit.alpha.shape == (20,)
    assert all(np.isclose(grid, a, rtol=1e-5).any() for a in fit.alpha)
    assert np.median(fit.alpha[10:]) > 10 * np.median(fit.alpha[:10])  # noisy voxels: stronger penalty
    assert np.all(np.isnan(fit.r)) and fit.prediction.shape == (N_TEST, 20)


def test_normalize_divides_by_ceiling_and_excludes_low_ceilings():
    r = np.array([0.2, 0.3, 0.1, 0.5, -0.1])
    ceiling = np.array([0.5, 0.04, 0.05, np.nan, 0.2])
    np.testing.assert_allclose(normalize(r, ceiling, 0.05), [0.4, np.nan, 2.0, np.nan, -0.5])  # not clipped
    np.testing.assert_allclose(normalize(r, ceiling, 0.3), [0.4, np.nan, np.nan, np.nan, np.nan])


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    x_true, _, y, groups, tr, te = _data(n_vox=30)
    a = fit_score(x_true[tr], y[tr], x_true[te], y[te], groups, RidgeSettings(n_folds=3, backend="numpy"))
    b = fit_score(x_true[tr], y[tr], x_true[te], y[te], groups, RidgeSettings(n_folds=3, backend="torch"))
    np.testing.assert_allclose(a.alpha, b.alpha, rtol=1e-5)
    np.testing.assert_allclose(a.r, b.r, atol=1e-4)
    np.testing.assert_allclose(a.prediction, b.prediction, atol=1e-3)


def test_banded_ridge_fits_each_band():
    x_true, x_noise, y, groups, tr, te = _data(n_vox=20)
    x = np.concatenate([x_true, x_noise], axis=1)
    fit = fit_score(x[tr], y[tr], x[te], y[te], groups, RidgeSettings(n_folds=3, n_iter=5),
                    bands=[slice(0, 10), slice(10, 20)])
    assert fit.prediction.shape == (N_TEST, 20)
    assert np.mean(fit.r) > 0.6
    assert fit.alpha.shape == (20,)


def test_fit_ridge_predict_without_groups():
    x_true, _, y, _, tr, te = _data(n_vox=8)
    pred = fit_ridge_predict(x_true[tr], y[tr], x_true[te], n_folds=3)
    assert pred.shape == (N_TEST, 8)
    r = np.array([np.corrcoef(pred[:, j], y[te][:, j])[0, 1] for j in range(8)])
    assert r.mean() > 0.6


def test_settings_validation_and_config():
    with pytest.raises(ValueError, match="unknown backend 'jax'; allowed: auto, numpy, torch, torch_cuda"):
        RidgeSettings(backend="jax")
    with pytest.raises(ValueError, match="n_folds must be >= 2"):
        RidgeSettings(n_folds=1)
    s = ridge_settings({"alphas": {"min_exp": -1, "max_exp": 2, "num": 4}, "n_folds": 3, "backend": "numpy"})
    np.testing.assert_allclose(s.alphas, [0.1, 1.0, 10.0, 100.0])
    assert (s.n_folds, s.backend, s.n_iter) == (3, "numpy", 20)
    assert encoding.BACKENDS == ("auto", "numpy", "torch", "torch_cuda")


def test_scale_x_false_only_centres_features(monkeypatch):
    x_true, _, y, groups, tr, te = _data(n_vox=5)
    alpha = 30.0
    scaled = x_true * np.r_[np.ones(5), np.full(5, 0.01)]  # half the columns carry almost no variance
    fit = fit_score(scaled[tr], y[tr], scaled[te], y[te], groups, RidgeSettings(alphas=np.array([alpha]), n_folds=3),
                    scale_x=False)
    xc = scaled[tr] - scaled[tr].mean(0)
    ym, ysd = y[tr].mean(0), y[tr].std(0)
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(10), xc.T @ ((y[tr] - ym) / ysd))
    expected = (scaled[te] - scaled[tr].mean(0)) @ w * ysd + ym
    np.testing.assert_allclose(fit.prediction, expected, rtol=1e-4, atol=1e-4)
