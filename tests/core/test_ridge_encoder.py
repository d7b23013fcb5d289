"""RidgeEncoder: exact agreement with himalaya's solvers, form choice, banded ridge, backends, chunking."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from himalaya.backend import set_backend
from himalaya.kernel_ridge import KernelRidgeCV
from himalaya.ridge import BandedRidgeCV, ColumnTransformerNoStack, RidgeCV
from sklearn.pipeline import make_pipeline

from brainalign.encoding.backends import resolve_backend
from brainalign.encoding.cv_folds import group_folds
from brainalign.encoding.ridge_encoder import RidgeEncoder, Standardizer
from brainalign.metrics import columnwise_pearson

ALPHAS = np.logspace(-1, 6, 29)


def _data(n: int, p: int, t: int, n_test: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_test, p)).astype(np.float32)
    x[:, : p // 2] += 2 * rng.standard_normal((n + n_test, 1)).astype(np.float32)  # correlated columns
    w = rng.standard_normal((p, t)) * rng.uniform(0, 0.4, t)[None]
    y = (x @ w / np.sqrt(p) + rng.standard_normal((n + n_test, t))).astype(np.float32)
    groups = np.repeat([f"run-{i}" for i in range(10)], n // 10)
    return x[:n], y[:n], x[n:], y[n:], groups


def _himalaya(model, x, y, x_test, groups):
    """Fit a himalaya estimator on the same standardised data and CV folds; return (alphas, test prediction)."""
    set_backend("numpy")
    xs, ys = Standardizer.fit(x), Standardizer.fit(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(xs.transform(x), ys.transform(y))
    est = model[-1] if hasattr(model, "steps") else model
    return np.asarray(est.best_alphas_), np.asarray(model.predict(xs.transform(x_test))) * ys.std + ys.mean


@pytest.mark.parametrize("shape, form", [((400, 60, 150), "primal"), ((200, 500, 150), "kernel")])
@pytest.mark.parametrize("reference", [RidgeCV, KernelRidgeCV])
def test_matches_himalaya_ridge_and_kernel_ridge(shape, form, reference):
    x, y, x_test, y_test, groups = _data(*shape)
    enc = RidgeEncoder(alphas=ALPHAS).fit(x, y, groups)
    assert enc.form_ == form
    ref_alpha, ref_pred = _himalaya(reference(alphas=ALPHAS, cv=group_folds(groups, 5)), x, y, x_test, groups)
    assert np.mean(np.isclose(enc.alpha_, ref_alpha, rtol=1e-5)) >= 0.99
    np.testing.assert_allclose(enc.score(x_test, y_test), columnwise_pearson(ref_pred, y_test), atol=1e-4)


def test_primal_and_kernel_forms_agree():
    x, y, x_test, y_test, groups = _data(300, 120, 40)
    primal = RidgeEncoder(alphas=ALPHAS, solver="primal").fit(x, y, groups)
    kernel = RidgeEncoder(alphas=ALPHAS, solver="kernel").fit(x, y, groups)
    np.testing.assert_allclose(primal.alpha_, kernel.alpha_)
    np.testing.assert_allclose(primal.predict(x_test), kernel.predict(x_test), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(primal.coef_, kernel.coef_, atol=1e-4)


def test_refit_equals_closed_form_with_each_targets_alpha():
    x, y, x_test, _, groups = _data(300, 30, 12)
    enc = RidgeEncoder(alphas=ALPHAS).fit(x, y, groups)
    xs, ys = Standardizer.fit(x), Standardizer.fit(y)
    a, b = xs.transform(x).astype(float), ys.transform(y).astype(float)
    for j in range(12):
        w = np.linalg.solve(a.T @ a + enc.alpha_[j] * np.eye(30), a.T @ b[:, j])
        expected = xs.transform(x_test) @ w * ys.std[j] + ys.mean[j]
        np.testing.assert_allclose(enc.predict(x_test)[:, j], expected, rtol=1e-4, atol=1e-4)


def test_cv_score_is_mean_validation_r_at_the_chosen_alpha():
    x, y, _, _, groups = _data(200, 20, 5)
    enc = RidgeEncoder(alphas=ALPHAS, n_folds=4).fit(x, y, groups)
    xs, ys = Standardizer.fit(x).transform(x).astype(float), Standardizer.fit(y).transform(y).astype(float)
    for j in range(5):
        rs = []
        for tr, va in group_folds(groups, 4):
            w = np.linalg.solve(xs[tr].T @ xs[tr] + enc.alpha_[j] * np.eye(20), xs[tr].T @ ys[tr, j])
            rs.append(np.corrcoef(xs[va] @ w, ys[va, j])[0, 1])
        assert enc.cv_score_[j] == pytest.approx(np.mean(rs), abs=1e-4)


def test_target_chunks_do_not_change_results(monkeypatch):
    x, y, x_test, _, groups = _data(200, 300, 60)
    whole = RidgeEncoder(alphas=ALPHAS).fit(x, y, groups)
    assert whole._chunk_size(200, whole_design(x), len(ALPHAS)) >= 60  # one chunk by default
    monkeypatch.setattr(RidgeEncoder, "_chunk_size", lambda self, *args: 7)
    chunked = RidgeEncoder(alphas=ALPHAS).fit(x, y, groups)
    np.testing.assert_array_equal(whole.alpha_, chunked.alpha_)
    np.testing.assert_allclose(whole.predict(x_test), chunked.predict(x_test), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(whole.cv_score_, chunked.cv_score_, atol=1e-6)


def whole_design(x):
    from brainalign.encoding import ridge_solver as rs
    from brainalign.encoding.backends import array_ops

    return rs.make_design(array_ops("numpy"), Standardizer.fit(x).transform(x), "kernel")


def test_banded_ridge_matches_himalaya_banded_ridge():
    rng = np.random.default_rng(4)
    n, p1, p2, t = 300, 30, 20, 60
    x = rng.standard_normal((n + 100, p1 + p2)).astype(np.float32)
    w = rng.standard_normal((p1 + p2, t))
    w[:p1] *= rng.uniform(0, 0.6, t)
    w[p1:] *= rng.uniform(0, 0.2, t)
    y = (x @ w / 7 + rng.standard_normal((n + 100, t))).astype(np.float32)
    groups = np.repeat(np.arange(10), n // 10)
    bands = [slice(0, p1), slice(p1, p1 + p2)]
    enc = RidgeEncoder(alphas=ALPHAS, bands=bands, n_iter=10, random_state=0).fit(x[:n], y[:n], groups)
    ct = ColumnTransformerNoStack([(f"b{i}", "passthrough", b) for i, b in enumerate(bands)])
    ref = BandedRidgeCV(groups="input", cv=group_folds(groups, 5), random_state=0,
                        solver_params=dict(alphas=ALPHAS, n_iter=10, progress_bar=False))
    ref_alpha, ref_pred = _himalaya(make_pipeline(ct, ref), x[:n], y[:n], x[n:], groups)
    assert np.mean(np.isclose(enc.alpha_, ref_alpha, rtol=1e-4)) >= 0.95
    r_ours, r_ref = enc.score(x[n:], y[n:]), columnwise_pearson(ref_pred, y[n:])
    assert np.median(np.abs(r_ours - r_ref)) < 1e-4
    assert enc.band_weights_.shape == (2, t)


def test_banded_kernel_form_matches_banded_primal_form():
    x, y, x_test, _, groups = _data(150, 40, 20)
    bands = [slice(0, 25), slice(25, 40)]
    primal = RidgeEncoder(alphas=ALPHAS, bands=bands, n_iter=6, solver="primal").fit(x, y, groups)
    kernel = RidgeEncoder(alphas=ALPHAS, bands=bands, n_iter=6, solver="kernel").fit(x, y, groups)
    np.testing.assert_allclose(primal.band_weights_, kernel.band_weights_)
    np.testing.assert_allclose(primal.predict(x_test), kernel.predict(x_test), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(primal.coef_, kernel.coef_, atol=1e-4)


def test_torch_backend_matches_numpy_and_is_deterministic():
    pytest.importorskip("torch")
    x, y, x_test, _, groups = _data(200, 300, 30)
    a = RidgeEncoder(alphas=ALPHAS, backend="numpy").fit(x, y, groups)
    b = RidgeEncoder(alphas=ALPHAS, backend="torch").fit(x, y, groups)
    c = RidgeEncoder(alphas=ALPHAS, backend="torch").fit(x, y, groups)
    assert np.mean(a.alpha_ == b.alpha_) >= 0.95
    np.testing.assert_array_equal(b.predict(x_test), c.predict(x_test))
    assert b.backend_ == "torch"


def test_auto_backend_and_bad_settings(monkeypatch):
    import brainalign.encoding.backends as ops

    monkeypatch.setattr(ops, "cuda_available", lambda: False)
    assert resolve_backend("auto") == "numpy"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        resolve_backend("torch_cuda")
    monkeypatch.setattr(ops, "cuda_available", lambda: True)
    assert resolve_backend("auto") == "torch_cuda"
    x, y, _, _, groups = _data(100, 5, 3)
    with pytest.raises(ValueError, match="cv_scoring"):
        RidgeEncoder(cv_scoring="auc").fit(x, y, groups)
    with pytest.raises(ValueError, match="positive"):
        RidgeEncoder(alphas=[0.0, 1.0]).fit(x, y, groups)
    with pytest.raises(ValueError, match="NaN or Inf"):
        RidgeEncoder().fit(np.where(x > 2, np.nan, x), y, groups)
    with pytest.raises(ValueError, match="cover every feature column exactly once"):
        RidgeEncoder(bands=[slice(0, 2), slice(1, 5)]).fit(x, y, groups)


def test_edge_fraction_counts_alphas_on_the_grid_edges():
    x, y, _, _, groups = _data(200, 10, 40)
    narrow = RidgeEncoder(alphas=[1e3, 1e4]).fit(x, y, groups)
    assert narrow.edge_fraction_ == 1.0
    wide = RidgeEncoder(alphas=ALPHAS).fit(x, y, groups)
    at_edge = np.isin(wide.alpha_, [ALPHAS[0], ALPHAS[-1]])
    assert wide.edge_fraction_ == pytest.approx(at_edge.mean())


def test_folds_and_refits_side_by_side_give_the_sequential_result(monkeypatch):
    """Fold decompositions and refit solves run in threads on CPU; the fit must not change."""
    import brainalign.encoding.backends as backends

    x, y, x_test, _, groups = _data(200, 300, 30)
    calls = []
    real_map = backends.ArrayOps.map_independent

    def spy(self, fn, items):
        calls.append(len(items))
        return real_map(self, fn, items)

    monkeypatch.setattr(backends.ArrayOps, "map_independent", spy)
    monkeypatch.setattr(backends, "_cpu_budget", lambda: 1)
    sequential = RidgeEncoder(alphas=ALPHAS).fit(x, y, groups)
    monkeypatch.setattr(backends, "_cpu_budget", lambda: 2)
    threaded = RidgeEncoder(alphas=ALPHAS).fit(x, y, groups)
    assert calls[0] == 5 and len(calls) == 4  # five folds, then one solve per distinct alpha, per fit
    np.testing.assert_array_equal(threaded.alpha_, sequential.alpha_)
    np.testing.assert_allclose(threaded.predict(x_test), sequential.predict(x_test), rtol=1e-5, atol=1e-5)
    order = backends.ArrayOps("numpy").map_independent(lambda i: i * i, list(range(7)))
    assert order == [i * i for i in range(7)]
