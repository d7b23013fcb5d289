"""NSD brain store of one subject (Study B of SPEC.md).

Single-trial betas (``betas_fithrf_GLMdenoise_RR``, func1pt8mm volume or fsaverage
surface) of the configured sessions, int16 values scaled by 1/300, z-scored per
session and voxel over the session's 750 trials, restricted to the nsdgeneral
mask, and averaged over the repeats of each image. The shared 1,000 images are
the test set, the subject's other images the training set; each image's CV group
(``run``) is the session it was first shown in. The noise ceiling comes from
NSD's ncsnr with the mixed-repeat correction; every label of every ROI file is a
named ROI. Details and options: docs/datasets/nsd.md.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm import tqdm

from brainalign.ceiling import nsd_effective_inverse_n, nsd_noise_ceiling
from brainalign.datasets.nsd import design as nsd_design
from brainalign.datasets.nsd import rois as nsd_rois
from brainalign.datasets.nsd.layout import HEMIS, NSDError, key, roi_names, sessions, settings, subject_number
from brainalign.datasets.nsd.space import SubjectSpace, zscore_session
from brainalign.stores import brain_dataset, write_store

log = logging.getLogger(__name__)


def prepare_brain(raw_dir: str | os.PathLike, block: dict, subject: str, out: str | os.PathLike,
                  roi_groups: str | os.PathLike | None = None,
                  glasser_groups: str | os.PathLike | None = None) -> xr.Dataset:
    """Build the ``brain`` store of one NSD subject (see the module docstring)."""
    cfg = settings(block)
    raw = Path(raw_dir)
    subj = subject_number(subject)
    ses_list = sessions(cfg, subject)
    trials = nsd_design.trial_images(nsd_design.read_expdesign(raw / key(cfg, "expdesign")), subject, ses_list,
                                     cfg["trials_per_session"])
    info = nsd_design.read_stim_info(raw / key(cfg, "stim_info"))
    images = nsd_design.image_table(trials)
    space = SubjectSpace(raw, cfg, subject)
    responses = _mean_responses(space, cfg, trials, images, ses_list)
    split = nsd_design.split_of(images["nsd_id"].to_numpy(), info, f"subj{subj:02d} design")
    test_counts = images.loc[split == "test", "repeats"].to_numpy()
    if test_counts.size == 0 or (split == "train").sum() == 0:
        raise NSDError(f"subj{subj:02d}: sessions {ses_list} give {test_counts.size} shared (test) and "
                       f"{(split == 'train').sum()} training images; both are needed")
    ncsnr = space.per_voxel(space.keys["ncsnr"], "ncsnr").astype(np.float64)
    names, masks = _rois(space, cfg, responses.shape[1], raw, roi_groups, glasser_groups)
    ds = brain_dataset(
        responses, [nsd_design.stimulus_id(i) for i in images["nsd_id"]],
        [f"ses{int(s):02d}" for s in images["first_session"]], split,
        nsd_noise_ceiling(ncsnr, test_counts), names, masks,
        sample_coords={"repeats": images["repeats"].to_numpy(np.int16)}, voxel_coords=space.voxel_coords(),
        voxel_vars={"ncsnr": ncsnr},
        space=cfg["space"] if space.volume else cfg["surface"], tr=0.0, source=f"nsd:{cfg['betas']}",
        subject=subject, nsd_subject=subj, ceiling_method="nsd_ncsnr",
        ceiling_inverse_n=nsd_effective_inverse_n(test_counts),
        test_repeat_counts={f"shown_{k}": int((test_counts == k).sum()) for k in (1, 2, 3)},
        sessions=ses_list, beta_scale=space.scale, mask=cfg["mask"], volume_shape=list(space.shape),
        affine=None if space.affine is None else space.affine.tolist(),
        zscore="per session and voxel over trials",
    )
    write_store(ds, out, "brain")
    return ds


def _mean_responses(space: SubjectSpace, cfg: dict, trials: pd.DataFrame, images: pd.DataFrame,
                    ses_list: list[int]) -> np.ndarray:
    """Betas z-scored per session, averaged over each image's repeats (image x voxel, float32)."""
    n_vox = int(space.mask.sum())
    if n_vox == 0:
        raise NSDError(f"subj{space.subj:02d}: the {cfg['mask']} mask selects no voxel")
    log.info("subj%02d: %d sessions, %d trials, %d images, %d voxels", space.subj, len(ses_list), len(trials),
             len(images), n_vox)
    row_of = pd.Series(np.arange(len(images)), index=images["nsd_id"])
    sums = np.zeros((len(images), n_vox), np.float32)
    by_session = {s: k for s, k in zip(ses_list, _session_files(space.keys["betas"], cfg))}
    for ses in tqdm(ses_list, desc=f"subj{space.subj:02d} sessions", unit="session"):
        z = zscore_session(space.session(by_session[ses]))
        rows = row_of.loc[trials.loc[trials["session"] == ses, "nsd_id"]].to_numpy()
        np.add.at(sums, rows, z)
    return sums / images["repeats"].to_numpy(np.float32)[:, None]


def _session_files(betas: list[str], cfg: dict) -> list[list[str]]:
    per = 1 if cfg["space"] == "func1pt8mm" else len(HEMIS)
    return [betas[i: i + per] for i in range(0, len(betas), per)]


def _rois(space: SubjectSpace, cfg: dict, n_vox: int, raw: Path, roi_groups,
          glasser_groups) -> tuple[list[str], np.ndarray]:
    files = [r for r in roi_names(cfg) if r != "HCP_MMP1"]
    tables, labels = {}, {}
    for roi in files:
        table = (raw / key(cfg, "label_table", subj=space.subj, roi=roi) if cfg["label_tables"] == "bucket"
                 else nsd_rois.shipped_label_table(roi))
        tables[roi] = nsd_rois.read_label_table(table)
        labels[roi] = space.labels(roi)
    label_masks = nsd_rois.label_rois(labels, tables)
    parts = [{cfg["mask"] if cfg["mask"] == "nsdgeneral" else "all": np.ones(n_vox, bool)}, label_masks,
             nsd_rois.group_rois(label_masks, roi_groups if roi_groups is not None else cfg["roi_groups"])]
    if cfg["glasser"]:
        table = nsd_rois.read_label_table(raw / key(cfg, "label_table", subj=space.subj, roi="HCP_MMP1"))
        parts.append(nsd_rois.glasser_rois(space.labels("HCP_MMP1"), table,
                                           glasser_groups if glasser_groups is not None else cfg["glasser_groups"]))
    return nsd_rois.merge_rois(*parts)
