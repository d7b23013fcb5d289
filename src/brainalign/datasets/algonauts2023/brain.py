"""Algonauts 2023 brain store of one subject: training fMRI rows, split from the stimulus table, ROIs, ceiling.

The release has no noise ceiling: ``ceiling: none`` (ceiling 1, normalised = raw r)
or ``cross_subject`` (predicted from the other subjects on the images all of them saw).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.ceiling import cross_subject_ceiling
from brainalign.datasets.algonauts2023.release import (
    HEMIS,
    AlgonautsError,
    read_mapping,
    read_npy,
    settings,
    stimulus_id,
    subject_dir,
    training_images,
)
from brainalign.datasets.nsd import rois as nsd_rois
from brainalign.stores import brain_dataset, write_store


def _subject_data(raw: Path, cfg: dict, subject: str) -> tuple[list[str], np.ndarray, list[int]]:
    """Image ids, fMRI (image x vertex, both hemispheres) and the vertex count of each hemisphere."""
    folder = subject_dir(raw, cfg, subject)
    ids = [stimulus_id(p) for p in training_images(folder)]
    parts = []
    for hemi in HEMIS:
        arr = read_npy(folder / "training_split" / "training_fmri" / f"{hemi}_training_fmri.npy",
                       f"{subject} {hemi} fMRI")
        if arr.ndim != 2 or arr.shape[0] != len(ids):
            raise AlgonautsError(f"{subject}: {hemi}_training_fmri.npy has shape {arr.shape} but there are "
                                 f"{len(ids)} training images")
        parts.append(arr.astype(np.float32))
    if len(set(ids)) != len(ids):
        raise AlgonautsError(f"{subject}: repeated NSD numbers among the training images")
    return ids, np.concatenate(parts, axis=1), [p.shape[1] for p in parts]


def prepare_brain(raw_dir: str | os.PathLike, block: dict, subject: str, all_subjects: Sequence[str],
                  stimuli_tsv: str | os.PathLike, out: str | os.PathLike,
                  roi_groups: str | os.PathLike | None = None) -> xr.Dataset:
    """Brain store of one subject: training fMRI rows, split from the stimulus table, ROIs, ceiling."""
    cfg = settings(block)
    raw = Path(raw_dir)
    if subject not in all_subjects:
        raise AlgonautsError(f"unknown subject {subject!r}; configured subjects: {list(all_subjects)}")
    stim = pd.read_csv(stimuli_tsv, sep="\t", dtype=str, keep_default_na=False).set_index("stimulus_id")
    ids, data, widths = _subject_data(raw, cfg, subject)
    missing = sorted(set(ids) - set(stim.index))
    if missing:
        raise AlgonautsError(f"{subject}: images {missing[:5]} are not in the stimulus table {stimuli_tsv}")
    label_masks = nsd_rois.label_rois(*_roi_labels(raw, cfg, subject, widths))
    names, masks = nsd_rois.merge_rois({"all": np.ones(data.shape[1], bool)}, label_masks,
                                       nsd_rois.group_rois(label_masks, roi_groups or cfg["roi_groups"]))
    if cfg["ceiling"] == "cross_subject":
        ceiling = _cross_subject(raw, cfg, subject, all_subjects, ids, data, stim)
    else:
        ceiling = np.ones(data.shape[1], np.float32)
    ds = brain_dataset(
        data, ids, stim.loc[ids, "run"].to_numpy(str), stim.loc[ids, "split"].to_numpy(str), ceiling, names, masks,
        voxel_coords={"hemi": np.repeat(list(HEMIS), widths)},
        space="algonauts2023_challenge", tr=0.0, source="algonauts2023", subject=subject,
        ceiling_method=cfg["ceiling"], test_split=cfg["test_split"],
    )
    write_store(ds, out, "brain")
    return ds


def _roi_labels(raw: Path, cfg: dict, subject: str,
                widths: list[int]) -> tuple[dict[str, np.ndarray], dict[str, dict[int, str]]]:
    """Label per vertex of every ROI file (both hemispheres) and each file's label names."""
    masks_dir = raw / cfg["subject_dir"].format(subject=subject) / "roi_masks"
    labels, tables = {}, {}
    for roi in cfg["roi_files"]:
        tables[roi] = read_mapping(masks_dir, roi)
        per_hemi = []
        for hemi, width in zip(HEMIS, widths):
            arr = read_npy(masks_dir / f"{hemi}.{roi}_challenge_space.npy", f"{subject} {hemi} {roi} mask").ravel()
            if arr.size != width:
                raise AlgonautsError(f"{subject}: {hemi}.{roi}_challenge_space.npy has {arr.size} vertices, "
                                     f"the fMRI has {width}")
            per_hemi.append(arr)
        labels[roi] = np.concatenate(per_hemi)
    return labels, tables


def _cross_subject(raw: Path, cfg: dict, subject: str, all_subjects: Sequence[str], ids: list[str],
                   data: np.ndarray, stim: pd.DataFrame) -> np.ndarray:
    """Ceiling predicted from the other subjects' responses to the images all of them saw."""
    others = {s: _subject_data(raw, cfg, s) for s in all_subjects if s != subject}
    if not others:
        raise AlgonautsError("ceiling: cross_subject needs at least two subjects")
    common = sorted(set(ids).intersection(*(set(o[0]) for o in others.values())))
    split = stim.loc[common, "split"].to_numpy(str) if common else np.array([])
    if (split == "train").sum() < 10 or (split == "test").sum() < 2:
        raise AlgonautsError(
            f"{subject}: cross-subject ceiling needs images every subject saw in both splits; "
            f"{len(common)} common images ({(split == 'train').sum()} train, {(split == 'test').sum()} test)")
    row = {i: k for k, i in enumerate(ids)}
    target = data[[row[i] for i in common]]
    sources = []
    for o_ids, o_data, _ in others.values():
        o_row = {i: k for k, i in enumerate(o_ids)}
        sources.append(o_data[[o_row[i] for i in common]])
    # the subjects' vertex counts differ: the ceiling is predicted from all of their vertices
    return cross_subject_ceiling([target, *sources], 0, np.flatnonzero(split == "train"),
                                 np.flatnonzero(split == "test"), groups=stim.loc[common, "run"].to_numpy(str),
                                 n_bootstrap=cfg["ceiling_bootstraps"], seed=cfg["seed"])
