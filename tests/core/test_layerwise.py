"""Encoding of every layer into one ``encoding`` store, with NBA, ROI scores and provenance."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.encoding.layerwise import encode_features, encode_job, split_masks
from brainalign.encoding.fitting import RidgeSettings, normalize
from brainalign.stores import json_attr, read_store, validate, write_store

from .conftest import brain_dataset, features_dataset

SETTINGS = RidgeSettings(alphas=np.logspace(-1, 4, 10), n_folds=3)


def test_split_masks_require_both_splits():
    brain = brain_dataset(np.zeros((3, 2)), ["a", "b", "c"], ["train", "test", "train"])
    train, test = split_masks(brain)
    np.testing.assert_array_equal(train, [True, False, True])
    np.testing.assert_array_equal(test, [False, True, False])
    with pytest.raises(ValueError, match=r"train and test samples; splits present: \['train'\]"):
        split_masks(brain_dataset(np.zeros((2, 2)), ["a", "b"], ["train", "train"]))


def test_encode_features_scores_driving_layer(event_data):
    brain, feats = event_data
    ds = encode_features(feats, brain, SETTINGS, delays=[1, 2], ceiling_min=0.05)
    validate(ds, "encoding")
    r = ds["r"].values
    assert r.shape == (3, brain.sizes["voxel"])
    driven = brain["roi_mask"].values[0]
    assert r[1, driven].mean() > 0.7  # layer 1 drives ROI 0
    assert abs(r[0, driven].mean()) < 0.1 and abs(r[2, driven].mean()) < 0.1
    assert abs(r[1, ~driven].mean()) < 0.1
    expected = np.stack([normalize(row, brain["noise_ceiling"].values, 0.05) for row in r])
    np.testing.assert_allclose(ds["normalized"].values, expected, rtol=1e-6)
    assert np.isnan(ds["normalized"].values[:, -1]).all()  # ceiling 0.01 < 0.05
    roi_r = np.array([[r[li, m].mean() for m in brain["roi_mask"].values] for li in range(3)])
    np.testing.assert_allclose(ds["roi_r"].values, roi_r, atol=1e-5)
    assert np.isnan(ds["roi_p_perm"].values).all()  # no permutations requested
    assert ds.attrs["delays"] == []  # event design: no FIR delays
    assert ds.attrs["model"] == "m" and ds.attrs["subject"] == "sub-01" and ds.attrs["backend"] == "numpy"
    assert ds.attrs["alphas"] == pytest.approx(list(SETTINGS.alphas))
    alphas = ds["alpha"].values.ravel()
    assert np.isclose(alphas[:, None], SETTINGS.alphas[None, :], rtol=1e-5).any(axis=1).all()


def test_permutation_p_values(event_data):
    brain, feats = event_data
    ds = encode_features(feats.isel(layer=[1]), brain, SETTINGS, [], 0.05, n_permutations=19, seed=3)
    p = ds["roi_p_perm"].values[0]
    assert p[0] == pytest.approx(1 / 20)  # driven ROI beats every permutation
    assert p[1] > 1 / 20
    assert ds.attrs["n_permutations"] == 19 and ds.attrs["block_size"] == 1


def test_layer_transform_sees_train_and_test_rows(event_data):
    brain, feats = event_data
    calls = []

    def transform(x_train, x_test, li):
        calls.append((x_train.shape, x_test.shape, li))
        return np.zeros_like(x_train) + np.arange(x_train.shape[1]), np.zeros_like(x_test) + np.arange(x_test.shape[1])

    ds = encode_features(feats.isel(layer=[0, 1]), brain, SETTINGS, [], 0.05, layer_transform=transform)
    assert calls == [((240, 8), (60, 8), 0), ((240, 8), (60, 8), 1)]
    assert np.all(np.nan_to_num(np.abs(ds["r"].values)) < 1e-6)  # constant design: nothing predicted


def test_time_series_encoding_records_delays():
    rng = np.random.default_rng(0)
    tr, n_tr = 1.0, 40
    runs = np.repeat(["r1", "r2", "r3", "r4"], n_tr)
    onsets = np.tile(np.arange(n_tr) * tr, 4)
    x = rng.standard_normal((1, 4 * n_tr, 3))
    y = np.zeros((4 * n_tr, 4))
    w = rng.standard_normal((3, 4))
    for run in ("r1", "r2", "r3", "r4"):  # each voxel follows the features 2 TRs later
        idx = np.flatnonzero(runs == run)
        y[idx[2:]] = x[0, idx[:-2]] @ w
    y += 0.1 * rng.standard_normal(y.shape)
    split = np.where(runs == "r4", "test", "train")
    brain = brain_dataset(y, runs, split, tr=tr, time=onsets)
    feats = features_dataset(x, [f"c{i}" for i in range(4 * n_tr)], runs=runs, onsets=onsets, modality="clip")
    with_delay = encode_features(feats, brain, SETTINGS, [1, 2, 3], 0.05)
    without = encode_features(feats, brain, SETTINGS, [0], 0.05)
    assert with_delay.attrs["delays"] == [1, 2, 3] and with_delay.attrs["block_size"] == 10
    assert with_delay["r"].values.mean() > 0.9
    assert abs(without["r"].values.mean()) < 0.3


def test_encode_job_writes_store(tmp_path, event_data):
    brain, feats = event_data
    write_store(brain, tmp_path / "brain.zarr", "brain")
    write_store(feats, tmp_path / "feats.zarr", "features")
    enc_cfg = {"alphas": {"min_exp": -1, "max_exp": 4, "num": 10}, "n_folds": 3, "backend": "numpy",
               "delays": [1], "ceiling_min": 0.05}
    out = tmp_path / "enc" / "none.zarr"
    encode_job(str(tmp_path / "feats.zarr"), str(tmp_path / "brain.zarr"), str(out), enc_cfg,
               {"n_permutations": 0, "block_size": 10, "seed": 0})
    ds = read_store(out, "encoding")
    assert ds.sizes == {"layer": 3, "voxel": 40, "roi": 2}
    assert json_attr(ds, "alphas") == pytest.approx(list(np.logspace(-1, 4, 10)))


def test_nested_cv_picks_alphas_without_outer_test_runs(event_data, monkeypatch):
    from brainalign.encoding import ridge_encoder as encoder_module

    brain, feats = event_data
    seen = []
    real_fit = encoder_module.RidgeEncoder.fit

    def spy(self, x, y, groups):
        seen.append(set(np.asarray(groups).tolist()))
        return real_fit(self, x, y, groups)

    monkeypatch.setattr(encoder_module.RidgeEncoder, "fit", spy)
    ds = encode_features(feats.isel(layer=[1]), brain, SETTINGS, [], 0.05, outer_folds=7)
    runs = set(brain["run"].values.tolist())
    assert len(seen) == 7  # one fit per outer fold, each with its own inner CV
    held_out = [runs - s for s in seen]
    assert all(len(h) == 1 for h in held_out)  # 7 runs, 7 outer folds: one run held out each time
    assert set().union(*held_out) == runs  # every run is an outer test run exactly once
    assert ds.attrs["outer_folds"] == 7
    driven = brain["roi_mask"].values[0]
    assert ds["r"].values[0, driven].mean() > 0.6 and abs(ds["r"].values[0, ~driven].mean()) < 0.1


def test_store_records_solver_form_edge_share_and_cv_score(event_data):
    brain, feats = event_data
    ds = encode_features(feats, brain, SETTINGS, [], 0.05)
    assert ds.attrs["solver_form"] == "primal"  # 240 training images > 8 units
    assert 0.0 <= ds.attrs["alpha_edge_fraction"] <= 1.0
    assert ds["cv_score"].shape == ds["r"].shape
    driven = brain["roi_mask"].values[0]
    best = ds["cv_score"].values[:, driven].mean(axis=1).argmax()
    assert best == 1  # the driving layer is found from training-set CV alone


def test_roi_tables_report_cv_r_and_the_share_of_alphas_on_the_grid_edge(event_data, tmp_path):
    from brainalign.summaries import roi_rows

    brain, feats = event_data
    narrow = RidgeSettings(alphas=np.array([1e3, 1e4]), n_folds=3)  # every choice sits on an edge
    ds = encode_features(feats.isel(layer=[1]), brain, narrow, [], 0.05)
    write_store(ds, tmp_path / "e.zarr", "encoding")  # list attributes come back JSON-encoded
    ds = read_store(tmp_path / "e.zarr", "encoding")
    rows = {(r["roi"], r["metric"]): r["value"] for r in roi_rows(ds, brain["roi_mask"], {})}
    assert rows[("roi0", "alpha_at_edge")] == 1.0 and ds.attrs["alpha_edge_fraction"] == 1.0
    wide = encode_features(feats.isel(layer=[1]), brain, SETTINGS, [], 0.05)
    rows = {(r["roi"], r["metric"]): r["value"] for r in roi_rows(wide, brain["roi_mask"], {})}
    driven = brain["roi_mask"].values[0]
    assert rows[("roi0", "cv_r")] == pytest.approx(wide["cv_score"].values[0, driven].mean(), rel=1e-5)
    assert rows[("roi0", "alpha_at_edge")] < 0.5


def test_banding_by_delay_gives_each_delay_its_own_band(monkeypatch):
    from brainalign.encoding import ridge_encoder as encoder_module

    rng = np.random.default_rng(0)
    n_per_run, n_runs, n_vox = 60, 5, 6
    runs = np.repeat([f"run-{i}" for i in range(1, n_runs + 1)], n_per_run)
    time = np.tile(np.arange(n_per_run) * 2.0, n_runs)
    split = np.where(runs == "run-5", "test", "train")
    x = rng.standard_normal((n_runs * n_per_run, 3))
    y = rng.standard_normal((n_runs * n_per_run, n_vox))
    brain = brain_dataset(y, runs, split, tr=2.0, time=time)
    feats = features_dataset(x[None], [f"c{i}" for i in range(len(x))], runs=runs, onsets=time, modality="clip")
    seen = []
    real_fit = encoder_module.RidgeEncoder.fit

    def spy(self, xx, yy, groups):
        seen.append(self.bands)
        return real_fit(self, xx, yy, groups)

    monkeypatch.setattr(encoder_module.RidgeEncoder, "fit", spy)
    ds = encode_features(feats, brain, RidgeSettings(alphas=np.logspace(-1, 3, 5), n_folds=2, n_iter=3), [1, 2, 3],
                         0.05, banding="delays")
    assert seen == [[slice(0, 3), slice(3, 6), slice(6, 9)]]
    assert ds.attrs["banding"] == "delays"
    with pytest.raises(ValueError, match="unknown banding"):
        encode_features(feats, brain, SETTINGS, [1], 0.05, banding="layers")
