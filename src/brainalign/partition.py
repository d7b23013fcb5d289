"""Variance partitioning between two feature spaces.

With scores s1, s2 of the separate models and s12 of the joint model (banded
ridge, one regularisation per space): shared = s1 + s2 - s12,
unique1 = s12 - s2, unique2 = s12 - s1 (SPEC "Shared definitions").
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from brainalign.design import resolve_layer
from brainalign.encoding.layerwise import SubjectData
from brainalign.encoding.fitting import RidgeSettings
from brainalign.stores import provenance

METRICS = ("normalized", "r2")


def partition_scores(s1: np.ndarray, s2: np.ndarray, s12: np.ndarray) -> dict[str, np.ndarray]:
    """Shared and unique parts from separate and joint scores."""
    return {"shared": s1 + s2 - s12, "unique_a": s12 - s2, "unique_b": s12 - s1, "joint": s12}


def partition_pair(
    a: xr.Dataset, a_layer: int, b: xr.Dataset, b_layer: int, brain: xr.Dataset,
    settings: RidgeSettings, delays: list[int], ceiling_min: float, metric: str = "normalized",
) -> xr.Dataset:
    """Fit A, B and the banded joint model A+B; return a ``partition`` store."""
    if metric not in METRICS:
        raise ValueError(f"unknown partition metric {metric!r}; allowed: {', '.join(METRICS)}")
    subj = SubjectData.from_brain(brain, delays)
    (la,) = resolve_layer(a, a_layer)
    (lb,) = resolve_layer(b, b_layer)
    xa = subj.design(a, la)
    xb = subj.design(b, lb)
    xab = np.concatenate([xa, xb], axis=1)
    bands = [slice(0, xa.shape[1]), slice(xa.shape[1], xab.shape[1])]
    fits = {"a": subj.fit(xa, settings), "b": subj.fit(xb, settings), "ab": subj.fit(xab, settings, bands=bands)}
    if metric == "normalized":
        score = {k: subj.normalized(f.r, ceiling_min) for k, f in fits.items()}
    else:
        score = {k: f.r2 for k, f in fits.items()}
    parts = partition_scores(score["a"], score["b"], score["ab"])
    data = {k: ("voxel", v.astype(np.float32)) for k, v in parts.items()}
    data.update({f"score_{k}": ("voxel", v.astype(np.float32)) for k, v in score.items()})
    return xr.Dataset(
        data,
        coords={"voxel": brain["voxel"].values, "roi": brain["roi"].values,
                "roi_mask": (("roi", "voxel"), brain["roi_mask"].values)},
        attrs=provenance(
            metric=metric,
            subject=brain.attrs.get("subject", ""),
            a_model=a.attrs.get("model", ""), a_instruction=a.attrs.get("instruction", "none"),
            a_layer=int(a["layer"].values[la]),
            b_model=b.attrs.get("model", ""), b_instruction=b.attrs.get("instruction", "none"),
            b_layer=int(b["layer"].values[lb]),
            backend=settings.backend, n_iter=settings.n_iter, delays=subj.delays,
            solver_form=fits["ab"].encoder.form_,
        ),
    )


def partition_job(
    a_path: str, b_path: str, brain_path: str, output: str, a_ref: dict, b_ref: dict,
    metric: str, encoding_cfg: dict,
) -> None:
    """Workflow entry point of variance partitioning."""
    from brainalign.encoding.fitting import ridge_settings
    from brainalign.stores import read_store, write_store

    ds = partition_pair(
        read_store(a_path, "features"), a_ref["layer"], read_store(b_path, "features"), b_ref["layer"],
        read_store(brain_path, "brain"), ridge_settings(encoding_cfg), encoding_cfg["delays"],
        encoding_cfg["ceiling_min"], metric,
    )
    write_store(ds, output, "partition")
