"""Fetch CNeuroMod data with DataLad: the fMRI files of the subjects, movies and transcripts of the used runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from brainalign.datasets import datalad_source
from brainalign.datasets.cneuromod.runs import CNeuroModError, parse_run_key, settings, split_of
from brainalign.stores import write_tsv

MANIFEST_COLUMNS = ["kind", "subject", "segment", "repeat", "path"]


def _fmri_files(root: Path, cfg: dict, subject: str) -> list[Path]:
    if cfg["source"] == "algonauts2025":
        pattern = cfg["fmri_glob"].format(subject=subject, task=cfg["task"])
        return sorted(root.glob(pattern))
    pattern = cfg["fmriprep"]["file_glob"]
    return sorted(
        p for hemi in ("L", "R") for p in root.glob(pattern.format(subject=subject, hemi=hemi))
    )


def find_one(folder: Path, name_glob: str, what: str) -> Path:
    hits = sorted(folder.rglob(name_glob)) if folder.exists() else []
    if not hits:
        raise CNeuroModError(f"no {what} matching {name_glob!r} under {folder}")
    if len(hits) > 1:
        raise CNeuroModError(f"several {what} files match {name_glob!r} under {folder}: {hits}")
    return hits[0]


def _h5_run_keys(path: Path) -> list[str]:
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return list(fh.keys())
    except OSError as err:
        raise CNeuroModError(f"cannot read fMRI file {path} (missing or truncated?): {err}") from err


def fetch(raw_dir: str | os.PathLike, block: dict, subjects: Sequence[str], manifest: str | os.PathLike) -> pd.DataFrame:
    """Install the dataset into ``raw_dir``, get the files the study needs, write a manifest TSV.

    The manifest lists fMRI files per subject and, per used segment, the movie
    and transcript files (movies only when no ``stimuli_dir`` is configured).
    """
    cfg = settings(block)
    root = Path(raw_dir)
    if cfg["source"] == "fmriprep":
        datalad_source.require_credentials(
            cfg["fmriprep"]["credentials"],
            f"CNeuroMod {cfg['task']} full-resolution derivatives",
            "They come with the CNeuroMod data-use agreement (https://www.cneuromod.ca/access/access/); "
            "or set cneuromod.source: algonauts2025 to use the public parcel release.",
        )
        url = cfg["fmriprep"]["url"].format(task=cfg["task"])
    else:
        url = cfg["datalad_url"]
    datalad_source.install(url, root)
    rows: list[dict] = []
    for subject in subjects:
        files = _fmri_files(root, cfg, subject)
        if not files:
            raise CNeuroModError(
                f"unknown subject {subject!r}: no fMRI files for it in {root} "
                f"(looked for {cfg['fmri_glob'] if cfg['source'] == 'algonauts2025' else cfg['fmriprep']['file_glob']})"
            )
        if cfg["source"] == "fmriprep":
            files = [f for f in files if split_of(parse_run_key(f.name).segment, cfg)]
        datalad_source.get(root, [f.relative_to(root) for f in files])
        rows += [dict(kind="fmri", subject=subject, segment="", repeat=0, path=str(f.relative_to(root))) for f in files]
    segments = sorted(used_segments(root, pd.DataFrame(rows, columns=MANIFEST_COLUMNS), cfg))
    wanted = []
    if cfg["source"] == "algonauts2025" or cfg.get("transcripts_dir"):
        tdir = root / cfg["transcripts_dir"].format(task=cfg["task"])
        _install_subdatasets(root, tdir)
        for seg in segments:
            hits = sorted(tdir.rglob(f"*{seg}.tsv")) if tdir.exists() else []
            if hits:
                wanted.append(("transcript", seg, hits[0]))
    if not cfg.get("stimuli_dir"):
        mdir = root / cfg["movies_dir"].format(task=cfg["task"])
        _install_subdatasets(root, mdir)
        for seg in segments:
            wanted.append(("movie", seg, find_one(mdir, f"*{seg}{cfg['movie_ext']}", "movie")))
    datalad_source.get(root, [p.relative_to(root) for _, _, p in wanted])
    rows += [dict(kind=k, subject="", segment=s, repeat=0, path=str(p.relative_to(root))) for k, s, p in wanted]
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_tsv(table, manifest)
    return table


def _install_subdatasets(root: Path, folder: Path) -> None:
    """Install (without content) the subdatasets that hold ``folder``."""
    if folder.exists() and any(folder.iterdir()):
        return
    import datalad.api as dl

    dl.get(path=str(folder), dataset=str(root), get_data=False, recursive=True,
           result_renderer="disabled", on_failure="ignore")


def used_segments(root: Path, manifest: pd.DataFrame, cfg: dict) -> set[str]:
    segs: set[str] = set()
    for path in manifest.loc[manifest["kind"] == "fmri", "path"]:
        keys = _h5_run_keys(root / path) if str(path).endswith(".h5") else [Path(path).name]
        segs |= {parse_run_key(k).segment for k in keys}
    return {s for s in segs if split_of(s, cfg)}
