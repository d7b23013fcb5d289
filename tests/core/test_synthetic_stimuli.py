"""Procedural demo stimuli: deterministic given the seed, consistent tables and files."""

from __future__ import annotations

import wave

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainalign.datasets.synthetic.stimuli import (
    STIMULUS_COLUMNS,
    Scene,
    Thing,
    make_image_set,
    make_movie,
    random_scene,
    render,
)


def test_image_set_table_and_files(tmp_path):
    df = make_image_set(tmp_path / "a", seed=3, n_images=20, n_test=5, n_runs=3, image_size=16)
    assert list(df.columns) == STIMULUS_COLUMNS
    assert (df["modality"] == "image").all() and df["stimulus_id"].is_unique
    assert (df["split"] == "test").sum() == 5 and df["split"].iloc[-5:].eq("test").all()
    assert sorted(df[df.split == "train"]["run"].unique()) == ["ses-01", "ses-02", "ses-03"]
    assert set(df[df.split == "test"]["run"]) == {"ses-test"}
    assert df[df.split == "train"]["run"].value_counts().min() >= 4  # sessions are balanced
    assert df["text"].str.len().min() > 10
    for path in df["path"]:
        with Image.open(tmp_path / "a" / path.removeprefix("stimuli/")) as img:
            assert img.size == (16, 16)


def test_image_set_is_deterministic(tmp_path):
    a = make_image_set(tmp_path / "a", 7, 8, 2, 2, 16)
    b = make_image_set(tmp_path / "b", 7, 8, 2, 2, 16)
    c = make_image_set(tmp_path / "c", 8, 8, 2, 2, 16)
    pd.testing.assert_frame_equal(a, b)
    assert not a["text"].equals(c["text"])
    for name in ("img0000.png", "img0007.png"):
        assert (tmp_path / "a/images" / name).read_bytes() == (tmp_path / "b/images" / name).read_bytes()
    with pytest.raises(ValueError, match=r"n_test must be in \(0, n_images=8\)"):
        make_image_set(tmp_path / "d", 7, 8, 8, 2, 16)


def test_movie_table_counts_and_timing(tmp_path):
    n_runs, trs, tr, fps, rate = 3, 6, 1.5, 2.0, 8000
    df = make_movie(tmp_path, 1, n_runs, trs, tr, fps, rate, 16, n_test_runs=1)
    counts = df["modality"].value_counts()
    assert counts["frame"] == n_runs * trs * tr * fps
    assert counts["audio"] == counts["clip"] == n_runs * trs
    assert counts["word"] > 0
    assert set(df[df.split == "test"]["run"]) == {"run-03"}
    for run, g in df.groupby("run"):
        words = g[g.modality == "word"]
        assert words["onset"].is_monotonic_increasing
        assert words["onset"].between(0, trs * tr).all()
        clips = g[g.modality == "clip"]
        np.testing.assert_allclose(clips["onset"], np.arange(trs) * tr)
        np.testing.assert_allclose(clips["duration"], tr)
        assert (words["text"].str.len() > 0).all() and (words["path"] == "").all()
    wav_path = tmp_path / df[df.modality == "audio"]["path"].iloc[0].removeprefix("stimuli/")
    with wave.open(str(wav_path)) as w:
        assert w.getframerate() == rate and w.getnframes() == int(tr * rate)


def test_movie_is_deterministic(tmp_path):
    a = make_movie(tmp_path / "a", 5, 3, 4, 1.0, 1.0, 8000, 16)
    b = make_movie(tmp_path / "b", 5, 3, 4, 1.0, 1.0, 8000, 16)
    pd.testing.assert_frame_equal(a, b)
    wav = "audio/run-02_a0001.wav"
    assert (tmp_path / "a" / wav).read_bytes() == (tmp_path / "b" / wav).read_bytes()


def test_scene_description_and_rendering():
    thing = Thing("circle", "red", 0.4, 0.2, 0.5)
    assert thing.describe() == "a large red circle on the left"
    assert Thing("square", "blue", 0.2, 0.7, 0.5).describe() == "a small blue square on the right"
    scene = Scene("blue sky", "green grass", [thing])
    assert scene.caption() == "a large red circle on the left, under a blue sky above green grass"
    img = np.asarray(render(scene, 32))
    assert tuple(img[2, 16]) == (120, 170, 235)  # sky
    assert tuple(img[30, 30]) == (60, 150, 60)  # ground
    assert tuple(img[16, int(0.2 * 32)]) == (220, 40, 40)  # the circle's centre
    moving = Scene("blue sky", "green grass", [Thing("square", "black", 0.2, 0.2, 0.5, vx=0.1)])
    assert not np.array_equal(np.asarray(render(moving, 32, 0.0)), np.asarray(render(moving, 32, 3.0)))
    rng1, rng2 = np.random.default_rng(0), np.random.default_rng(0)
    assert random_scene(rng1, moving=True) == random_scene(rng2, moving=True)
