"""Algonauts 2023 kind on a tiny generated release layout (library and Snakemake rules)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kind_rules import snakemake, write_workflow
from PIL import Image

from brainalign.datasets import algonauts2023 as alg
from brainalign.stores import read_store

COMMON = [13, 27, 40, 55, 61, 77, 83, 90, 104, 118, 125, 131, 140, 152, 166, 170, 188, 199, 203, 215]
WIDTHS = {"subj01": (20, 15), "subj02": (18, 16), "subj03": (17, 14)}
PRF = {0: "Unknown", 1: "V1v", 2: "V1d", 3: "hV4"}
FACES = {0: "Unknown", 1: "OFA", 2: "FFA-1", 3: "FFA-2"}


def make_release(raw: Path) -> dict:
    """Three subjects; 20 images all saw plus 16 of their own; half the vertices carry shared signal."""
    latent = {i: np.random.default_rng(i).standard_normal(4) for i in range(1000)}
    truth = {}
    for s, (subject, widths) in enumerate(WIDTHS.items()):
        rng = np.random.default_rng(s)
        own = [300 + 50 * s + k for k in range(16)]
        nsd_ids = list(rng.permutation(COMMON + own))
        base = raw / subject
        img_dir = base / "training_split" / "training_images"
        img_dir.mkdir(parents=True)
        (base / "test_split" / "test_images").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(base / "test_split" / "test_images" / "test-0001_nsd-00999.png")
        for row, n in enumerate(nsd_ids):
            Image.new("RGB", (8, 8), (n % 256, 0, 0)).save(img_dir / f"train-{row + 1:04d}_nsd-{n:05d}.png")
        fmri_dir = base / "training_split" / "training_fmri"
        fmri_dir.mkdir(parents=True)
        masks = base / "roi_masks"
        masks.mkdir()
        arrays = {}
        for h, (hemi, width) in enumerate(zip(("lh", "rh"), widths)):
            weights = rng.standard_normal((4, width))
            weights[:, width // 2:] = 0  # second half of each hemisphere: noise only
            x = np.stack([latent[n] for n in nsd_ids])
            arrays[hemi] = (x @ weights + 0.5 * rng.standard_normal((len(nsd_ids), width))).astype(np.float32)
            np.save(fmri_dir / f"{hemi}_training_fmri.npy", arrays[hemi])
            for roi, table in (("prf-visualrois", PRF), ("floc-faces", FACES)):
                labels = rng.integers(0, 4, width)
                labels[:3] = [1, 2, 3]
                np.save(masks / f"{hemi}.{roi}_challenge_space.npy", labels)
                arrays[f"{hemi}.{roi}"] = labels
        for roi, table in (("prf-visualrois", PRF), ("floc-faces", FACES)):
            if subject == "subj03":
                (masks / f"mapping_{roi}.json").write_text(json.dumps({str(k): v for k, v in table.items()}))
            else:
                np.save(masks / f"mapping_{roi}.npy", table)  # pickled dict, as in the release
        truth[subject] = {"ids": [f"nsd{n:05d}" for n in nsd_ids], **arrays}
    return truth


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    raw = tmp_path_factory.mktemp("algonauts2023") / "raw"
    return raw, make_release(raw)


BLOCK = {"roi_files": ["prf-visualrois", "floc-faces"], "ceiling_bootstraps": 3}


def test_stores_follow_the_release(release, tmp_path):
    raw, truth = release
    res = tmp_path / "res"
    subjects = list(WIDTHS)
    stim = alg.prepare_stimuli(raw, BLOCK, subjects, res / "stimuli.tsv", res / "stimuli")
    n_union = len(COMMON) + 16 * 3
    assert len(stim) == n_union and (stim.split == "test").sum() == round(0.1 * n_union)
    assert stim.run.nunique() == 10 and (res / stim.path.iloc[0]).is_file()
    assert "nsd00999" not in set(stim.stimulus_id)  # test_split images have no fMRI
    for subject in subjects:
        ds = alg.prepare_brain(raw, BLOCK, subject, subjects, res / "stimuli.tsv", res / f"{subject}.zarr")
        t = truth[subject]
        assert ds.stimulus_id.values.tolist() == t["ids"]
        np.testing.assert_array_equal(ds.responses.values, np.concatenate([t["lh"], t["rh"]], axis=1))
        split = stim.set_index("stimulus_id").loc[t["ids"], "split"].tolist()
        assert ds.split.values.tolist() == split
        for roi, table in (("prf-visualrois", PRF), ("floc-faces", FACES)):
            labels = np.concatenate([t[f"lh.{roi}"], t[f"rh.{roi}"]])
            for k, name in table.items():
                if k:
                    np.testing.assert_array_equal(ds.roi_mask.sel(roi=name).values, labels == k)
        assert {"all", "FFA", "faces", "V1", "early_visual"} <= set(ds.roi.values)
        assert (ds.noise_ceiling.values == 1).all() and ds.attrs["ceiling_method"] == "none"
        assert ds.hemi.values.tolist() == ["lh"] * WIDTHS[subject][0] + ["rh"] * WIDTHS[subject][1]
    assert read_store(res / "subj02.zarr", "brain").sizes["voxel"] == sum(WIDTHS["subj02"])


def test_shared_and_list_splits(release, tmp_path):
    raw, _ = release
    stim = alg.prepare_stimuli(raw, {**BLOCK, "test_split": "shared"}, list(WIDTHS), tmp_path / "s.tsv", tmp_path / "s")
    assert set(stim.loc[stim.split == "test", "stimulus_id"]) == {f"nsd{n:05d}" for n in COMMON}
    listing = tmp_path / "test.txt"
    listing.write_text("train-0003_nsd-00013.png\nnsd-00027\n40\n")
    stim = alg.prepare_stimuli(raw, {**BLOCK, "test_split": "list", "test_list": str(listing)}, ["subj01"],
                               tmp_path / "l.tsv", tmp_path / "l")
    assert sorted(stim.loc[stim.split == "test", "stimulus_id"]) == ["nsd00013", "nsd00027", "nsd00040"]


def test_cross_subject_ceiling_finds_the_signal_vertices(release, tmp_path):
    raw, _ = release
    block = {**BLOCK, "test_split": "fraction", "test_fraction": 0.3, "ceiling": "cross_subject"}
    subjects = list(WIDTHS)
    alg.prepare_stimuli(raw, block, subjects, tmp_path / "stimuli.tsv", tmp_path / "stimuli")
    ds = alg.prepare_brain(raw, block, "subj01", subjects, tmp_path / "stimuli.tsv", tmp_path / "b.zarr")
    c = ds.noise_ceiling.values
    lh, rh = WIDTHS["subj01"]
    signal = np.r_[np.arange(lh // 2), lh + np.arange(rh // 2)]
    noise = np.setdiff1d(np.arange(lh + rh), signal)
    assert ((c >= 0) & (c <= 1)).all() and ds.attrs["ceiling_method"] == "cross_subject"
    assert c[signal].mean() > 0.7 and c[noise].mean() < 0.35


def test_errors_name_the_problem(release, tmp_path):
    raw, _ = release
    with pytest.raises(alg.AlgonautsError, match="unknown subject 'subj09': no folder"):
        alg.prepare_stimuli(raw, BLOCK, ["subj01", "subj09"], tmp_path / "x.tsv", tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.tsv").exists()
    with pytest.raises(alg.AlgonautsError, match="test_split is 'half'"):
        alg.settings({"test_split": "half"})
    broken = tmp_path / "raw"
    import shutil

    shutil.copytree(raw / "subj01", broken / "subj01")
    alg.prepare_stimuli(broken, BLOCK, ["subj01"], tmp_path / "st.tsv", tmp_path / "st")
    fmri = broken / "subj01/training_split/training_fmri/rh_training_fmri.npy"
    fmri.write_bytes(fmri.read_bytes()[:200])
    with pytest.raises(alg.AlgonautsError, match="rh_training_fmri.npy .truncated"):
        alg.prepare_brain(broken, BLOCK, "subj01", ["subj01"], tmp_path / "st.tsv", tmp_path / "b.zarr")
    np.save(fmri, np.zeros((5, 15), np.float32))
    with pytest.raises(alg.AlgonautsError, match=r"has shape \(5, 15\) but there are 36 training images"):
        alg.prepare_brain(broken, BLOCK, "subj01", ["subj01"], tmp_path / "st.tsv", tmp_path / "b.zarr")
    (broken / "subj01/roi_masks/mapping_floc-faces.npy").unlink()
    np.save(fmri, np.zeros((36, 15), np.float32))
    with pytest.raises(alg.AlgonautsError, match="mapping not found: .*mapping_floc-faces.npy"):
        alg.prepare_brain(broken, BLOCK, "subj01", ["subj01"], tmp_path / "st.tsv", tmp_path / "b.zarr")
    assert not (tmp_path / "b.zarr").exists()
    with pytest.raises(alg.AlgonautsError, match="cross_subject needs at least two subjects"):
        shutil.copy(raw / "subj01/roi_masks/mapping_floc-faces.npy", broken / "subj01/roi_masks/")
        alg.prepare_brain(broken, {**BLOCK, "ceiling": "cross_subject"}, "subj01", ["subj01"],
                          tmp_path / "st.tsv", tmp_path / "b.zarr")


def test_snakemake_rules(release, tmp_path):
    raw, truth = release
    write_workflow(tmp_path, "data_algonauts2023.smk", {"alg": {
        "kind": "algonauts2023", "subjects": ["subj01", "subj02"], "raw_dir": str(raw), "models": ["vit-tiny"],
        "algonauts2023": BLOCK}})
    run = snakemake(tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    ds = read_store(tmp_path / "results/alg/brain/subj02.zarr", "brain")
    assert ds.stimulus_id.values.tolist() == truth["subj02"]["ids"]
    table = pd.read_csv(tmp_path / "results/alg/stimuli.tsv", sep="\t")
    assert set(ds.stimulus_id.values) <= set(table.stimulus_id)


def test_pickled_mapping_is_read_without_running_code(tmp_path):
    import os

    from brainalign.datasets.algonauts2023 import AlgonautsError, read_mapping

    np.save(tmp_path / "mapping_rois.npy", {0: "Unknown", 1: "V1v", np.int64(2): "V1d"})
    assert read_mapping(tmp_path, "rois") == {1: "V1v", 2: "V1d"}
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = np.empty((), dtype=object)
    evil[()] = Payload()
    np.save(tmp_path / "mapping_bad.npy", evil, allow_pickle=True)
    with pytest.raises(AlgonautsError, match="refusing to load posix.system"):
        read_mapping(tmp_path, "bad")
    assert not marker.exists()
