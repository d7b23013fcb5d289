"""NSD files of one subject read as (voxel,)-indexed arrays: volume (func1pt8mm) or fsaverage surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainalign.datasets.nsd.layout import HEMIS, SURFACES, NSDError, key, subject_keys, subject_number

BETA_INT16_SCALE = 1.0 / 300.0


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


class SubjectSpace:
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

    def voxel_coords(self) -> dict[str, np.ndarray]:
        """Where each kept voxel lies: ``voxel_index`` in the volume, or ``hemi`` and ``vertex``."""
        idx = np.flatnonzero(self.mask.ravel())
        if self.volume:
            return {"voxel_index": idx}
        hemi = np.where(idx < self.n_vertices, "lh", "rh")
        return {"hemi": hemi, "vertex": idx % self.n_vertices}

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
