"""Synthetic brain data: determinism, known drivers, and a ground truth that matches the data."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import xarray as xr

from brainalign.ceiling import columnwise_pearson
from brainalign.datasets.synthetic.simulate import (
    driver_matrix,
    ground_truth,
    roi_layout,
    simulate_subject,
    spm_hrf,
    to_bold,
    write_ground_truth,
)
from brainalign.datasets.synthetic.stimuli import make_image_set, make_movie
from brainalign.stores import validate

IMAGE_PARAMS = {
    "design": "images", "seed": 1, "voxels_per_roi": 30, "repeats": 3,
    "rois": {
        "EV": {"noise_sd": 1.0, "drivers": [{"model": "vit", "layer": 1}]},
        "MIX": {"noise_sd": 0.5, "drivers": [{"model": "vit", "layer": 0, "weight": 2.0},
                                             {"model": "vit", "layer": 2, "weight": 1.0}]},
        "NOISE": {"noise_sd": 1.0},
    },
}


def feature_store(table, modality: str, n_layers: int = 3, n_units: int = 12, seed: int = 0) -> xr.Dataset:
    rows = table[table["modality"] == modality]
    values = np.random.default_rng(seed).standard_normal((n_layers, len(rows), n_units))
    return xr.Dataset(
        {"features": (("layer", "stimulus", "unit"), values.astype(np.float32))},
        coords={"layer": np.arange(n_layers), "stimulus_id": ("stimulus", rows["stimulus_id"].to_numpy().astype(str)),
                "run": ("stimulus", rows["run"].to_numpy().astype(str)),
                "onset": ("stimulus", rows["onset"].to_numpy(dtype=float)),
                "duration": ("stimulus", rows["duration"].to_numpy(dtype=float)),
                "modality": ("stimulus", rows["modality"].to_numpy().astype(str))},
        attrs={"model": modality},
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    table = make_image_set(tmp_path_factory.mktemp("img"), 0, 400, 100, 4, 8)
    return table, {"vit": feature_store(table, "image")}


def noiseless(params: dict) -> dict:
    quiet = copy.deepcopy(params)
    for roi in quiet["rois"].values():
        roi["noise_sd"] = 0.0
    return quiet


def r2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.c_[x, np.ones(len(x))]
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    return 1 - resid.var(0) / y.var(0)


def test_image_subject_schema_and_determinism(images):
    table, feats = images
    ds = simulate_subject(table, feats, IMAGE_PARAMS, "sub-01", 0)
    validate(ds, "brain")
    assert ds.sizes == {"sample": 400, "voxel": 90, "roi": 3}
    assert ds.attrs["tr"] == 0.0 and ds.attrs["ceiling_method"] == "ncsnr" and ds.attrs["subject"] == "sub-01"
    assert list(ds["roi"].values) == ["EV", "MIX", "NOISE"]
    np.testing.assert_array_equal(ds["roi_mask"].values, roi_layout(IMAGE_PARAMS["rois"], 30)[1])
    np.testing.assert_array_equal(ds["stimulus_id"].values, table["stimulus_id"].values)
    again = simulate_subject(table, feats, IMAGE_PARAMS, "sub-01", 0)
    np.testing.assert_array_equal(ds["responses"].values, again["responses"].values)
    other = simulate_subject(table, feats, IMAGE_PARAMS, "sub-02", 1)
    assert not np.allclose(ds["responses"].values, other["responses"].values)


def test_image_signal_comes_from_the_configured_layers(images):
    table, feats = images
    signal = simulate_subject(table, feats, noiseless(IMAGE_PARAMS), "sub-01", 0)["responses"].values
    layers = [driver_matrix(feats["vit"], i) for i in range(3)]
    ev, mix, noise = slice(0, 30), slice(30, 60), slice(60, 90)
    assert r2(layers[1], signal[:, ev]).min() > 0.999  # exactly linear in layer 1
    assert r2(layers[0], signal[:, ev]).max() < 0.2
    mix0, mix2 = r2(layers[0], signal[:, mix]).mean(), r2(layers[2], signal[:, mix]).mean()
    assert mix0 == pytest.approx(2 / 3, abs=0.1) and mix2 == pytest.approx(1 / 3, abs=0.1)
    np.testing.assert_array_equal(signal[:, noise], 0.0)
    np.testing.assert_allclose(signal[:, ev].std(0), 1.0, rtol=1e-5)  # unit signal variance


def test_image_ceilings_match_simulated_noise(images):
    table, feats = images
    ds = simulate_subject(table, feats, IMAGE_PARAMS, "sub-01", 0)
    signal = simulate_subject(table, feats, noiseless(IMAGE_PARAMS), "sub-01", 0)["responses"].values
    true = ds["true_noise_ceiling"].values
    truth = ground_truth(IMAGE_PARAMS)
    for i, name in enumerate(["EV", "MIX"]):
        vox = slice(30 * i, 30 * (i + 1))
        sd = IMAGE_PARAMS["rois"][name]["noise_sd"]
        # per-voxel noise spreads the level by a factor in [0.8, 1.25]
        lo, hi = np.sqrt(1 / (1 + (1.25 * sd) ** 2 / 3)), np.sqrt(1 / (1 + (0.8 * sd) ** 2 / 3))
        assert np.all((true[vox] >= lo - 1e-6) & (true[vox] <= hi + 1e-6))
        # the true ceiling is the correlation of the repeat-averaged responses with the noise-free signal
        empirical = columnwise_pearson(signal[:, vox], ds["responses"].values[:, vox])
        assert np.abs(empirical - true[vox]).mean() < 0.03
        # the NSD-style estimate is close to the truth, and the ground truth JSON agrees with both
        assert np.abs(ds["noise_ceiling"].values[vox] - true[vox]).mean() < 0.05
        assert truth["rois"][name]["ceiling"] == pytest.approx(np.sqrt(1 / (1 + sd**2 / 3)))
        assert abs(true[vox].mean() - truth["rois"][name]["ceiling"]) < 0.05
    np.testing.assert_array_equal(true[60:], 0.0)
    assert truth["rois"]["NOISE"]["ceiling"] == 0.0


def test_ground_truth_content(tmp_path):
    truth = ground_truth(IMAGE_PARAMS)
    assert truth["design"] == "images"
    assert truth["rois"]["EV"]["best"] == {"model": "vit", "layer": 1}
    assert truth["rois"]["MIX"]["best"] == {"model": "vit", "layer": 0}  # the heavier driver
    assert "best" not in truth["rois"]["NOISE"] and truth["rois"]["NOISE"]["drivers"] == []
    movie = {"design": "movie", "test_repeats": 2, "rois": {"A": {"noise_sd": 2.0, "drivers": [{"model": "m",
                                                                                                "layer": 0}]}}}
    assert ground_truth(movie)["rois"]["A"]["ceiling"] == pytest.approx(np.sqrt(1 / (1 + 4 / 2)))
    write_ground_truth(IMAGE_PARAMS, tmp_path / "truth.json")
    assert json.loads((tmp_path / "truth.json").read_text()) == truth


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    table = make_movie(tmp_path_factory.mktemp("movie"), 0, 3, 80, 1.5, 1.0, 8000, 8)
    feats = {"vid": feature_store(table, "frame", seed=1), "txt": feature_store(table, "word", seed=2)}
    params = {"design": "movie", "seed": 3, "voxels_per_roi": 20, "tr": 1.5, "trs_per_run": 80, "test_repeats": 2,
              "rois": {"VIS": {"noise_sd": 0.7, "drivers": [{"model": "vid", "layer": 2}]},
                       "LANG": {"noise_sd": 1.0, "drivers": [{"model": "txt", "layer": 0}]},
                       "NOISE": {"noise_sd": 1.0}}}
    return table, feats, params


def test_movie_subject_layout_and_ceilings(movie):
    table, feats, params = movie
    ds = simulate_subject(table, feats, params, "sub-01", 0)
    validate(ds, "brain")
    assert ds.sizes["sample"] == 240 and ds.attrs["tr"] == 1.5
    assert ds.attrs["ceiling_method"] == "split_half_spearman_brown"
    assert ds["stimulus_id"].values[81] == "run-02_tr0001"
    np.testing.assert_allclose(ds["time"].values[:3], [0.0, 1.5, 3.0])
    assert set(ds["split"].values[ds["run"].values == "run-03"]) == {"test"}
    signal = simulate_subject(table, feats, noiseless(params), "sub-01", 0)["responses"].values
    test = ds["split"].values == "test"
    truth = ground_truth(params)
    for i, name in enumerate(["VIS", "LANG"]):
        vox = slice(20 * i, 20 * (i + 1))
        true = ds["true_noise_ceiling"].values[vox]
        assert abs(true.mean() - truth["rois"][name]["ceiling"]) < 0.05
        empirical = columnwise_pearson(signal[test][:, vox], ds["responses"].values[test][:, vox])
        assert abs(empirical.mean() - true.mean()) < 0.05  # test responses average the two repeats
        assert abs(ds["noise_ceiling"].values[vox].mean() - true.mean()) < 0.1
    np.testing.assert_array_equal(ds["true_noise_ceiling"].values[40:], 0.0)


def test_to_bold_impulse_is_the_hrf():
    tr_times = np.arange(0, 30, 0.1)
    bold = to_bold(np.array([[1.0]]), np.array([0.0]), np.array([0.0]), True, tr_times, 30.0)[:, 0]
    hrf = spm_hrf()
    np.testing.assert_allclose(bold, hrf[: len(tr_times)], atol=1e-12)
    assert 4.0 <= tr_times[np.argmax(bold)] <= 6.0
    held = to_bold(np.array([[1.0]]), np.array([0.0]), np.array([2.0]), False, tr_times, 30.0)[:, 0]
    np.testing.assert_allclose(held, np.convolve(np.r_[np.ones(20), np.zeros(281)], hrf)[:300], atol=1e-12)


def test_errors(images):
    table, feats = images
    with pytest.raises(ValueError, match="unknown synthetic design 'audio'; allowed: images, movie"):
        simulate_subject(table, feats, {**IMAGE_PARAMS, "design": "audio"}, "s", 0)
    with pytest.raises(ValueError, match="driver layer 3 out of range for a model with 3 layers"):
        driver_matrix(feats["vit"], 3)
    with pytest.raises(ValueError, match=r"feature store image lacks stimuli \['img0000'"):
        simulate_subject(table, {"vit": feats["vit"].isel(stimulus=slice(1, None))}, IMAGE_PARAMS, "s", 0)
