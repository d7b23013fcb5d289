"""The brain store of one subject of a ``custom`` dataset: responses checked against the stimulus table.

The noise ceiling: the given file, else split-half of repeated test presentations,
else none (ceiling 1: scores are raw r and are labelled so); with ``ceiling:
cross_subject`` the other subjects' responses to the same samples predict this one's.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.datasets.custom.files import CustomDataError, load_array, raw_path, read_table, safe_name, settings
from brainalign.datasets.store_ceilings import cross_subject, split_half_ceiling
from brainalign.stores import brain_dataset, write_store

log = logging.getLogger(__name__)


@dataclass
class Responses:
    """One subject's responses (sample x voxel) with their labels, and the repeats of its test samples."""

    data: np.ndarray
    stimulus_id: list[str]
    run: list[str]
    split: list[str]
    tr: float
    n_presentations: float  # effective number of presentations averaged in the test responses
    time: np.ndarray | None = None
    rep1: np.ndarray | None = None
    rep2: np.ndarray | None = None


def _rois(raw: Path, cfg: dict, n_vox: int) -> tuple[list[str], np.ndarray]:
    path = raw_path(raw, cfg["rois"], "custom.rois")
    if not path.exists():
        raise CustomDataError(f"ROI file not found: {path} (an .npz of ROI name -> voxel mask)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {n: np.asarray(npz[n]) for n in sorted(npz.files)}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CustomDataError(f"cannot read ROI file {path} (an .npz of ROI name -> voxel mask): {err}") from err
    masks = []
    for n, m in arrays.items():
        if m.shape != (n_vox,):
            raise CustomDataError(f"{path}: ROI {n!r} has shape {m.shape}, responses have {n_vox} voxels")
        if not np.isin(np.unique(m), [0, 1]).all():
            raise CustomDataError(f"{path}: ROI {n!r} must be boolean or 0/1")
        if not m.any():
            raise CustomDataError(f"{path}: ROI {n!r} selects no voxel; give it at least one or leave it out")
        masks.append(m.astype(bool))
    if not arrays:
        raise CustomDataError(f"{path} holds no ROI")
    return list(arrays), np.array(masks)


def _nonfinite_voxels(arrays: dict[str, np.ndarray | None], subject: str, policy: str) -> np.ndarray:
    """Voxels with a NaN or infinite value in any of ``arrays`` (label -> rows x voxels or voxels).

    Policy ``error`` refuses them naming the file and the first voxels; ``drop_voxels``
    returns the mask of voxels to keep (reported in the log).
    """
    bad = None
    for label, arr in arrays.items():
        if arr is None:
            continue
        here = ~np.isfinite(arr) if arr.ndim == 1 else ~np.isfinite(arr).all(axis=0)
        if here.any() and policy == "error":
            first = np.flatnonzero(here)[:5].tolist()
            raise CustomDataError(
                f"{subject}: {label} has NaN or infinite values in {int(here.sum())} voxels (first: {first}); "
                "fix the data or set custom.nonfinite: drop_voxels to leave those voxels out")
        bad = here if bad is None else bad | here
    if bad is not None and bad.any():
        log.warning("%s: dropped %d voxels with NaN or infinite values (first: %s)", subject, int(bad.sum()),
                    np.flatnonzero(bad)[:10].tolist())
    return np.ones(0, bool) if bad is None else ~bad


def prepare_brain(raw_dir: str | os.PathLike, block: dict, subject: str, stimuli_tsv: str | os.PathLike,
                  out: str | os.PathLike, subjects: list[str] | None = None) -> xr.Dataset:
    """Validate one subject's responses against the stimulus table; write the brain store (see the module doc)."""
    cfg = settings(block)
    raw = Path(raw_dir)
    stim = pd.read_csv(stimuli_tsv, sep="\t", dtype=str, keep_default_na=False)
    resp = _subject_data(raw, cfg, subject, stim)
    n_vox = resp.data.shape[1]
    nc_path = raw_path(raw, cfg["noise_ceiling"].format(subject=subject), "custom.noise_ceiling")
    ceiling, method = _ceiling(raw, cfg, subject, list(subjects or []), stim, resp, nc_path)
    rois, masks = _rois(raw, cfg, n_vox)
    source = raw / (cfg["responses"] if cfg["design"] == "events" else cfg["runs"]).format(subject=subject, run="*")
    keep = _nonfinite_voxels({f"responses ({source})": resp.data, "second presentations": resp.rep2,
                              "first presentations": resp.rep1, f"noise ceiling {nc_path.name}": ceiling},
                             subject, cfg["nonfinite"])
    masks = masks[:, keep]
    empty = [r for r, m in zip(rois, masks) if not m.any()]
    if empty:
        raise CustomDataError(f"{subject}: ROIs {empty} keep no voxel once non-finite voxels are dropped")
    ds = brain_dataset(
        resp.data[:, keep], resp.stimulus_id, resp.run, resp.split, ceiling[keep], rois, masks, time=resp.time,
        voxel=np.arange(n_vox)[keep], space=cfg["space"], tr=resp.tr, source="custom", subject=subject,
        ceiling_method=method, test_responses=_scored_description(resp.n_presentations),
    )
    write_store(ds, out, "brain")
    return ds


def _ceiling(raw: Path, cfg: dict, subject: str, subjects: list[str], stim: pd.DataFrame, resp: Responses,
             nc_path: Path) -> tuple[np.ndarray, str]:
    """The noise ceiling (float32 per voxel) and how it was obtained."""
    n_vox = resp.data.shape[1]
    if cfg["ceiling"] == "cross_subject":
        return _cross_subject(raw, cfg, subject, subjects, stim, resp), "cross_subject"
    if nc_path.exists():
        ceiling = np.load(nc_path, allow_pickle=False).astype(np.float32)
        if ceiling.shape != (n_vox,):
            raise CustomDataError(f"{nc_path} has shape {ceiling.shape}, expected ({n_vox},)")
        return ceiling, "given"
    if resp.rep1 is not None:
        return split_half_ceiling(resp.rep1, resp.rep2, resp.n_presentations), "split_half"
    log.warning("%s: no noise ceiling and no repeats; ceiling set to 1 (normalised = raw r)", subject)
    return np.ones(n_vox, np.float32), "none"


def _cross_subject(raw: Path, cfg: dict, subject: str, subjects: list[str], stim: pd.DataFrame,
                   resp: Responses) -> np.ndarray:
    """Cross-subject prediction ceiling: the other subjects' responses to the same samples predict this one's."""
    others = [s for s in subjects if s != subject]
    if not others:
        raise CustomDataError("custom.ceiling: cross_subject needs at least two subjects")
    sources = []
    for other in others:
        o_resp = _subject_data(raw, cfg, other, stim)
        if list(o_resp.stimulus_id) != list(resp.stimulus_id) or o_resp.data.shape != resp.data.shape:
            raise CustomDataError(f"custom.ceiling: cross_subject needs every subject to have the same samples "
                                  f"and voxels; {other} differs from {subject}")
        sources.append(o_resp.data)
    split = np.asarray(resp.split, dtype=str)
    return cross_subject(resp.data, sources, split == "train", split == "test",
                         groups=np.asarray(resp.run, dtype=str), n_boot=cfg["ceiling_bootstraps"])


def _subject_data(raw: Path, cfg: dict, subject: str, stim: pd.DataFrame) -> Responses:
    """One subject's responses, events (one row per stimulus) or time series (one row per TR)."""
    if cfg["design"] == "events":
        return _event_data(raw, cfg, subject, stim)
    return _timeseries_data(raw, cfg, subject, stim)


def _event_data(raw: Path, cfg: dict, subject: str, stim: pd.DataFrame) -> Responses:
    """Responses averaged over each stimulus' presentations; the first two of repeated test stimuli kept apart."""
    resp = load_array(raw_path(raw, cfg["responses"].format(subject=subject), "custom.responses"),
                      f"{subject} responses")
    samples = read_table(raw_path(raw, cfg["samples"].format(subject=subject), "custom.samples"), ["stimulus_id"])
    if len(samples) != len(resp):
        raise CustomDataError(
            f"{subject}: {len(resp)} response rows but {len(samples)} rows in "
            f"{raw / cfg['samples'].format(subject=subject)}")
    known = stim.set_index("stimulus_id")
    unknown = sorted(set(samples["stimulus_id"]) - set(known.index))
    if unknown:
        raise CustomDataError(f"{subject}: stimulus ids not in the stimulus table: {unknown[:5]}")
    ids = list(dict.fromkeys(samples["stimulus_id"]))
    groups = samples.groupby("stimulus_id", sort=False).indices
    test_ids = [i for i in ids if known.loc[i, "split"] == "test"]
    twice = [i for i in test_ids if len(groups[i]) >= 2]
    # the ceiling must be that of what is scored: the mean over each test stimulus' presentations
    n_presentations = 1.0 / np.mean([1.0 / len(groups[i]) for i in test_ids]) if test_ids else 1.0
    return Responses(
        np.stack([resp[groups[i]].mean(axis=0) for i in ids]), ids, [known.loc[i, "run"] for i in ids],
        [known.loc[i, "split"] for i in ids], 0.0, n_presentations,
        rep1=np.stack([resp[groups[i][0]] for i in twice]) if twice else None,
        rep2=np.stack([resp[groups[i][1]] for i in twice]) if twice else None,
    )


def _timeseries_data(raw: Path, cfg: dict, subject: str, stim: pd.DataFrame) -> Responses:
    """Runs concatenated in name order; a test run given twice (``test_repeats``) is scored as the mean of both."""
    tr = float(cfg["tr"])
    clips = stim[stim["modality"] == "clip"]
    n_stim = clips.groupby("run").size().to_dict()
    runs = sorted(n_stim)
    arrays = {}
    for run in runs:
        arr = load_array(raw_path(raw, cfg["runs"].format(subject=subject, run=safe_name(run, "run")), "custom.runs"),
                         f"{subject} run {run!r}")
        if len(arr) != n_stim[run]:
            raise CustomDataError(
                f"{subject}: run {run!r} has {len(arr)} TRs but the stimulus table has {n_stim[run]} "
                "(all subjects must share the run lengths of the stimulus table)")
        arrays[run] = arr
    widths = {r: a.shape[1] for r, a in arrays.items()}
    if len(set(widths.values())) != 1:
        raise CustomDataError(f"{subject}: runs differ in voxel count: {widths}")
    rep1, rep2 = _test_repeats(raw, cfg, subject, arrays)
    run_col = np.concatenate([[r] * len(arrays[r]) for r in runs])
    idx = np.concatenate([np.arange(len(arrays[r])) for r in runs])
    split_of = dict(zip(clips["run"], clips["split"]))
    return Responses(
        np.concatenate([arrays[r] for r in runs]), [f"{r}_tr{i}" for r, i in zip(run_col, idx)], run_col,
        [split_of[r] for r in run_col], tr, 2.0 if rep1 is not None else 1.0, time=idx * tr, rep1=rep1, rep2=rep2,
    )


def _test_repeats(raw: Path, cfg: dict, subject: str,
                  arrays: dict[str, np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """First and second presentations of the repeated test runs; ``arrays`` then holds their mean."""
    reps = cfg["test_repeats"]
    if not reps:
        return None, None
    pairs = [(arrays[r], load_array(raw_path(raw, p.format(subject=subject), f"custom.test_repeats.{r}"),
                                    f"{subject} repeat of {r!r}"))
             for r, p in reps.items()]
    for (a, b), r in zip(pairs, reps):
        if a.shape != b.shape:
            raise CustomDataError(f"{subject}: repeat of run {r!r} has shape {b.shape}, run has {a.shape}")
    # score against the average of the two presentations: the split-half ceiling is its ceiling
    arrays.update({r: (a + b) / 2.0 for (a, b), r in zip(pairs, reps)})
    return np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])


def _scored_description(n_presentations: float) -> str:
    """What the test responses of the store are (recorded; the ceiling is that of the same thing)."""
    if n_presentations <= 1.0:
        return "single presentation"
    return f"mean of test presentations (effective n = {n_presentations:.3g})"
