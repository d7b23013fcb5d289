"""Design matrices: event matching by stimulus id, time-series alignment with delays, layers."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.design import alignment_method, design_matrix, is_time_series, layer_matrix, resolve_layer
from brainalign.temporal import align_to_trs, fir_delays

from .conftest import brain_dataset, features_dataset


def test_event_design_matches_rows_by_stimulus_id(event_data):
    brain, feats = event_data
    x = layer_matrix(feats, brain, 1, delays=[1, 2])  # delays are ignored for event designs
    ids = feats["stimulus_id"].values.astype(str).tolist()
    for row, sid in zip(x, brain["stimulus_id"].values.astype(str)):
        np.testing.assert_array_equal(row, feats["features"].values[1, ids.index(sid)])
    assert x.dtype == np.float32 and x.shape == (brain.sizes["sample"], feats.sizes["unit"])


def test_event_design_missing_stimuli_named():
    brain = brain_dataset(np.zeros((3, 2)), ["a", "a", "b"], ["train", "train", "test"], ids=["s1", "s2", "s3"])
    feats = features_dataset(np.zeros((1, 2, 2)), ["s1", "s2"], model="vit")
    with pytest.raises(ValueError, match=r"features of model 'vit' lack 1 stimuli of the brain data, e.g. \['s3'\]"):
        layer_matrix(feats, brain, 0, [])


def test_time_series_design_aligns_per_run_then_delays():
    rng = np.random.default_rng(0)
    tr = 2.0
    onsets = np.r_[np.arange(0, 20, 0.5), np.arange(0, 20, 0.5)]
    unit_runs = np.repeat(["r1", "r2"], 40)
    values = rng.standard_normal((2, 80, 3))
    feats = features_dataset(values, [f"u{i}" for i in range(80)], runs=unit_runs, onsets=onsets, modality="frame")
    tr_times = np.r_[np.arange(10), np.arange(10)] * tr
    tr_runs = np.repeat(["r1", "r2"], 10)
    brain = brain_dataset(np.zeros((20, 2)), tr_runs, ["train"] * 10 + ["test"] * 10, tr=tr, time=tr_times)
    x = layer_matrix(feats, brain, 0, [1, 2])
    expected = fir_delays(align_to_trs(values[0], unit_runs, onsets, tr_runs, tr_times, tr, "average"), tr_runs, [1, 2])
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)
    assert x.shape == (20, 6)
    np.testing.assert_array_equal(x[10], 0.0)  # first TR of run r2 has no delayed input
    words = feats.assign_coords(modality=("stimulus", np.array(["word"] * 80)))
    xw = design_matrix(values[1], words, brain, [])
    np.testing.assert_allclose(xw, align_to_trs(values[1], unit_runs, onsets, tr_runs, tr_times, tr, "lanczos"),
                               rtol=1e-5, atol=1e-6)


def test_alignment_method_and_time_series_flag():
    feats = features_dataset(np.zeros((1, 2, 1)), ["a", "b"], modality="word")
    assert alignment_method(feats) == "lanczos"
    mixed = feats.assign_coords(modality=("stimulus", np.array(["word", "frame"])))
    assert alignment_method(mixed) == "average"
    assert alignment_method(feats.drop_vars("modality")) == "average"
    brain = brain_dataset(np.zeros((2, 2)), ["a", "b"], ["train", "test"])
    assert not is_time_series(brain)
    brain.attrs["tr"] = 1.49
    assert is_time_series(brain)
    brain.attrs["tr"] = None
    assert not is_time_series(brain)


def test_resolve_layer():
    feats = features_dataset(np.zeros((4, 2, 1)), ["a", "b"], model="m")
    assert resolve_layer(feats, None) == [0, 1, 2, 3]
    assert resolve_layer(feats, -1) == [3]
    assert resolve_layer(feats, 2) == [2]
    with pytest.raises(ValueError, match="layer 4 out of range: model 'm' has 4 layers"):
        resolve_layer(feats, 4)
    with pytest.raises(ValueError, match="out of range"):
        resolve_layer(feats, -5)
