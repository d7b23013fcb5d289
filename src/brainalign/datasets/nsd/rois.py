"""NSD ROIs: label tables, one named ROI per label of every ROI file, and label groups.

A label file holds integers per voxel/vertex (-1 outside the brain, 0 unlabelled,
k > 0 the k-th ROI of its table). Every label of every configured file becomes a
ROI named after the table (``V1v``, ``FFA-1``...), not only label 1; groups from
``resources/rois/nsd/groups.yaml`` (unions of labels) and Glasser HCP-MMP1 area
groups (``resources/rois/glasser_groups.yaml``) are added on top.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import yaml

from brainalign.config import RESOURCES as PACKAGE_RESOURCES, resource_path
from brainalign.datasets.nsd.layout import NSDError

log = logging.getLogger(__name__)

RESOURCES = PACKAGE_RESOURCES / "rois" / "nsd"


def read_label_table(path: str | os.PathLike) -> dict[int, str]:
    """``number name [r g b a]`` lines (FreeSurfer .ctab) -> {number: name}; 0 and comments skipped."""
    path = Path(path)
    if not path.exists():
        raise NSDError(f"ROI label table not found: {path}")
    table: dict[int, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2 or not re.fullmatch(r"-?\d+", parts[0]):
            raise NSDError(f"{path}:{lineno}: expected 'number name', got {line!r}")
        if int(parts[0]) > 0:
            table[int(parts[0])] = parts[1]
    if not table:
        raise NSDError(f"ROI label table {path} names no label above 0")
    return table


def shipped_label_table(roi_file: str) -> Path:
    """The label table of ``roi_file`` shipped in resources/rois/nsd/label_tables/."""
    path = RESOURCES / "label_tables" / f"{roi_file}.mgz.ctab"
    if not path.exists():
        known = sorted(p.name.split(".")[0] for p in (RESOURCES / "label_tables").glob("*.ctab"))
        raise NSDError(f"no shipped label table for ROI file {roi_file!r}; shipped: {known}")
    return path


def label_rois(labels: dict[str, np.ndarray], tables: dict[str, dict[int, str]]) -> dict[str, np.ndarray]:
    """One boolean mask per label of every file: {roi name: mask}.

    ``labels[file]`` is the integer label of each kept voxel. Names repeated
    across files get the file name as prefix (``streams-ventral``). Values
    present in the data but absent from the table are kept as ``{file}_label{k}``.
    """
    counts: dict[str, int] = {}
    for table in tables.values():
        for name in table.values():
            counts[name] = counts.get(name, 0) + 1
    out: dict[str, np.ndarray] = {}
    for file, values in labels.items():
        values = np.rint(np.nan_to_num(np.asarray(values, dtype=float), nan=0)).astype(np.int64)
        table = tables[file]
        extra = sorted(set(np.unique(values[values > 0]).tolist()) - set(table))
        if extra:
            log.warning("%s: labels %s are not in its label table; kept as %s_labelK", file, extra, file)
        for k, name in [*sorted(table.items()), *((k, f"{file}_label{k}") for k in extra)]:
            roi = name if counts.get(name, 0) <= 1 else f"{file}-{name}"
            mask = values == k
            if not mask.any():
                log.warning("ROI %s (label %d of %s) has no voxel inside the mask", roi, k, file)
            out[roi] = mask
    return out


def group_rois(rois: dict[str, np.ndarray], groups_path: str | os.PathLike | None) -> dict[str, np.ndarray]:
    """Unions of labels from a groups file (``rois: {name: {labels: [...]}}``)."""
    if not groups_path:
        return {}
    path = resource_path(groups_path)
    if not path.exists():
        raise NSDError(f"ROI groups file not found: {path}")
    groups = (yaml.safe_load(path.read_text()) or {}).get("rois", {})
    out: dict[str, np.ndarray] = {}
    for name, spec in groups.items():
        labels = (spec or {}).get("labels")
        if not labels:
            raise NSDError(f"{path}: ROI group {name!r} must list 'labels'")
        present = [lab for lab in labels if lab in rois]
        if not present:
            log.info("ROI group %s: none of its labels are configured; left out", name)
            continue
        if len(present) < len(labels):
            log.warning("ROI group %s: labels %s not configured", name, sorted(set(labels) - set(present)))
        if name in rois:
            raise NSDError(f"{path}: ROI group {name!r} has the name of a label ROI")
        out[name] = np.logical_or.reduce([rois[lab] for lab in present])
    return out


def glasser_rois(values: np.ndarray, table: dict[int, str], groups_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Glasser area groups (``rois: {name: {areas: [...]}}``) from HCP-MMP1 labels per voxel."""
    path = resource_path(groups_path)
    if not path.exists():
        raise NSDError(f"Glasser ROI groups file not found: {path}")
    groups = (yaml.safe_load(path.read_text()) or {}).get("rois", {})
    area_of = {k: re.sub(r"^[LR]_|_ROI$", "", name) for k, name in table.items()}
    values = np.rint(np.nan_to_num(np.asarray(values, dtype=float))).astype(np.int64)
    out: dict[str, np.ndarray] = {}
    for name, spec in groups.items():
        areas = [str(a) for a in (spec or {}).get("areas", [])]
        unknown = sorted(set(areas) - set(area_of.values()))
        if unknown:
            raise NSDError(f"{path}: ROI group {name!r} names areas {unknown} absent from the HCP_MMP1 table")
        codes = [k for k, a in area_of.items() if a in areas]
        out[name] = np.isin(values, codes)
    return out


def merge_rois(*parts: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Names and (roi x voxel) masks of several ROI dicts; a repeated name is an error."""
    names: list[str] = []
    masks: list[np.ndarray] = []
    for part in parts:
        for name, mask in part.items():
            if name in names:
                raise NSDError(f"ROI name {name!r} is defined twice (label, group or Glasser group)")
            names.append(name)
            masks.append(np.asarray(mask, dtype=bool))
    return names, np.array(masks, dtype=bool)
