"""CNeuroMod ROIs: Schaefer parcels grouped by network name and MNI position, or surface annotations."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from brainalign.datasets.cneuromod.runs import CNeuroModError
from brainalign.stores import write_tsv

log = logging.getLogger(__name__)


def read_parcel_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Parcel table with columns ``index`` (1-based), ``name`` and optional ``x``, ``y``, ``z`` (MNI mm)."""
    table = pd.read_csv(path, sep="\t")
    for col in ("index", "name"):
        if col not in table.columns:
            raise CNeuroModError(f"parcel label table {path} lacks column {col!r}")
    return table.sort_values("index").reset_index(drop=True)


def roi_masks_from_labels(labels: pd.DataFrame, groups: dict) -> tuple[list[str], np.ndarray]:
    """ROI masks (roi x parcel) from Schaefer label names and optional MNI bounds.

    ``groups[roi]`` has ``labels`` (network/sub-network name fragments such as
    ``Default_Temp``, matched as whole ``_``-separated parts of the parcel name),
    optional ``hemi`` (``LH``/``RH``) and optional ``x_abs``, ``y``, ``z`` ranges
    [min, max] in MNI mm, applied to parcel centroids.
    """
    names = labels["name"].astype(str)
    rois, masks = [], []
    for roi, spec in groups.items():
        frags = spec.get("labels") or []
        if not frags:
            raise CNeuroModError(f"ROI {roi!r}: 'labels' must list label name parts")
        mask = np.zeros(len(labels), bool)
        for frag in frags:
            mask |= names.str.contains(rf"_{re.escape(frag)}(?:_|$)", regex=True).values
        if spec.get("hemi"):
            mask &= names.str.contains(f"_{spec['hemi']}_", regex=False).values
        for axis in ("x_abs", "y", "z"):
            if axis in spec:
                col = "x" if axis == "x_abs" else axis
                if col not in labels.columns:
                    raise CNeuroModError(f"ROI {roi!r} has {axis} bounds but the label table has no {col!r} column")
                vals = labels[col].abs() if axis == "x_abs" else labels[col]
                lo, hi = spec[axis]
                mask &= ((vals >= lo) & (vals <= hi)).values
        rois.append(roi)
        masks.append(mask)
    return rois, np.asarray(masks, dtype=bool).reshape(len(rois), len(labels))


def roi_masks(cfg: dict, n_vox: int, parcel_labels, roi_groups) -> tuple[list[str], np.ndarray]:
    """ROI names and masks: Schaefer parcels grouped by name (``algonauts2025``), or annotation areas (``fmriprep``)."""
    groups_path = roi_groups or cfg["roi_groups"]
    if cfg["source"] == "algonauts2025":
        if parcel_labels is None:
            raise CNeuroModError("parcel label table needed for Schaefer ROI masks (cneuromod.parcel_labels)")
        labels = read_parcel_labels(parcel_labels)
        if len(labels) != n_vox:
            raise CNeuroModError(f"parcel label table {parcel_labels} has {len(labels)} parcels, data have {n_vox}")
        groups = yaml.safe_load(Path(groups_path).read_text())["rois"]
        return roi_masks_from_labels(labels, groups)
    annot = cfg["fmriprep"].get("roi_annot")
    if not annot:
        log.warning("no cneuromod.fmriprep.roi_annot: whole-brain ROI only")
        return ["whole_brain"], np.ones((1, n_vox), bool)
    import nibabel.freesurfer as fs

    groups = yaml.safe_load(Path(groups_path).read_text())["rois"]
    labels_all = []
    for hemi in ("lh", "rh"):
        lab, _, names = fs.read_annot(annot.format(hemi=hemi))
        names = [n.decode() if isinstance(n, bytes) else n for n in names]
        labels_all.append(np.array([names[i] if i >= 0 else "" for i in lab], dtype=object))
    vertex_names = np.concatenate(labels_all)
    if len(vertex_names) != n_vox:
        raise CNeuroModError(f"ROI annotation {annot} has {len(vertex_names)} vertices, data have {n_vox}")
    rois = list(groups)
    masks = np.array([np.isin([re.sub(r"^[LR]_|_ROI$", "", str(v)) for v in vertex_names], groups[r]["areas"])
                      for r in rois], dtype=bool)
    return rois, masks


def write_schaefer_labels(out: str | os.PathLike, n_rois: int = 1000, networks: int = 7) -> pd.DataFrame:
    """Fetch the Schaefer 2018 atlas with nilearn and write its parcel table with centroids."""
    from nilearn import datasets, plotting

    atlas = datasets.fetch_atlas_schaefer_2018(n_rois=n_rois, yeo_networks=networks)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in atlas["labels"]]
    names = [n for n in names if n.lower() != "background"]
    coords = plotting.find_parcellation_cut_coords(atlas["maps"])
    table = pd.DataFrame({"index": np.arange(1, len(names) + 1), "name": names,
                          "x": coords[:, 0], "y": coords[:, 1], "z": coords[:, 2]})
    write_tsv(table, out)
    return table
