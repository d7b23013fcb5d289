"""Workflow entry points of the synthetic dataset kind: stimuli, ground truth and brain stores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from brainalign.datasets.synthetic import ground_truth
from brainalign.datasets.synthetic import simulate_brain, simulate_stimuli
from brainalign.stores import read_store, write_store

from .test_synthetic import feature_store

PARAMS = {"design": "images", "seed": 4, "n_images": 40, "n_test": 10, "n_sessions": 3, "image_size": 8,
          "voxels_per_roi": 5, "repeats": 2,
          "rois": {"EV": {"noise_sd": 0.5, "drivers": [{"model": "vit", "layer": 0}]}, "NOISE": {"noise_sd": 1.0}}}
MOVIE = {"design": "movie", "seed": 2, "n_runs": 3, "n_test_runs": 1, "trs_per_run": 10, "tr": 1.5, "fps": 1.0,
         "audio_rate": 8000, "image_size": 8, "voxels_per_roi": 4, "test_repeats": 2,
         "rois": {"AC": {"noise_sd": 1.0, "drivers": [{"model": "aud", "layer": 0}]}}}


def test_simulate_stimuli_writes_table_files_and_truth(tmp_path):
    table, files, truth = tmp_path / "stimuli.tsv", tmp_path / "stimuli", tmp_path / "truth.json"
    simulate_stimuli(PARAMS, table, files, truth)
    df = pd.read_csv(table, sep="\t", keep_default_na=False)
    assert len(df) == 40 and (df["modality"] == "image").all()
    assert all((tmp_path / p).exists() for p in df["path"])  # paths are relative to the dataset folder
    assert json.loads(truth.read_text()) == ground_truth(PARAMS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stimuli", "stimuli.tsv", "truth.json"]  # no temporaries
    first = (files / "images" / "img0003.png").read_bytes()
    (files / "stale.txt").write_text("old")
    simulate_stimuli(PARAMS, table, files, truth)  # a rerun replaces the folder and is identical
    assert not (files / "stale.txt").exists()
    assert (files / "images" / "img0003.png").read_bytes() == first


def test_simulate_movie_stimuli(tmp_path):
    simulate_stimuli(MOVIE, tmp_path / "stimuli.tsv", tmp_path / "stimuli", tmp_path / "truth.json")
    df = pd.read_csv(tmp_path / "stimuli.tsv", sep="\t", keep_default_na=False)
    assert set(df["modality"]) == {"frame", "audio", "word", "clip"}
    assert (df["modality"] == "clip").sum() == 30


def test_simulate_brain_writes_a_brain_store(tmp_path):
    table = tmp_path / "stimuli.tsv"
    simulate_stimuli(PARAMS, table, tmp_path / "stimuli", tmp_path / "truth.json")
    df = pd.read_csv(table, sep="\t", keep_default_na=False, na_values={"onset": [""], "duration": [""]})
    write_store(feature_store(df, "image", n_layers=2, n_units=6), tmp_path / "vit.zarr", "features")
    out = tmp_path / "brain" / "sub-01.zarr"
    simulate_brain(str(table), {"vit": str(tmp_path / "vit.zarr")}, PARAMS, "sub-01", 0, str(out))
    ds = read_store(out, "brain")
    assert ds.sizes["sample"] == 40 and ds.sizes["voxel"] == 10
    assert list(ds["split"].values[-10:]) == ["test"] * 10
    assert np.isnan(pd.to_numeric(df["onset"])).all()  # event designs carry no onsets
    np.testing.assert_array_equal(ds["true_noise_ceiling"].values[5:], 0.0)
    assert ds.attrs["subject"] == "sub-01"
