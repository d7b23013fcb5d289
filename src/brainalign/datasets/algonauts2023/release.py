"""Files of the Algonauts 2023 release: subject folders, image names, fMRI arrays and ROI label maps.

Layout under ``raw_dir`` (as distributed by the challenge), per subject folder
(``subj01``...):

``training_split/training_fmri/{lh,rh}_training_fmri.npy``  images x challenge vertices
``training_split/training_images/train-NNNN_nsd-KKKKK.png``  one per fMRI row (sorted order)
``test_split/test_images/*.png``                           no public fMRI: not used
``roi_masks/{lh,rh}.{roi}_challenge_space.npy``            integer label per vertex
``roi_masks/mapping_{roi}.npy``                            {label: name} (pickled dict)
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from brainalign.datasets.base import kind_settings
from brainalign.datasets.files import load_npy

HEMIS = ("lh", "rh")
IMAGE_NAME = re.compile(r"^(?:train|test)-(\d+)_nsd-(\d+)\.png$")
NON_DIGITS = re.compile(r"\D")


class AlgonautsError(ValueError):
    """The Algonauts 2023 files or options are not usable; the message names the file or key."""


def settings(block: dict | None) -> dict:
    """A dataset's ``algonauts2023`` block with the schema's defaults filled in, checked."""
    cfg = kind_settings("algonauts2023", block, AlgonautsError)
    if cfg["test_split"] == "list" and not cfg.get("test_list"):
        raise AlgonautsError("algonauts2023.test_split: list needs algonauts2023.test_list (a file of image names)")
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


def read_list(path: str | os.PathLike) -> set[str]:
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


def read_npy(path: Path, what: str) -> np.ndarray:
    """A release array, with errors naming the file."""
    return load_npy(path, what, AlgonautsError)


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
