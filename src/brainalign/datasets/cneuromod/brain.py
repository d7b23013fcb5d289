"""CNeuroMod brain store of one subject: TR rows of the used runs, noise ceiling and ROIs.

Runs shown twice (Movie10 Life, Hidden Figures) are averaged and give a
split-half noise ceiling; otherwise the ceiling is extrapolated across subjects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.datasets.cneuromod.rois import roi_masks
from brainalign.datasets.cneuromod.runs import CNeuroModError, parse_run_key, settings, split_of
from brainalign.datasets.store_ceilings import cross_subject, split_half_ceiling
from brainalign.stores import brain_dataset, write_store

log = logging.getLogger(__name__)


def _read_runs(root: Path, manifest: pd.DataFrame, subject: str, cfg: dict) -> dict[str, list[np.ndarray]]:
    """Segment -> list of repeats (TRs x voxels float32) for one subject's used runs."""
    files = manifest[(manifest["kind"] == "fmri") & (manifest["subject"] == subject)]["path"]
    if files.empty:
        known = sorted(set(manifest.loc[manifest["kind"] == "fmri", "subject"]))
        raise CNeuroModError(f"unknown subject {subject!r}; the manifest has {known}")
    runs: dict[str, dict[int, np.ndarray]] = {}
    if cfg["source"] == "algonauts2025":
        import h5py

        for rel in files:
            path = root / rel
            try:
                with h5py.File(path, "r") as fh:
                    for key in fh:
                        rk = parse_run_key(key)
                        if split_of(rk.segment, cfg):
                            runs.setdefault(rk.segment, {})[rk.repeat] = np.asarray(fh[key], dtype=np.float32)
            except OSError as err:
                raise CNeuroModError(f"cannot read fMRI file {path} (missing or truncated?): {err}") from err
    else:
        import nibabel as nib

        by_key: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        for rel in files:
            rk = parse_run_key(Path(rel).name)
            hemi = "L" if "hemi-L" in rel else "R"
            try:
                img = nib.load(root / rel)
            except Exception as err:  # nibabel raises several types on bad files
                raise CNeuroModError(f"cannot read fMRI file {root / rel}: {err}") from err
            by_key.setdefault((rk.segment, rk.repeat), {})[hemi] = np.stack(
                [d.data for d in img.darrays]).astype(np.float32)
        for (seg, rep), hemis in by_key.items():
            if set(hemis) != {"L", "R"}:
                raise CNeuroModError(f"{subject} run {seg} repeat {rep}: only hemisphere {set(hemis)} found")
            runs.setdefault(seg, {})[rep] = np.concatenate([hemis["L"], hemis["R"]], axis=1)
    return {seg: [reps[k] for k in sorted(reps)] for seg, reps in sorted(runs.items())}


def _check_lengths(subject: str, seg: str, n_brain: int, n_stim: int | None, tol: int) -> int:
    if n_stim is None:
        raise CNeuroModError(f"{subject}: run {seg!r} has fMRI but no clip rows in the stimulus table")
    if abs(n_brain - n_stim) > tol:
        raise CNeuroModError(
            f"{subject}: run {seg!r} has {n_brain} fMRI TRs but {n_stim} stimulus TR windows "
            f"(more than tr_tolerance={tol} apart)"
        )
    return min(n_brain, n_stim)


def _subject_matrix(runs: dict[str, list[np.ndarray]], lengths: dict[str, int]) -> dict[str, np.ndarray]:
    return {seg: np.mean([r[: lengths[seg]] for r in reps], axis=0) for seg, reps in runs.items()}


def prepare_brain(
    raw_dir: str | os.PathLike,
    manifest: str | os.PathLike,
    stimuli_tsv: str | os.PathLike,
    block: dict,
    subject: str,
    all_subjects: Sequence[str],
    out: str | os.PathLike,
    parcel_labels: str | os.PathLike | None = None,
    roi_groups: str | os.PathLike | None = None,
) -> xr.Dataset:
    """Build the ``brain`` store of one subject: TR rows of the used runs, ceiling, ROIs."""
    cfg = settings(block)
    root = Path(raw_dir)
    table = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    if subject not in all_subjects:
        raise CNeuroModError(f"unknown subject {subject!r}; configured subjects: {list(all_subjects)}")
    stim = pd.read_csv(stimuli_tsv, sep="\t", dtype={"run": str}, keep_default_na=False)
    n_clips = stim[stim["modality"] == "clip"].groupby("run").size().to_dict()
    runs = _read_runs(root, table, subject, cfg)
    if not runs:
        raise CNeuroModError(f"{subject}: no fMRI run matches train {cfg['train']} / test {cfg['test']}")
    lengths = {seg: _check_lengths(subject, seg, min(len(r) for r in reps), n_clips.get(seg), cfg["tr_tolerance"])
               for seg, reps in runs.items()}
    mats = _subject_matrix(runs, lengths)
    segs = list(mats)
    data = np.concatenate([mats[s] for s in segs]).astype(np.float32)
    run_col = np.concatenate([[s] * lengths[s] for s in segs])
    idx = np.concatenate([np.arange(lengths[s]) for s in segs])
    split = np.array([split_of(s, cfg) for s in run_col])
    ceiling, method = _ceiling(root, table, cfg, subject, all_subjects, runs, lengths, mats)
    rois, masks = roi_masks(cfg, data.shape[1], parcel_labels, roi_groups)
    ds = brain_dataset(
        data, [f"{r}_tr{i}" for r, i in zip(run_col, idx)], run_col, split, ceiling, rois, masks,
        time=idx * cfg["tr"],
        space="schaefer1000_7net" if cfg["source"] == "algonauts2025" else "fsaverage",
        tr=float(cfg["tr"]), source=f"cneuromod:{cfg['task']}:{cfg['source']}",
        subject=subject, ceiling_method=method,
        repeats_averaged=sorted(s for s in segs if len(runs[s]) > 1),
    )
    write_store(ds, out, "brain")
    return ds


def _ceiling(root: Path, table: pd.DataFrame, cfg: dict, subject: str, all_subjects: Sequence[str],
             runs: dict[str, list[np.ndarray]], lengths: dict[str, int],
             mats: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The noise ceiling and its method (``cneuromod.ceiling``; ``auto``: split-half where possible)."""
    test_segs = [s for s in mats if split_of(s, cfg) == "test"]
    if not test_segs:
        raise CNeuroModError(f"{subject}: no test run found for test={cfg['test']}")
    method = cfg["ceiling"]
    repeated = [s for s in test_segs if len(runs[s]) >= 2]
    if method == "auto":
        method = "split_half" if len(repeated) == len(test_segs) else "cross_subject"
    if method == "split_half":
        if len(repeated) != len(test_segs):
            missing = sorted(set(test_segs) - set(repeated))
            raise CNeuroModError(f"{subject}: split_half ceiling needs 2 repeats of every test run; {missing} have one")
        rep1 = np.concatenate([runs[s][0][: lengths[s]] for s in test_segs])
        rep2 = np.concatenate([runs[s][1][: lengths[s]] for s in test_segs])
        return split_half_ceiling(rep1, rep2), method
    return _cross_subject_ceiling(root, table, cfg, subject, all_subjects, runs, lengths, mats), method


def _cross_subject_ceiling(root: Path, table: pd.DataFrame, cfg: dict, subject: str, all_subjects: Sequence[str],
                           runs: dict[str, list[np.ndarray]], lengths: dict[str, int],
                           mats: dict[str, np.ndarray]) -> np.ndarray:
    """The ceiling predicted from the other subjects with the same runs (each run cut to the shortest)."""
    segs = list(mats)
    sources, common = [], dict(lengths)
    for other in all_subjects:
        if other == subject:
            continue
        oruns = _read_runs(root, table, other, cfg)
        if set(oruns) != set(runs):
            log.warning("subject %s lacks runs %s; left out of the cross-subject ceiling",
                        other, sorted(set(runs) - set(oruns)))
            continue
        common = {s: min(common[s], min(len(r) for r in oruns[s])) for s in segs}
        sources.append(oruns)
    if not sources:
        raise CNeuroModError(f"{subject}: cross-subject ceiling needs another subject with the same runs")

    def stack(m):
        return np.concatenate([m[s][: common[s]] for s in segs])

    others = [stack(_subject_matrix(o, common)) for o in sources]
    in_split = np.concatenate([[split_of(s, cfg)] * common[s] for s in segs])
    groups = np.concatenate([[i] * common[s] for i, s in enumerate(segs)])
    return cross_subject(stack(mats), others, in_split == "train", in_split == "test",
                         groups=groups, n_boot=cfg["ceiling_bootstraps"])
