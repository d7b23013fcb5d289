"""Algonauts 2023 challenge release (NSD subset; dataset kind ``algonauts2023``).

Layout under ``raw_dir`` (as distributed by the challenge), per subject folder
(``subj01``...):

``training_split/training_fmri/{lh,rh}_training_fmri.npy``  images x challenge vertices
``training_split/training_images/train-NNNN_nsd-KKKKK.png``  one per fMRI row (sorted order)
``test_split/test_images/*.png``                           no public fMRI: not used
``roi_masks/{lh,rh}.{roi}_challenge_space.npy``            integer label per vertex
``roi_masks/mapping_{roi}.npy``                            {label: name} (pickled dict)

The test fMRI of the release is not public, so the test set is carved out of
the training images: a seeded fraction (``test_split: fraction``), the images
every configured subject saw (``shared``), or a list file (``list``). The
release has no noise ceiling: ``ceiling: none`` (ceiling 1, normalised = raw r)
or ``cross_subject`` (predicted from the other subjects on the images all of
them saw). Details: docs/datasets/algonauts2023.md.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.ceiling import cross_subject_ceiling
from brainalign.datasets import nsd_rois
from brainalign.stimuli.video import STIMULUS_COLUMNS
from brainalign.stores import provenance, staged_dir, write_store, write_tsv

log = logging.getLogger(__name__)

HEMIS = ("lh", "rh")
IMAGE_NAME = re.compile(r"^(?:train|test)-(\d+)_nsd-(\d+)\.png$")
N_GROUPS = 10
NON_DIGITS = re.compile(r"\D")
DEFAULTS: dict = {
    "subject_dir": "{subject}",
    "test_split": "fraction",
    "test_fraction": 0.1,
    "test_list": None,
    "seed": 0,
    "roi_files": ["prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams"],
    "roi_groups": "resources/rois/nsd/groups.yaml",
    "ceiling": "none",
    "ceiling_bootstraps": 20,
}


class AlgonautsError(ValueError):
    """The Algonauts 2023 files or options are not usable; the message names the file or key."""


def settings(block: dict | None) -> dict:
    cfg = {**DEFAULTS, **(block or {})}
    if cfg["test_split"] not in ("fraction", "shared", "list"):
        raise AlgonautsError(f"algonauts2023.test_split is {cfg['test_split']!r}; allowed: fraction, shared, list")
    if cfg["test_split"] == "fraction" and not 0 < float(cfg["test_fraction"]) < 1:
        raise AlgonautsError(f"algonauts2023.test_fraction must lie in (0, 1), got {cfg['test_fraction']}")
    if cfg["test_split"] == "list" and not cfg.get("test_list"):
        raise AlgonautsError("algonauts2023.test_split: list needs algonauts2023.test_list (a file of image names)")
    if cfg["ceiling"] not in ("none", "cross_subject"):
        raise AlgonautsError(f"algonauts2023.ceiling is {cfg['ceiling']!r}; allowed: none, cross_subject")
    return cfg


def subject_dir(raw: Path, cfg: dict, subject: str) -> Path:
    path = raw / cfg["subject_dir"].format(subject=subject)
    if not path.is_dir():
        known = sorted(p.name for p in raw.iterdir() if p.is_dir()) if raw.is_dir() else []
        raise AlgonautsError(f"unknown subject {subject!r}: no folder {path} (found: {known})")
    return path


def training_images(folder: Path) -> list[Path]:
    """Training images of one subject in fMRI row order (``train-NNNN`` numbering)."""
    images_dir = folder / "training_split" / "training_images"
    if not images_dir.is_dir():
        raise AlgonautsError(f"training image folder not found: {images_dir}")
    files = sorted(images_dir.glob("*.png"))
    bad = [p.name for p in files if not IMAGE_NAME.match(p.name)]
    if bad:
        raise AlgonautsError(f"{images_dir}: image names {bad[:3]} do not look like train-NNNN_nsd-KKKKK.png")
    if not files:
        raise AlgonautsError(f"no training images in {images_dir}")
    return sorted(files, key=lambda p: int(IMAGE_NAME.match(p.name).group(1)))


def stimulus_id(path: Path) -> str:
    """``train-0001_nsd-00013.png`` -> ``nsd00013`` (the NSD image number of the release)."""
    return f"nsd{int(IMAGE_NAME.match(path.name).group(2)):05d}"


def _read_list(path: str | os.PathLike) -> set[str]:
    path = Path(path)
    if not path.exists():
        raise AlgonautsError(f"test image list not found: {path}")
    out = set()
    for line in path.read_text().split():
        m = IMAGE_NAME.match(line)
        if m:
            out.add(f"nsd{int(m.group(2)):05d}")
        elif re.fullmatch(r"(?:nsd-?)?\d+", line):
            out.add(f"nsd{int(re.sub(NON_DIGITS, '', line)):05d}")
        else:
            raise AlgonautsError(f"{path}: {line!r} is neither an image name nor an NSD image number")
    return out


def split_and_groups(ids_per_subject: dict[str, list[str]], cfg: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Split (``train``/``test``) and CV group of every stimulus of the dataset."""
    union = sorted({i for ids in ids_per_subject.values() for i in ids})
    order = np.random.default_rng(cfg["seed"]).permutation(len(union))
    group = {union[j]: f"group{k % N_GROUPS:02d}" for k, j in enumerate(order)}
    if cfg["test_split"] == "fraction":
        n_test = max(1, int(round(float(cfg["test_fraction"]) * len(union))))
        test = {union[j] for j in order[:n_test]}
    elif cfg["test_split"] == "shared":
        if len(ids_per_subject) < 2:
            raise AlgonautsError("test_split: shared needs at least two subjects")
        test = set.intersection(*(set(v) for v in ids_per_subject.values()))
    else:
        test = _read_list(cfg["test_list"]) & set(union)
    if not test or len(test) == len(union):
        raise AlgonautsError(
            f"test_split {cfg['test_split']!r} puts {len(test)} of {len(union)} images in the test set; "
            "both train and test images are needed")
    return {i: ("test" if i in test else "train") for i in union}, group


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def prepare_stimuli(raw_dir: str | os.PathLike, block: dict, subjects: Sequence[str],
                    out_tsv: str | os.PathLike, out_dir: str | os.PathLike) -> pd.DataFrame:
    """Copy (hard-link) the subjects' training images and write the stimulus table."""
    cfg = settings(block)
    raw, out_tsv, out_dir = Path(raw_dir), Path(out_tsv), Path(out_dir)
    files: dict[str, Path] = {}
    ids_per_subject = {}
    for s in subjects:
        imgs = training_images(subject_dir(raw, cfg, s))
        ids_per_subject[s] = [stimulus_id(p) for p in imgs]
        for p, i in zip(imgs, ids_per_subject[s]):
            files.setdefault(i, p)
    split, group = split_and_groups(ids_per_subject, cfg)
    with staged_dir(out_dir) as tmp:
        tmp.mkdir(parents=True)
        rows = []
        for i in sorted(files):
            _link(files[i], tmp / f"{i}.png")
            rows.append(dict(stimulus_id=i, modality="image", path=str((out_dir / f"{i}.png").relative_to(out_tsv.parent)),
                             text="", run=group[i], onset="", duration="", split=split[i]))
        table = pd.DataFrame(rows, columns=STIMULUS_COLUMNS)
    write_tsv(table, out_tsv)
    return table


def _npy(path: Path, what: str) -> np.ndarray:
    if not path.exists():
        raise AlgonautsError(f"{what} not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise AlgonautsError(f"cannot read {what} {path} (truncated or not .npy?): {err}") from err


# What a pickled .npy holding a dict of numbers and names may reference; anything else is refused.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


class _MappingUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D102 - pickle hook
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only arrays, numbers and names)")
        return super().find_class(module, name)


def load_pickled_npy(path: Path) -> np.ndarray:
    """An object array saved by ``np.save``, unpickled with an allow-list (no code can run)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(fh)
        if not dtype.hasobject:
            fh.seek(0)
            return np.lib.format.read_array(fh, allow_pickle=False)
        return _MappingUnpickler(fh).load()


def read_mapping(folder: Path, roi: str) -> dict[int, str]:
    """``mapping_{roi}.json`` or the release's pickled ``mapping_{roi}.npy`` -> {label: name}, 0 dropped."""
    as_json = folder / f"mapping_{roi}.json"
    path = as_json if as_json.exists() else folder / f"mapping_{roi}.npy"
    if not path.exists():
        raise AlgonautsError(f"ROI label mapping not found: {path}")
    try:
        if path.suffix == ".json":
            raw = json.loads(path.read_text())
        else:  # the release stores a dict with np.save: read it back without running arbitrary pickles
            raw = load_pickled_npy(path).item()
    except Exception as err:  # noqa: BLE001 - json, pickle and numpy errors alike
        raise AlgonautsError(f"cannot read ROI label mapping {path}: {err}") from err
    if not isinstance(raw, dict):
        raise AlgonautsError(f"{path} must hold a dict of label -> name, got {type(raw).__name__}")
    table = {int(k): str(v) for k, v in raw.items() if int(k) > 0}
    if not table:
        raise AlgonautsError(f"{path} names no label above 0")
    return table


def _subject_data(raw: Path, cfg: dict, subject: str) -> tuple[list[str], np.ndarray, list[int]]:
    folder = subject_dir(raw, cfg, subject)
    ids = [stimulus_id(p) for p in training_images(folder)]
    parts = []
    for hemi in HEMIS:
        arr = _npy(folder / "training_split" / "training_fmri" / f"{hemi}_training_fmri.npy", f"{subject} {hemi} fMRI")
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
    split = stim.loc[ids, "split"].to_numpy(str)
    masks_dir = raw / cfg["subject_dir"].format(subject=subject) / "roi_masks"
    labels, tables = {}, {}
    for roi in cfg["roi_files"]:
        tables[roi] = read_mapping(masks_dir, roi)
        per_hemi = []
        for hemi, width in zip(HEMIS, widths):
            arr = _npy(masks_dir / f"{hemi}.{roi}_challenge_space.npy", f"{subject} {hemi} {roi} mask").ravel()
            if arr.size != width:
                raise AlgonautsError(f"{subject}: {hemi}.{roi}_challenge_space.npy has {arr.size} vertices, "
                                     f"the fMRI has {width}")
            per_hemi.append(arr)
        labels[roi] = np.concatenate(per_hemi)
    label_masks = nsd_rois.label_rois(labels, tables)
    names, masks = nsd_rois.merge_rois({"all": np.ones(data.shape[1], bool)}, label_masks,
                                       nsd_rois.group_rois(label_masks, roi_groups or cfg["roi_groups"]))
    if cfg["ceiling"] == "cross_subject":
        ceiling = _cross_subject(raw, cfg, subject, all_subjects, ids, data, stim)
    else:
        ceiling = np.ones(data.shape[1], np.float32)
    ds = xr.Dataset(
        {"responses": (("sample", "voxel"), data),
         "noise_ceiling": (("voxel",), ceiling.astype(np.float32)),
         "roi_mask": (("roi", "voxel"), masks)},
        coords={"stimulus_id": ("sample", ids), "run": ("sample", stim.loc[ids, "run"].to_numpy(str)),
                "split": ("sample", split), "roi": names, "voxel": np.arange(data.shape[1]),
                "hemi": ("voxel", np.repeat(list(HEMIS), widths))},
        attrs=provenance(space="algonauts2023_challenge", tr=0.0, source="algonauts2023", subject=subject,
                         ceiling_method=cfg["ceiling"], test_split=cfg["test_split"]),
    )
    write_store(ds, out, "brain")
    return ds


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
    groups = stim.loc[common, "run"].to_numpy(str)
    ceiling = cross_subject_ceiling([target, *sources], 0, np.flatnonzero(split == "train"),
                                    np.flatnonzero(split == "test"), groups=groups,
                                    n_bootstrap=cfg["ceiling_bootstraps"], seed=cfg["seed"])
    return np.nan_to_num(ceiling)


def raw_inputs(raw_dir: str | os.PathLike, block: dict, subjects: Sequence[str],
               brain_of: str | None = None) -> list[str]:
    """Raw files a rule reads (rule inputs, so replacing one reruns the rule).

    Stimuli (``brain_of=None``): every subject's training images and the test list;
    a subject's brain store: its fMRI and ROI files, and the other subjects' fMRI
    when the ceiling is cross-subject. Missing folders are left to the rule's own
    error message.
    """
    cfg = settings(block)
    raw = Path(raw_dir)
    files: list[Path] = []
    if brain_of is None:
        for s in subjects:
            images = raw / cfg["subject_dir"].format(subject=s) / "training_split" / "training_images"
            files += sorted(images.glob("*.png")) if images.is_dir() else []
        files += [Path(cfg["test_list"])] if cfg["test_split"] == "list" and cfg.get("test_list") else []
        return [str(f) for f in files]
    fmri_of = subjects if cfg["ceiling"] == "cross_subject" else [brain_of]
    for s in fmri_of:
        folder = raw / cfg["subject_dir"].format(subject=s) / "training_split" / "training_fmri"
        files += [folder / f"{hemi}_training_fmri.npy" for hemi in HEMIS]
    masks = raw / cfg["subject_dir"].format(subject=brain_of) / "roi_masks"
    for roi in cfg["roi_files"]:
        files += [masks / f"{hemi}.{roi}_challenge_space.npy" for hemi in HEMIS]
        files += [p for p in (masks / f"mapping_{roi}.json", masks / f"mapping_{roi}.npy") if p.exists()][:1]
    return [str(f) for f in files if f.exists()]
