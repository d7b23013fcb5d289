"""Natural Scenes Dataset: settings, subjects and sessions, and the S3 keys a study needs.

Keys follow the public bucket ``natural-scenes-dataset`` (see docs/datasets/nsd.md);
every template is a config option (``nsd.keys``) so a changed layout needs no code.
Raw files are stored under the dataset's ``raw_dir`` at their key, mirroring the bucket.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from brainalign.datasets.base import kind_settings

SUBJECT_SESSIONS = {1: 40, 2: 40, 3: 32, 4: 30, 5: 40, 6: 32, 7: 40, 8: 30}
SURFACES = {"fsaverage": 163842, "fsaverage6": 40962, "fsaverage5": 10242}
HEMIS = ("lh", "rh")

KEYS = {
    "betas_volume": "nsddata_betas/ppdata/subj{subj:02d}/func1pt8mm/{betas}/betas_session{session:02d}.nii.gz",
    "betas_surface": "nsddata_betas/ppdata/subj{subj:02d}/fsaverage/{betas}/{hemi}.betas_session{session:02d}.mgh",
    "ncsnr_volume": "nsddata_betas/ppdata/subj{subj:02d}/func1pt8mm/{betas}/ncsnr.nii.gz",
    "ncsnr_surface": "nsddata_betas/ppdata/subj{subj:02d}/fsaverage/{betas}/{hemi}.ncsnr.mgh",
    "roi_volume": "nsddata/ppdata/subj{subj:02d}/func1pt8mm/roi/{roi}.nii.gz",
    "roi_native_surface": "nsddata/freesurfer/subj{subj:02d}/label/{hemi}.{roi}.mgz",
    "surface_transform": "nsddata/ppdata/subj{subj:02d}/transforms/{hemi}.white-to-fsaverage.mgz",
    "roi_fsaverage": "nsddata/freesurfer/fsaverage/label/{hemi}.{roi}.mgz",
    "label_table": "nsddata/freesurfer/subj{subj:02d}/label/{roi}.mgz.ctab",
    "expdesign": "nsddata/experiments/nsd/nsd_expdesign.mat",
    "stim_info": "nsddata/experiments/nsd/nsd_stim_info_merged.csv",
    "stimuli": "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5",
}


class NSDError(ValueError):
    """An NSD configuration, subject, session or file is not usable; the message names it."""


def settings(block: dict | None) -> dict:
    """A dataset's ``nsd`` block with the schema's defaults, the key templates filled in, checked."""
    cfg = kind_settings("nsd", block, NSDError)
    unknown = sorted(set(cfg["keys"]) - set(KEYS))
    if unknown:
        raise NSDError(f"nsd.keys: unknown key templates {unknown}; known: {sorted(KEYS)}")
    cfg["keys"] = {**KEYS, **cfg["keys"]}
    return cfg


def subject_number(subject: str | int) -> int:
    """``subj01``, ``sub-01``, ``01`` or ``1`` -> 1; unknown subjects raise :class:`NSDError`."""
    m = re.fullmatch(r"(?:subj|sub-|sub|s)?0*(\d+)", str(subject).strip())
    if not m or int(m.group(1)) not in SUBJECT_SESSIONS:
        raise NSDError(
            f"unknown NSD subject {subject!r}; NSD has subjects 1-8 (write subj01, sub-01 or 1)"
        )
    return int(m.group(1))


def sessions(cfg: dict, subject: str | int) -> list[int]:
    """Sessions (1-based) of one subject the study uses: all, the first n, or a list."""
    subj = subject_number(subject)
    available = SUBJECT_SESSIONS[subj]
    wanted = cfg.get("sessions")
    if wanted is None or wanted == "all":
        return list(range(1, available + 1))
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        wanted = list(range(1, wanted + 1))
    if not isinstance(wanted, Sequence) or not wanted:
        raise NSDError(f"nsd.sessions must be null, a count or a list of sessions, got {wanted!r}")
    bad = [s for s in wanted if not isinstance(s, int) or not 1 <= s <= available]
    if bad:
        raise NSDError(
            f"unknown session(s) {bad} for NSD subject {subj} (subj{subj:02d} has sessions 1-{available})"
        )
    return sorted(set(wanted))


def key(cfg: dict, name: str, **fields) -> str:
    """One key from its template (``nsd.keys`` overrides the defaults)."""
    return cfg["keys"][name].format(betas=cfg["betas"], **fields)


def roi_names(cfg: dict) -> list[str]:
    """ROI label files the study reads (plus HCP_MMP1 when Glasser groups are on)."""
    names = list(cfg["roi_files"])
    if cfg["glasser"] and "HCP_MMP1" not in names:
        names.append("HCP_MMP1")
    return names


def shared_keys(cfg: dict) -> dict[str, str]:
    """Keys every subject needs: design matrix and stimulus table."""
    return {"expdesign": key(cfg, "expdesign"), "stim_info": key(cfg, "stim_info")}


def subject_keys(cfg: dict, subject: str | int) -> dict[str, list[str]]:
    """Every key one subject's brain store is built from, grouped by role."""
    subj = subject_number(subject)
    out: dict[str, list[str]] = {"betas": [], "ncsnr": [], "mask": [], "rois": [], "tables": [], "transforms": []}
    volume = cfg["space"] == "func1pt8mm"
    for ses in sessions(cfg, subject):
        if volume:
            out["betas"].append(key(cfg, "betas_volume", subj=subj, session=ses))
        else:
            out["betas"] += [key(cfg, "betas_surface", subj=subj, session=ses, hemi=h) for h in HEMIS]
    if volume:
        out["ncsnr"].append(key(cfg, "ncsnr_volume", subj=subj))
        if cfg["mask"] == "nsdgeneral":
            out["mask"].append(key(cfg, "roi_volume", subj=subj, roi="nsdgeneral"))
        out["rois"] += [key(cfg, "roi_volume", subj=subj, roi=r) for r in roi_names(cfg)]
    else:
        out["ncsnr"] += [key(cfg, "ncsnr_surface", subj=subj, hemi=h) for h in HEMIS]
        if cfg["mask"] == "nsdgeneral":
            out["mask"] += [key(cfg, "roi_fsaverage", hemi=h, roi="nsdgeneral") for h in HEMIS]
        for roi in roi_names(cfg):
            if roi == "HCP_MMP1":
                out["rois"] += [key(cfg, "roi_fsaverage", hemi=h, roi=roi) for h in HEMIS]
            else:
                out["rois"] += [key(cfg, "roi_native_surface", subj=subj, hemi=h, roi=roi) for h in HEMIS]
        if any(r != "HCP_MMP1" for r in roi_names(cfg)):
            out["transforms"] += [key(cfg, "surface_transform", subj=subj, hemi=h) for h in HEMIS]
    tables = roi_names(cfg) if cfg["label_tables"] == "bucket" else [r for r in roi_names(cfg) if r == "HCP_MMP1"]
    out["tables"] += [key(cfg, "label_table", subj=subj, roi=r) for r in tables]
    return out


def brain_keys(cfg: dict, subject: str | int) -> list[str]:
    """Every key one subject's brain store reads, shared keys first, each once."""
    keys = list(shared_keys(cfg).values())
    for group in subject_keys(cfg, subject).values():
        keys += group
    return list(dict.fromkeys(keys))
