"""Natural Scenes Dataset (dataset kind ``nsd``): download, stimulus table, brain stores.

Brain store of one subject (Study B of SPEC.md): single-trial betas
(``betas_fithrf_GLMdenoise_RR``, func1pt8mm volume or fsaverage surface) of the
configured sessions, int16 values scaled by 1/300, z-scored per session and
voxel over the session's 750 trials, restricted to the nsdgeneral mask, and
averaged over the repeats of each image. The shared 1,000 images are the test
set, the subject's other images the training set; each image's CV group
(``run``) is the session it was first shown in. The noise ceiling comes from
NSD's ncsnr with the mixed-repeat correction; every label of every ROI file is
a named ROI. Details and options: docs/datasets/nsd.md.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.ceiling import nsd_effective_inverse_n, nsd_noise_ceiling
from brainalign.datasets import nsd_design, nsd_images, nsd_rois
from brainalign.datasets.nsd_layout import (
    HEMIS,
    SURFACES,
    NSDError,
    key,
    roi_names,
    sessions,
    settings,
    subject_keys,
    subject_number,
)
from brainalign.datasets.nsd_fetch import client
from brainalign.stimuli.video import STIMULUS_COLUMNS
from brainalign.stores import provenance, staged_dir, write_store, write_tsv

log = logging.getLogger(__name__)

BETA_INT16_SCALE = 1.0 / 300.0
IMAGE_CACHE = "nsddata_stimuli/png"


# --------------------------------------------------------------------- stimuli
def _write_tsv(table: pd.DataFrame, path: Path) -> None:
    write_tsv(table, path)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def subject_images(raw: Path, cfg: dict, subjects: Sequence[str]) -> pd.DataFrame:
    """Images shown to any of ``subjects`` in their sessions: nsd_id, first subject's first session."""
    design = nsd_design.read_expdesign(raw / key(cfg, "expdesign"))
    parts = []
    for s in subjects:
        imgs = nsd_design.image_table(nsd_design.trial_images(design, s, sessions(cfg, s), cfg["trials_per_session"]))
        parts.append(imgs.assign(order=len(parts)))
    table = pd.concat(parts).sort_values(["nsd_id", "order"]).drop_duplicates("nsd_id")
    return table.reset_index(drop=True)


def prepare_stimuli(
    raw_dir: str | os.PathLike,
    block: dict,
    subjects: Sequence[str],
    out_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
) -> pd.DataFrame:
    """Fetch the images the subjects saw (ranged reads, cached) and write the stimulus table."""
    cfg = settings(block)
    raw, out_tsv, out_dir = Path(raw_dir), Path(out_tsv), Path(out_dir)
    for s in subjects:
        subject_number(s)
    images = subject_images(raw, cfg, subjects)
    info = nsd_design.read_stim_info(raw / key(cfg, "stim_info"))
    split = nsd_design.split_of(images["nsd_id"].to_numpy(), info, "stimulus table")
    captions = nsd_images.read_captions(cfg["coco_annotations"]) if cfg["coco_annotations"] else {}
    text = [captions.get(int(c), "") for c in info.loc[images["nsd_id"], "cocoId"]] if captions else [""] * len(images)
    if captions:
        missing = sum(1 for t in text if not t)
        if missing:
            log.warning("%d of %d images have no caption in the COCO annotation files", missing, len(images))
    cache = raw / IMAGE_CACHE
    stats = nsd_images.fetch_images(client(cfg), cfg["bucket"], key(cfg, "stimuli"), images["nsd_id"], cache,
                                    image_size=cfg["image_size"], workers=cfg["fetch_workers"])
    log.info("fetched %d images in %d range requests (%.1f MB)", stats["images"], stats["requests"],
             stats["bytes"] / 1e6)
    rel_root = out_tsv.parent
    with staged_dir(out_dir) as tmp:
        tmp.mkdir(parents=True)
        rows = []
        for (nsd_id, first), sp, txt in zip(images[["nsd_id", "first_session"]].itertuples(index=False), split, text):
            name = nsd_images.cache_path(cache, nsd_id).name
            _link(cache / name, tmp / name)
            rows.append(dict(stimulus_id=nsd_design.stimulus_id(nsd_id), modality="image",
                             path=str((out_dir / name).relative_to(rel_root)), text=txt,
                             run=f"ses{int(first):02d}", onset="", duration="", split=sp))
        table = pd.DataFrame(rows, columns=STIMULUS_COLUMNS)
    _write_tsv(table, out_tsv)
    return table


# --------------------------------------------------------------------- arrays
def _load(path: Path, what: str):
    """A NIfTI/MGH image, with a clear error for missing or damaged files."""
    import nibabel as nib

    if not path.exists():
        raise NSDError(f"{what} not found: {path}")
    try:
        return nib.load(str(path))
    except Exception as err:  # nibabel raises several types on damaged headers
        raise NSDError(f"cannot read {what} {path}: {err}") from err


def _array(path: Path, what: str) -> tuple[np.ndarray, np.dtype, object]:
    """Raw stored values (no scaling applied), the on-disk dtype and the image."""
    img = _load(path, what)
    try:
        data = np.asarray(img.dataobj)
    except Exception as err:  # gzip/zlib/EOF errors of truncated files
        raise NSDError(f"cannot read {what} {path} (truncated or damaged file?): {err}") from err
    return data, img.get_data_dtype(), img


def _surface(path: Path, what: str, n_vertices: int) -> np.ndarray:
    """Per-vertex array of an .mgh/.mgz file (vertex x ...), cut to the first ``n_vertices``."""
    data, _, _ = _array(path, what)
    data = data.reshape(data.shape[0], -1) if data.ndim > 1 else data[:, None]
    if data.shape[0] < n_vertices:
        raise NSDError(f"{what} {path} has {data.shape[0]} vertices, fewer than {n_vertices}")
    return data[:n_vertices]


class _Space:
    """Reads volume or surface files of one subject into (voxel,)-indexed arrays."""

    def __init__(self, raw: Path, cfg: dict, subject: str):
        self.raw, self.cfg, self.subj = raw, cfg, subject_number(subject)
        self.volume = cfg["space"] == "func1pt8mm"
        self.n_vertices = SURFACES[cfg["surface"]]
        self.keys = subject_keys(cfg, subject)
        self.mask = self._mask()
        self.scale: float | None = None

    def path(self, k: str) -> Path:
        return self.raw / k

    def _mask(self) -> np.ndarray:
        if self.volume:
            ncsnr, _, img = _array(self.path(self.keys["ncsnr"][0]), "ncsnr volume")
            self.shape, self.affine = ncsnr.shape[:3], np.asarray(img.affine)
            if self.cfg["mask"] == "none":
                return np.ones(self.shape, bool)
            labels, _, _ = _array(self.path(self.keys["mask"][0]), "nsdgeneral mask")
            if labels.shape[:3] != self.shape:
                raise NSDError(f"nsdgeneral mask has shape {labels.shape}, ncsnr {self.shape}")
            return labels.reshape(self.shape) > 0
        self.shape, self.affine = (2 * self.n_vertices,), None
        if self.cfg["mask"] == "none":
            return np.ones(self.shape, bool)
        parts = [_surface(self.path(k), "nsdgeneral mask", self.n_vertices)[:, 0] > 0 for k in self.keys["mask"]]
        return np.concatenate(parts)

    def voxel_coords(self) -> dict[str, tuple[str, np.ndarray]]:
        idx = np.flatnonzero(self.mask.ravel())
        if self.volume:
            return {"voxel_index": ("voxel", idx)}
        hemi = np.where(idx < self.n_vertices, "lh", "rh")
        return {"hemi": ("voxel", hemi), "vertex": ("voxel", idx % self.n_vertices)}

    def per_voxel(self, keys: list[str], what: str) -> np.ndarray:
        """A one-value-per-voxel file (ncsnr, labels) restricted to the mask."""
        if self.volume:
            data, _, _ = _array(self.path(keys[0]), what)
            if data.shape[:3] != self.mask.shape:
                raise NSDError(f"{what} {self.path(keys[0])} has shape {data.shape}, expected {self.mask.shape}")
            return data.reshape(self.mask.shape)[self.mask]
        both = np.concatenate([_surface(self.path(k), what, self.n_vertices)[:, 0] for k in keys])
        return both[self.mask.ravel()]

    def native_labels(self, roi: str) -> np.ndarray:
        """Labels of a subject-surface ROI file mapped to fsaverage (nearest vertex, as nsdcode does)."""
        out = []
        for hemi in HEMIS:
            native, _, _ = _array(self.path(key(self.cfg, "roi_native_surface", subj=self.subj, hemi=hemi, roi=roi)),
                                  f"{hemi} {roi} labels")
            tr = _surface(self.path(key(self.cfg, "surface_transform", subj=self.subj, hemi=hemi)),
                          f"{hemi} white-to-fsaverage transform", self.n_vertices)[:, 0].astype(np.int64)
            native = native.ravel()
            if tr.min() < 1 or tr.max() > native.size:
                raise NSDError(f"{hemi} white-to-fsaverage transform indexes outside the {native.size} "
                               f"vertices of {hemi}.{roi}")
            out.append(native[tr - 1])
        return np.concatenate(out)[self.mask.ravel()]

    def labels(self, roi: str) -> np.ndarray:
        if self.volume:
            return self.per_voxel([key(self.cfg, "roi_volume", subj=self.subj, roi=roi)], f"{roi} labels")
        if roi == "HCP_MMP1":
            return self.per_voxel([key(self.cfg, "roi_fsaverage", hemi=h, roi=roi) for h in HEMIS], f"{roi} labels")
        return self.native_labels(roi)

    def session(self, files: list[str]) -> np.ndarray:
        """Betas of one session as (trial, voxel) float32, scaled."""
        if self.volume:
            path = self.path(files[0])
            data, dtype, _ = _array(path, "betas")
            if data.ndim != 4 or data.shape[:3] != self.mask.shape:
                raise NSDError(f"betas {path} have shape {data.shape}, expected {self.mask.shape} x trials")
            values = data[self.mask]  # voxel x trial
        else:
            parts, dtype = [], None
            for f in files:
                data, dtype, _ = _array(self.path(f), "betas")
                data = data.reshape(data.shape[0], -1)
                if data.shape[0] < self.n_vertices:
                    raise NSDError(f"betas {self.path(f)} have {data.shape[0]} vertices, need {self.n_vertices}")
                parts.append(data[: self.n_vertices])
            values = np.concatenate(parts)[self.mask.ravel()]
            path = self.path(files[0])
        if values.shape[1] != self.cfg["trials_per_session"]:
            raise NSDError(f"betas {path} have {values.shape[1]} trials, expected {self.cfg['trials_per_session']}")
        scale = self.cfg["beta_scale"]
        if scale == "auto":
            scale = BETA_INT16_SCALE if np.dtype(dtype) == np.int16 else 1.0
        self.scale = float(scale)
        return (values.T.astype(np.float32) * np.float32(scale))


def zscore_session(x: np.ndarray) -> np.ndarray:
    """Z-score each voxel over the trials of one session (constant voxels become 0)."""
    x = np.asarray(x, dtype=np.float64)
    mean = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - mean) / sd
    z[:, ~(sd > 0)] = 0.0
    return np.nan_to_num(z).astype(np.float32)


# --------------------------------------------------------------------- brain
def prepare_brain(
    raw_dir: str | os.PathLike,
    block: dict,
    subject: str,
    out: str | os.PathLike,
    roi_groups: str | os.PathLike | None = None,
    glasser_groups: str | os.PathLike | None = None,
) -> xr.Dataset:
    """Build the ``brain`` store of one NSD subject (see the module docstring)."""
    cfg = settings(block)
    raw = Path(raw_dir)
    subj = subject_number(subject)
    ses_list = sessions(cfg, subject)
    design = nsd_design.read_expdesign(raw / key(cfg, "expdesign"))
    trials = nsd_design.trial_images(design, subject, ses_list, cfg["trials_per_session"])
    info = nsd_design.read_stim_info(raw / key(cfg, "stim_info"))
    images = nsd_design.image_table(trials)
    row_of = pd.Series(np.arange(len(images)), index=images["nsd_id"])
    space = _Space(raw, cfg, subject)
    n_vox = int(space.mask.sum())
    if n_vox == 0:
        raise NSDError(f"subj{subj:02d}: the {cfg['mask']} mask selects no voxel")
    log.info("subj%02d: %d sessions, %d trials, %d images, %d voxels", subj, len(ses_list), len(trials),
             len(images), n_vox)
    sums = np.zeros((len(images), n_vox), np.float32)
    from tqdm import tqdm

    by_session = {s: k for s, k in zip(ses_list, _session_files(space.keys["betas"], cfg))}
    for ses in tqdm(ses_list, desc=f"subj{subj:02d} sessions", unit="session"):
        z = zscore_session(space.session(by_session[ses]))
        rows = row_of.loc[trials.loc[trials["session"] == ses, "nsd_id"]].to_numpy()
        np.add.at(sums, rows, z)
    responses = sums / images["repeats"].to_numpy(np.float32)[:, None]
    split = nsd_design.split_of(images["nsd_id"].to_numpy(), info, f"subj{subj:02d} design")
    test_counts = images.loc[split == "test", "repeats"].to_numpy()
    if test_counts.size == 0 or (split == "train").sum() == 0:
        raise NSDError(f"subj{subj:02d}: sessions {ses_list} give {test_counts.size} shared (test) and "
                       f"{(split == 'train').sum()} training images; both are needed")
    ncsnr = space.per_voxel(space.keys["ncsnr"], "ncsnr").astype(np.float64)
    ceiling = np.nan_to_num(nsd_noise_ceiling(ncsnr, test_counts)).astype(np.float32)
    names, masks = _rois(space, cfg, n_vox, raw, roi_groups, glasser_groups)
    abc = {f"shown_{k}": int((test_counts == k).sum()) for k in (1, 2, 3)}
    ds = xr.Dataset(
        {
            "responses": (("sample", "voxel"), responses.astype(np.float32)),
            "noise_ceiling": (("voxel",), ceiling),
            "ncsnr": (("voxel",), ncsnr.astype(np.float32)),
            "roi_mask": (("roi", "voxel"), masks),
        },
        coords={
            "stimulus_id": ("sample", [nsd_design.stimulus_id(i) for i in images["nsd_id"]]),
            "run": ("sample", [f"ses{int(s):02d}" for s in images["first_session"]]),
            "split": ("sample", split.astype(str)),
            "repeats": ("sample", images["repeats"].to_numpy(np.int16)),
            "roi": names,
            "voxel": np.arange(n_vox),
            **space.voxel_coords(),
        },
        attrs=provenance(
            space=cfg["space"] if space.volume else cfg["surface"],
            tr=0.0,
            source=f"nsd:{cfg['betas']}",
            subject=subject,
            nsd_subject=subj,
            ceiling_method="nsd_ncsnr",
            ceiling_inverse_n=nsd_effective_inverse_n(test_counts),
            test_repeat_counts=abc,
            sessions=ses_list,
            beta_scale=space.scale,
            mask=cfg["mask"],
            volume_shape=list(space.shape),
            affine=None if space.affine is None else space.affine.tolist(),
            zscore="per session and voxel over trials",
        ),
    )
    write_store(ds, out, "brain")
    return ds


def _session_files(betas: list[str], cfg: dict) -> list[list[str]]:
    per = 1 if cfg["space"] == "func1pt8mm" else len(HEMIS)
    return [betas[i: i + per] for i in range(0, len(betas), per)]


def _rois(space: _Space, cfg: dict, n_vox: int, raw: Path, roi_groups, glasser_groups) -> tuple[list[str], np.ndarray]:
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
