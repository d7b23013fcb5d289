"""Encode one (subject, model, instruction): every layer in one job, one store out."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from brainalign.design import is_time_series, layer_matrix
from brainalign.encoding import RidgeSettings, fit_score, normalize
from brainalign.stats import roi_permutation_test
from brainalign.stores import provenance

log = logging.getLogger(__name__)


def split_masks(brain: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train and test masks over samples; both must be non-empty."""
    split = brain["split"].values.astype(str)
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise ValueError(f"brain data needs train and test samples; splits present: {sorted(set(split.tolist()))}")
    return train, test


def encoding_dataset(
    layers: np.ndarray, r: np.ndarray, r2: np.ndarray, alpha: np.ndarray, brain: xr.Dataset,
    ceiling_min: float, roi_r: np.ndarray, roi_p: np.ndarray, attrs: dict[str, Any],
) -> xr.Dataset:
    """Assemble an ``encoding`` store from per-layer score arrays (layer x voxel)."""
    normalized = np.stack([normalize(row, brain["noise_ceiling"].values, ceiling_min) for row in r])
    return xr.Dataset(
        {
            "r": (("layer", "voxel"), r.astype(np.float32)),
            "r2": (("layer", "voxel"), r2.astype(np.float32)),
            "alpha": (("layer", "voxel"), alpha.astype(np.float32)),
            "normalized": (("layer", "voxel"), normalized.astype(np.float32)),
            "roi_r": (("layer", "roi"), roi_r.astype(np.float32)),
            "roi_p_perm": (("layer", "roi"), roi_p.astype(np.float32)),
        },
        coords={"layer": layers, "voxel": brain["voxel"].values, "roi": brain["roi"].values},
        attrs=provenance(**attrs),
    )


def encode_features(
    features: xr.Dataset,
    brain: xr.Dataset,
    settings: RidgeSettings,
    delays: list[int],
    ceiling_min: float,
    n_permutations: int = 0,
    block_size: int = 10,
    seed: int = 0,
    layer_transform=None,
    scale_x: bool = True,
) -> xr.Dataset:
    """Fit and score a ridge model per layer of ``features`` for ``brain``'s voxels.

    ``layer_transform(x_train, x_test, layer_index) -> (x_train, x_test)`` lets
    callers (the residual analysis) replace a layer's design before fitting;
    ``scale_x=False`` keeps the design's column variances (see ``fit_score``).
    """
    train, test = split_masks(brain)
    delays = list(delays) if is_time_series(brain) else []
    y = brain["responses"].values
    groups = brain["run"].values.astype(str)[train]
    roi_mask = brain["roi_mask"].values
    block = block_size if is_time_series(brain) else 1
    n_layers = features.sizes["layer"]
    out = {k: [] for k in ("r", "r2", "alpha", "roi_r", "roi_p")}
    for li in tqdm(range(n_layers), desc=f"encode {features.attrs.get('model')}", unit="layer"):
        x = layer_matrix(features, brain, li, delays)
        x_train, x_test = x[train], x[test]
        if layer_transform is not None:
            x_train, x_test = layer_transform(x_train, x_test, li)
        fit = fit_score(x_train, y[train], x_test, y[test], groups, settings, scale_x=scale_x)
        roi_r, roi_p = roi_permutation_test(fit.prediction, y[test], roi_mask, n_permutations, block, seed + li)
        if n_permutations == 0:
            roi_p = np.full_like(roi_r, np.nan)
        for k, v in zip(("r", "r2", "alpha", "roi_r", "roi_p"), (fit.r, fit.r2, fit.alpha, roi_r, roi_p)):
            out[k].append(v)
    attrs = {
        "model": features.attrs.get("model", ""),
        "instruction": features.attrs.get("instruction", "none"),
        "subject": brain.attrs.get("subject", ""),
        "backend": settings.backend,
        "alphas": [float(a) for a in settings.alphas],
        "n_folds": settings.n_folds,
        "delays": delays,
        "ceiling_min": ceiling_min,
        "n_permutations": n_permutations,
        "block_size": block,
        "features_cache_key": features.attrs.get("cache_key", ""),
    }
    return encoding_dataset(
        features["layer"].values, *(np.stack(out[k]) for k in ("r", "r2", "alpha")), brain,
        ceiling_min, np.stack(out["roi_r"]), np.stack(out["roi_p"]), attrs,
    )


def encode_job(features_path: str, brain_path: str, output: str, encoding_cfg: dict, stats_cfg: dict) -> None:
    """Workflow entry point: read the stores, encode every layer, write the encoding store."""
    from brainalign.encoding import ridge_settings
    from brainalign.stores import read_store, write_store

    features = read_store(features_path, "features")
    brain = read_store(brain_path, "brain")
    log.info("encoding %s / %s for %s: %d layers, %d voxels", features.attrs.get("model"),
             features.attrs.get("instruction"), brain.attrs.get("subject"), features.sizes["layer"],
             brain.sizes["voxel"])
    ds = encode_features(
        features, brain, ridge_settings(encoding_cfg), encoding_cfg["delays"], encoding_cfg["ceiling_min"],
        stats_cfg["n_permutations"], stats_cfg["block_size"], stats_cfg["seed"],
    )
    write_store(ds, output, "encoding")
