"""CNeuroMod kind on a local DataLad dataset with the Algonauts 2025 layout (library and Snakemake rules)."""

import h5py
import numpy as np
import pandas as pd
import pytest
from cneuromod_data import N_PARCELS, TR, parcel_labels
from kind_rules import snakemake, write_workflow

from brainalign.datasets import cneuromod
from brainalign.datasets.datalad_source import CredentialsError, DataSourceError
from brainalign.stores import read_store

SUBJECTS = ["sub-01", "sub-02", "sub-03"]


@pytest.fixture(scope="module")
def fetched(tmp_path_factory, algonauts_source):
    """Install + fetch once through the real DataLad path; cut the movies once."""
    work = tmp_path_factory.mktemp("work")
    block = {"task": "movie10", "datalad_url": str(algonauts_source), "train": ["bourne"], "test": ["life"],
             "tr": TR, "frame_rate": 4.0, "frame_short_side": 16, "audio_rate": 8000, "tr_tolerance": 1,
             "ceiling_bootstraps": 5}
    raw = work / "raw"
    manifest = cneuromod.fetch(raw, block, SUBJECTS, work / "res/ds/raw/manifest.tsv")
    stim = cneuromod.prepare_stimuli(raw, work / "res/ds/raw/manifest.tsv", block,
                                     work / "res/ds/stimuli.tsv", work / "res/ds/stimuli")
    return dict(work=work, raw=raw, block=block, manifest=manifest, stim=stim)


def test_fetch_installs_and_gets_only_needed_files(fetched):
    m, raw = fetched["manifest"], fetched["raw"]
    assert (raw / ".git").exists()
    assert sorted(m[m.kind == "fmri"].subject) == SUBJECTS
    assert sorted(m[m.kind == "movie"].segment) == ["bourne01", "life01"]  # wolf is not used
    assert m[m.kind == "transcript"].segment.tolist() == ["life01"]
    for p in m.path:
        assert (raw / p).stat().st_size > 0  # content present, not a dangling annex link
    wolf = next(raw.rglob("*wolf01.mkv"))
    assert wolf.is_symlink() and not wolf.exists()  # annexed, not fetched


def test_stimulus_table_for_movies(fetched):
    stim = pd.read_csv(fetched["work"] / "res/ds/stimuli.tsv", sep="\t", keep_default_na=False)
    clips = stim[stim.modality == "clip"]
    assert clips.groupby("run").size().to_dict() == {"bourne01": 10, "life01": 10}
    assert set(stim.modality) == {"frame", "audio", "word", "clip"}
    assert dict(zip(clips.run, clips.split)) == {"bourne01": "train", "life01": "test"}
    assert stim[stim.modality == "word"].text.tolist() == ["what", "a", "view"]
    for p in stim.path[stim.path != ""]:
        assert (fetched["work"] / "res/ds" / p).is_file()
    assert not list((fetched["work"] / "res/ds").glob(".*tmp"))


def test_brain_store_with_split_half_ceiling(fetched, tmp_path):
    w = fetched["work"]
    labels = parcel_labels(tmp_path / "labels.tsv")
    groups = tmp_path / "groups.yaml"
    groups.write_text("rois:\n  EV: {labels: [Vis], y: [-120, -60]}\n  TEMP: {labels: [Default_Temp]}\n")
    out = tmp_path / "sub-01.zarr"
    cneuromod.prepare_brain(fetched["raw"], w / "res/ds/raw/manifest.tsv", w / "res/ds/stimuli.tsv",
                            fetched["block"], "sub-01", SUBJECTS, out, labels, groups)
    ds = read_store(out, "brain")
    assert ds.responses.shape == (20, N_PARCELS)
    assert ds.stimulus_id.values[:2].tolist() == ["bourne01_tr0", "bourne01_tr1"]
    assert ds.time.values[:3].tolist() == pytest.approx([0, TR, 2 * TR])
    assert (ds.split.values == np.repeat(["train", "test"], 10)).all()
    assert ds.attrs["ceiling_method"] == "split_half"
    with h5py.File(next(fetched["raw"].rglob("sub-01_task-movie10*.h5")), "r") as fh:
        r1, r2 = fh["ses-002_task-life01_run-1"][:], fh["ses-003_task-life01_run-2"][:]
    np.testing.assert_allclose(ds.responses.values[10:], (r1 + r2) / 2, rtol=1e-5)
    r = np.array([np.corrcoef(r1[:, v], r2[:, v])[0, 1] for v in range(N_PARCELS)])
    np.testing.assert_allclose(ds.noise_ceiling.values, np.sqrt(np.clip(2 * r / (1 + r), 0, None)), atol=1e-5)
    names = pd.read_csv(labels, sep="\t").name
    ev = ds.roi_mask.sel(roi="EV").values
    assert ev.any() and all("_Vis_" in n for n in names[ev])
    assert ds.roi_mask.sel(roi="TEMP").sum() == sum("Default_Temp" in n for n in names)


def test_cross_subject_ceiling_without_repeats(fetched, tmp_path):
    w = fetched["work"]
    block = {**fetched["block"], "ceiling": "cross_subject"}
    out = tmp_path / "sub-02.zarr"
    cneuromod.prepare_brain(fetched["raw"], w / "res/ds/raw/manifest.tsv", w / "res/ds/stimuli.tsv",
                            block, "sub-02", SUBJECTS, out, parcel_labels(tmp_path / "l.tsv"),
                            tmp_path.joinpath("g.yaml").write_text("rois:\n  V: {labels: [Vis]}\n") and tmp_path / "g.yaml")
    ds = read_store(out, "brain")
    assert ds.attrs["ceiling_method"] == "cross_subject"
    nc = ds.noise_ceiling.values
    assert nc.shape == (N_PARCELS,) and (nc > 0.3).all() and (nc <= 1).all()


def test_tr_mismatch_unknown_subject_and_truncated_file(fetched, tmp_path):
    w, raw = fetched["work"], fetched["raw"]
    stim = pd.read_csv(w / "res/ds/stimuli.tsv", sep="\t", keep_default_na=False)
    short = stim[~((stim.run == "life01") & stim.stimulus_id.str.match(r"life01_tr[5-9]$"))]
    short.to_csv(tmp_path / "short.tsv", sep="\t", index=False)
    out = tmp_path / "x.zarr"
    args = (raw, w / "res/ds/raw/manifest.tsv")
    with pytest.raises(cneuromod.CNeuroModError, match="run 'life01' has 10 fMRI TRs but 5 stimulus TR windows"):
        cneuromod.prepare_brain(*args, tmp_path / "short.tsv", fetched["block"], "sub-01", SUBJECTS, out,
                                parcel_labels(tmp_path / "l.tsv"))
    assert not out.exists() and not list(tmp_path.glob(".x.zarr*"))
    with pytest.raises(cneuromod.CNeuroModError, match="unknown subject 'sub-07'"):
        cneuromod.prepare_brain(*args, w / "res/ds/stimuli.tsv", fetched["block"], "sub-07", SUBJECTS + ["sub-07"],
                                out)
    with pytest.raises(cneuromod.CNeuroModError, match="unknown subject 'sub-09'"):
        cneuromod.fetch(raw, fetched["block"], ["sub-09"], tmp_path / "m.tsv")
    assert not (tmp_path / "m.tsv").exists()
    # a truncated fMRI file
    bad = tmp_path / "rawcopy"
    h5 = next(raw.rglob("sub-01_task-movie10*.h5"))
    dst = bad / h5.relative_to(raw)
    dst.parent.mkdir(parents=True)
    dst.write_bytes(h5.read_bytes()[:2000])
    with pytest.raises(cneuromod.CNeuroModError, match="missing or truncated"):
        cneuromod.prepare_brain(bad, w / "res/ds/raw/manifest.tsv", w / "res/ds/stimuli.tsv", fetched["block"],
                                "sub-01", SUBJECTS, out, parcel_labels(tmp_path / "l.tsv"))


def test_unknown_run_and_bad_config(fetched, tmp_path):
    block = {**fetched["block"], "train": ["bourne"], "test": ["titanic"]}
    with pytest.raises(cneuromod.CNeuroModError, match="no test run found for test=\\['titanic'\\]"):
        cneuromod.prepare_brain(fetched["raw"], fetched["work"] / "res/ds/raw/manifest.tsv",
                                fetched["work"] / "res/ds/stimuli.tsv", block, "sub-01", SUBJECTS,
                                tmp_path / "o.zarr", parcel_labels(tmp_path / "l.tsv"))
    with pytest.raises(cneuromod.CNeuroModError, match="task is 'movie11'; allowed"):
        cneuromod.settings({**fetched["block"], "task": "movie11"})
    with pytest.raises(cneuromod.CNeuroModError, match="both train and test"):
        cneuromod.settings({**fetched["block"], "test": ["bourne"]})
    with pytest.raises(cneuromod.CNeuroModError, match="does not look like"):
        cneuromod.parse_run_key("task_life")
    assert cneuromod.parse_run_key("ses-003_task-life01_run-2") == cneuromod.RunKey("003", "life01", 2)
    assert cneuromod.segment_group("s01e02a", "friends") == "s01"


def test_missing_credentials_fail_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    block = {"task": "friends", "source": "fmriprep", "train": ["s01"], "test": ["s02"]}
    with pytest.raises(CredentialsError, match="missing: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"):
        cneuromod.fetch(tmp_path / "raw", block, ["sub-01"], tmp_path / "manifest.tsv")
    assert not (tmp_path / "raw").exists() and not (tmp_path / "manifest.tsv").exists()


def test_fetch_from_a_source_that_does_not_exist(tmp_path):
    block = {"task": "movie10", "datalad_url": str(tmp_path / "nowhere"), "train": ["bourne"], "test": ["life"]}
    with pytest.raises(DataSourceError, match="cannot install DataLad dataset"):
        cneuromod.fetch(tmp_path / "raw", block, ["sub-01"], tmp_path / "m.tsv")


def test_snakemake_rules(movie10_block, tmp_path):
    """The rules fetch, cut and build the stores through the dataset kind's jobs."""
    groups = tmp_path / "groups.yaml"
    groups.write_text("rois:\n  EV: {labels: [Vis]}\n")
    block = {**movie10_block, "parcel_labels": str(parcel_labels(tmp_path / "labels.tsv")), "roi_groups": str(groups)}
    write_workflow(tmp_path, "data_cneuromod.smk", {"cnm": {
        "kind": "cneuromod", "subjects": ["sub-01", "sub-02"], "raw_dir": "raw", "models": ["vit-tiny"],
        "cneuromod": block}})
    run = snakemake(tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    ds = read_store(tmp_path / "results/cnm/brain/sub-02.zarr", "brain")
    assert ds.responses.shape == (20, N_PARCELS) and ds.attrs["subject"] == "sub-02"
    assert list(ds.roi.values) == ["EV"] and ds.attrs["ceiling_method"] == "split_half"
    table = pd.read_csv(tmp_path / "results/cnm/stimuli.tsv", sep="\t", keep_default_na=False)
    assert set(ds.stimulus_id.values) <= set(table.stimulus_id)
