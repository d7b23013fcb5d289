"""The real NSD rules under Snakemake: download from a loopback S3 server, build the stores, rerun nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kind_rules import ROOT, snakemake, write_workflow
from nsd_minibucket import BETAS, N_SESSIONS, SHARED, SPECIFIC, TPS, nsd_bucket  # noqa: F401 - fixture

from brainalign.stores import read_store


@pytest.fixture
def workdir(nsd_bucket, tmp_path) -> Path:
    return write_workflow(tmp_path, "data_nsd.smk", {"nsd-mini": {
        "kind": "nsd", "subjects": ["subj01", "subj02"], "raw_dir": "data/nsd", "models": ["vit-tiny"],
        "nsd": {"endpoint_url": nsd_bucket.endpoint, "sessions": N_SESSIONS, "trials_per_session": TPS,
                "roi_files": ["prf-visualrois", "floc-faces"], "fetch_workers": 2,
                "roi_groups": str(ROOT / "resources/rois/nsd/groups.yaml")}}})


def test_rules_download_prepare_and_rerun_nothing(workdir):
    run = snakemake(workdir, isolated=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    raw = workdir / "data/nsd"
    betas = sorted(raw.glob(f"nsddata_betas/ppdata/subj0*/func1pt8mm/{BETAS}/betas_session*.nii.gz"))
    assert len(betas) == 2 * N_SESSIONS
    assert not (raw / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5").exists()  # images by range reads only
    assert not list(raw.rglob("*.part"))
    stim = pd.read_csv(workdir / "results/nsd-mini/stimuli.tsv", sep="\t", keep_default_na=False)
    assert len(stim) == len(set(SHARED + SPECIFIC[1] + SPECIFIC[2]))
    for subj in ("subj01", "subj02"):
        ds = read_store(workdir / f"results/nsd-mini/brain/{subj}.zarr", "brain")
        assert (ds.split.values == "test").sum() == len(SHARED)
        assert set(ds.stimulus_id.values) <= set(stim.stimulus_id)
        assert np.isfinite(ds.responses.values).all() and "FFA-1" in ds.roi.values
    mtimes = {p: p.stat().st_mtime_ns for p in raw.rglob("*") if p.is_file()}
    again = snakemake(workdir, "-n", isolated=True)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    rerun = snakemake(workdir, isolated=True)
    assert rerun.returncode == 0
    assert mtimes == {p: p.stat().st_mtime_ns for p in raw.rglob("*") if p.is_file()}


def test_unknown_subject_stops_before_any_job(workdir):
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg["datasets"]["nsd-mini"]["subjects"] = ["subj01", "subj12"]
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake(workdir, "-n", isolated=True)
    assert run.returncode != 0 and "unknown NSD subject 'subj12'" in run.stdout + run.stderr
    assert not (workdir / "data").exists()
