import numpy as np
import pandas as pd
import pytest
from media import encode_movie
from PIL import Image

from brainalign.datasets import custom
from brainalign.stores import read_store


def events_dataset(raw):
    raw.mkdir(parents=True, exist_ok=True)
    ids = [f"img{i}" for i in range(6)]
    for i in ids:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(raw / f"{i}.png")
    pd.DataFrame({"stimulus_id": ids, "path": [f"{i}.png" for i in ids], "text": "a cat",
                  "split": ["train"] * 4 + ["test"] * 2, "run": ["s1", "s1", "s2", "s2", "s3", "s3"]}).to_csv(
        raw / "stimuli.tsv", sep="\t", index=False)
    (raw / "sub-01").mkdir()
    order = ids + ["img4", "img5"]  # test images shown twice
    resp = np.random.default_rng(0).standard_normal((len(order), 5)).astype(np.float32)
    np.save(raw / "sub-01/responses.npy", resp)
    pd.DataFrame({"stimulus_id": order}).to_csv(raw / "sub-01/samples.tsv", sep="\t", index=False)
    np.savez(raw / "rois.npz", V1=np.array([1, 1, 0, 0, 0]), FFA=np.array([0, 0, 1, 1, 1], bool))
    return resp


def test_event_design_with_repeats(tmp_path):
    raw = tmp_path / "raw"
    resp = events_dataset(raw)
    block = {"design": "events"}
    res = tmp_path / "res/ds"
    stim = custom.prepare_stimuli(raw, block, ["sub-01"], res / "stimuli.tsv", res / "stimuli")
    assert set(stim.modality) == {"image"} and (res / stim.path.iloc[0]).is_file()
    custom.prepare_brain(raw, block, "sub-01", res / "stimuli.tsv", res / "brain/sub-01.zarr")
    ds = read_store(res / "brain/sub-01.zarr", "brain")
    assert ds.stimulus_id.values.tolist() == [f"img{i}" for i in range(6)]
    np.testing.assert_allclose(ds.responses.values[4], (resp[4] + resp[6]) / 2, rtol=1e-6)
    assert ds.attrs["ceiling_method"] == "split_half" and ds.attrs["tr"] == 0
    assert ds.roi_mask.sel(roi="V1").values.tolist() == [True, True, False, False, False]
    assert ds.run.values.tolist()[:2] == ["s1", "s1"]


def test_event_design_errors(tmp_path):
    raw = tmp_path / "raw"
    events_dataset(raw)
    res = tmp_path / "res"
    custom.prepare_stimuli(raw, {"design": "events"}, ["sub-01"], res / "stimuli.tsv", res / "stimuli")
    pd.DataFrame({"stimulus_id": ["img0"] * 7 + ["dog"]}).to_csv(raw / "sub-01/samples.tsv", sep="\t", index=False)
    with pytest.raises(custom.CustomDataError, match="not in the stimulus table: \\['dog'\\]"):
        custom.prepare_brain(raw, {"design": "events"}, "sub-01", res / "stimuli.tsv", res / "b.zarr")
    pd.DataFrame({"stimulus_id": ["img0"] * 3}).to_csv(raw / "sub-01/samples.tsv", sep="\t", index=False)
    with pytest.raises(custom.CustomDataError, match="8 response rows but 3 rows"):
        custom.prepare_brain(raw, {"design": "events"}, "sub-01", res / "stimuli.tsv", res / "b.zarr")
    data = (raw / "sub-01/responses.npy").read_bytes()
    (raw / "sub-01/responses.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(custom.CustomDataError, match="truncated"):
        custom.prepare_brain(raw, {"design": "events"}, "sub-01", res / "stimuli.tsv", res / "b.zarr")
    with pytest.raises(custom.CustomDataError, match="sub-02 responses not found"):
        custom.prepare_brain(raw, {"design": "events"}, "sub-02", res / "stimuli.tsv", res / "b.zarr")
    assert not (res / "b.zarr").exists()
    with pytest.raises(custom.CustomDataError, match="design is 'movie'; allowed"):
        custom.settings({"design": "movie"})


def timeseries_dataset(raw):
    raw.mkdir(parents=True, exist_ok=True)
    encode_movie(raw / "r1.mp4", seconds=4.0)
    encode_movie(raw / "r2.mp4", seconds=4.0)
    pd.DataFrame({"run": ["r1", "r1", "r2"], "modality": ["video", "word", "video"], "onset": [0, 1.2, 0],
                  "duration": ["", 0.3, ""], "path": ["r1.mp4", "", "r2.mp4"], "text": ["", "hello", ""]}).to_csv(
        raw / "stimuli.tsv", sep="\t", index=False)
    for s in ("sub-01", "sub-02"):
        (raw / s / "runs").mkdir(parents=True)
        for r in ("r1", "r2"):
            np.save(raw / s / "runs" / f"{r}.npy", np.random.default_rng(1).standard_normal((4, 3)))
    np.save(raw / "sub-01/runs/r2_repeat.npy", np.random.default_rng(2).standard_normal((4, 3)))
    np.savez(raw / "rois.npz", A=np.array([1, 0, 1]))


def test_timeseries_design(tmp_path):
    raw, res = tmp_path / "raw", tmp_path / "res"
    timeseries_dataset(raw)
    block = {"design": "timeseries", "tr": 1.0, "test_runs": ["r2"], "frame_rate": 2, "frame_short_side": 16,
             "test_repeats": {"r2": "{subject}/runs/r2_repeat.npy"}}
    stim = custom.prepare_stimuli(raw, block, ["sub-01", "sub-02"], res / "stimuli.tsv", res / "stimuli")
    assert stim[stim.modality == "clip"].groupby("run").size().to_dict() == {"r1": 4, "r2": 4}
    assert stim[stim.modality == "word"].text.tolist() == ["hello"]
    assert (stim.modality == "frame").sum() == 16 and (stim.modality == "audio").sum() == 8
    ds = custom.prepare_brain(raw, block, "sub-01", res / "stimuli.tsv", res / "brain.zarr")
    assert ds.stimulus_id.values[4] == "r2_tr0" and ds.split.values[4] == "test"
    assert ds.time.values[:4].tolist() == [0, 1, 2, 3] and ds.attrs["ceiling_method"] == "split_half"


def test_timeseries_errors(tmp_path):
    raw, res = tmp_path / "raw", tmp_path / "res"
    timeseries_dataset(raw)
    block = {"design": "timeseries", "tr": 1.0, "test_runs": ["r2"], "frame_rate": 1}
    with pytest.raises(custom.CustomDataError, match="test_runs \\['r9'\\] not in"):
        custom.prepare_stimuli(raw, {**block, "test_runs": ["r9"]}, ["sub-01"], res / "s.tsv", res / "stimuli")
    assert not (res / "s.tsv").exists() and not (res / "stimuli").exists()
    with pytest.raises(custom.CustomDataError, match="tr must be a positive"):
        custom.settings({"design": "timeseries", "test_runs": ["r2"]})
    custom.prepare_stimuli(raw, block, ["sub-01"], res / "stimuli.tsv", res / "stimuli")
    np.save(raw / "sub-02/runs/r1.npy", np.zeros((6, 3)))
    with pytest.raises(custom.CustomDataError, match="sub-02: run 'r1' has 6 TRs but the stimulus table has 4"):
        custom.prepare_brain(raw, block, "sub-02", res / "stimuli.tsv", res / "b.zarr")
    np.savez(raw / "rois.npz", A=np.array([1, 0]))
    with pytest.raises(custom.CustomDataError, match="ROI 'A' has shape \\(2,\\), responses have 3 voxels"):
        custom.prepare_brain(raw, block, "sub-01", res / "stimuli.tsv", res / "b.zarr")
    assert not (res / "b.zarr").exists()


def _perfect_model_nba(ds, signal_test):
    """Normalised alignment a noise-free model (predicting the true signal) gets on the stored test responses."""
    from brainalign.metrics import columnwise_pearson

    test = ds.split.values == "test"
    return columnwise_pearson(signal_test, ds.responses.values[test]) / ds.noise_ceiling.values


def test_timeseries_scored_against_the_presentation_average_its_ceiling_belongs_to(tmp_path):
    """Known truth: a noise-free model's normalised alignment is 1 when score and ceiling refer to the same data."""
    rng = np.random.default_rng(0)
    raw, n_tr, n_vox = tmp_path / "raw", 600, 40
    (raw / "sub-01/runs").mkdir(parents=True)
    pd.DataFrame({"run": ["r1"] * n_tr + ["r2"] * n_tr, "modality": "clip",
                  "split": ["train"] * n_tr + ["test"] * n_tr}).to_csv(tmp_path / "stimuli.tsv", sep="\t", index=False)
    signal = rng.standard_normal((n_tr, n_vox))
    noise_sd = np.linspace(0.5, 2.0, n_vox)
    np.save(raw / "sub-01/runs/r1.npy", signal + noise_sd * rng.standard_normal((n_tr, n_vox)))
    np.save(raw / "sub-01/runs/r2.npy", signal + noise_sd * rng.standard_normal((n_tr, n_vox)))
    np.save(raw / "sub-01/runs/r2_repeat.npy", signal + noise_sd * rng.standard_normal((n_tr, n_vox)))
    np.savez(raw / "rois.npz", A=np.ones(n_vox, bool))
    block = {"design": "timeseries", "tr": 1.0, "test_runs": ["r2"], "test_repeats": {"r2": "{subject}/runs/r2_repeat.npy"}}
    ds = custom.prepare_brain(raw, block, "sub-01", tmp_path / "stimuli.tsv", tmp_path / "brain.zarr")
    first, second = np.load(raw / "sub-01/runs/r2.npy"), np.load(raw / "sub-01/runs/r2_repeat.npy")
    np.testing.assert_allclose(ds.responses.values[n_tr:], (first + second) / 2, rtol=1e-5, atol=1e-5)
    true_ceiling = np.sqrt(1 / (1 + noise_sd**2 / 2))  # r between the signal and the 2-presentation average
    assert np.mean(np.abs(ds.noise_ceiling.values - true_ceiling)) < 0.03
    assert abs(np.mean(_perfect_model_nba(ds, signal)) - 1.0) < 0.03
    assert ds.attrs["test_responses"].startswith("mean of test presentations (effective n = 2")


def test_events_ceiling_matches_the_number_of_presentations_averaged(tmp_path):
    """Three presentations per test image: the ceiling is Spearman-Brown of 3, not of the 2 used to estimate it."""
    rng = np.random.default_rng(1)
    raw, n_train, n_test, n_vox = tmp_path / "raw", 40, 300, 30
    (raw / "sub-01").mkdir(parents=True)
    ids = [f"i{k}" for k in range(n_train + n_test)]
    split = ["train"] * n_train + ["test"] * n_test
    pd.DataFrame({"stimulus_id": ids, "split": split, "run": ["a"] * 20 + ["b"] * 20 + ["t"] * n_test,
                  "modality": "image"}).to_csv(tmp_path / "stimuli.tsv", sep="\t", index=False)
    signal = rng.standard_normal((len(ids), n_vox))
    order = ids[:n_train] + ids[n_train:] * 3
    rows = np.array([ids.index(i) for i in order])
    noise_sd = 1.5
    np.save(raw / "sub-01/responses.npy", signal[rows] + noise_sd * rng.standard_normal((len(rows), n_vox)))
    pd.DataFrame({"stimulus_id": order}).to_csv(raw / "sub-01/samples.tsv", sep="\t", index=False)
    np.savez(raw / "rois.npz", A=np.ones(n_vox, bool))
    ds = custom.prepare_brain(raw, {"design": "events"}, "sub-01", tmp_path / "stimuli.tsv", tmp_path / "b.zarr")
    assert abs(np.mean(_perfect_model_nba(ds, signal[n_train:])) - 1.0) < 0.03
    assert np.mean(ds.noise_ceiling.values) == pytest.approx(np.sqrt(1 / (1 + noise_sd**2 / 3)), abs=0.02)


def test_cross_subject_ceiling_when_asked(tmp_path):
    raw, res = tmp_path / "raw", tmp_path / "res"
    rng = np.random.default_rng(3)
    n, v = 60, 4
    ids = [f"img{i}" for i in range(n)]
    raw.mkdir()
    res.mkdir()
    pd.DataFrame({"stimulus_id": ids, "split": ["train"] * 45 + ["test"] * 15,
                  "run": [f"s{i // 15}" for i in range(n)]}).to_csv(res / "stimuli.tsv", sep="\t", index=False)
    signal = rng.standard_normal((n, v)) * np.array([1.0, 1.0, 0.0, 0.0])  # voxels 2, 3: no shared signal
    subjects = ["sub-01", "sub-02", "sub-03"]
    for s in subjects:
        (raw / s).mkdir()
        np.save(raw / f"{s}/responses.npy", (signal + 0.5 * rng.standard_normal((n, v))).astype(np.float32))
        pd.DataFrame({"stimulus_id": ids}).to_csv(raw / f"{s}/samples.tsv", sep="\t", index=False)
    np.savez(raw / "rois.npz", A=np.array([1, 1, 0, 0]), B=np.array([0, 0, 1, 1]))
    block = {"design": "events", "ceiling": "cross_subject", "ceiling_bootstraps": 5}
    ds = custom.prepare_brain(raw, block, "sub-01", res / "stimuli.tsv", res / "b.zarr", subjects=subjects)
    assert ds.attrs["ceiling_method"] == "cross_subject"
    nc = ds.noise_ceiling.values
    assert (nc[:2] > 0.6).all() and nc[2:].max() < nc[:2].min()  # 15 test samples: noisy, but ordered
    plain = custom.prepare_brain(raw, {"design": "events"}, "sub-01", res / "stimuli.tsv", res / "c.zarr")
    assert plain.attrs["ceiling_method"] == "none"  # no repeats, no file: scores are raw r
    with pytest.raises(custom.CustomDataError, match="at least two subjects"):
        custom.prepare_brain(raw, block, "sub-01", res / "stimuli.tsv", res / "d.zarr", subjects=["sub-01"])
