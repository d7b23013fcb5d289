"""Fixtures: a local DataLad dataset with the Algonauts 2025 layout."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import pandas as pd
import pytest
from cneuromod_data import MOVIE_SECONDS, SEGMENTS, TR, brain_signal
from media import encode_movie

@pytest.fixture(scope="session", autouse=True)
def git_identity():
    for key, val in dict(GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.org",
                         GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.org").items():
        os.environ.setdefault(key, val)


@pytest.fixture(scope="session")
def algonauts_source(tmp_path_factory) -> Path:
    """A DataLad dataset laid out like courtois-neuromod/algonauts_2025.competitors."""
    from brainalign.datasets.datalad_source import ensure_git_annex

    ensure_git_annex()
    import datalad.api as dl

    root = tmp_path_factory.mktemp("algonauts") / "algonauts_2025.competitors"
    dl.create(path=str(root), result_renderer="disabled")
    n = int(MOVIE_SECONDS / TR)
    for s, subject in enumerate(["sub-01", "sub-02", "sub-03"]):
        func = root / "fmri" / subject / "func"
        func.mkdir(parents=True)
        path = func / f"{subject}_task-movie10_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_bold.h5"
        with h5py.File(path, "w") as fh:
            ses = 1
            for seg, times in SEGMENTS.items():
                for rep in range(1, times + 1):
                    key = f"ses-{ses:03d}_task-{seg}" + (f"_run-{rep}" if times > 1 else "")
                    fh[key] = brain_signal(s, n, rep)
                    ses += 1
    movies = root / "stimuli" / "movies" / "movie10"
    dl.create(path=str(movies), dataset=str(root), result_renderer="disabled")
    for seg in SEGMENTS:
        (movies / seg[:-2]).mkdir()
        encode_movie(movies / seg[:-2] / f"{seg}.mkv", seconds=MOVIE_SECONDS, fps=10)
    tdir = root / "stimuli" / "transcripts" / "movie10" / "life"
    tdir.mkdir(parents=True)
    rows = [["", "[]", "[]", "[]"] for _ in range(n)]
    rows[2] = ["what a view", "['what', 'a', 'view']", "[1.0, 1.2, 1.3]", "[0.2, 0.1, 0.4]"]
    pd.DataFrame(rows, columns=["text_per_tr", "words_per_tr", "onsets_per_tr", "durations_per_tr"]).to_csv(
        tdir / "movie10_life01.tsv", sep="\t", index=False)
    dl.save(dataset=str(root), recursive=True, message="algonauts layout", result_renderer="disabled")
    return root


@pytest.fixture
def movie10_block(algonauts_source) -> dict:
    return {"task": "movie10", "datalad_url": str(algonauts_source), "train": ["bourne"], "test": ["life"],
            "tr": TR, "frame_rate": 4.0, "frame_short_side": 16, "audio_rate": 8000, "tr_tolerance": 1,
            "ceiling_bootstraps": 5}
