"""Encode one (subject, model, instruction): every layer in one job, one store out.

:class:`SubjectData` holds what every fit of one subject shares (responses,
train/test split, CV groups, delays, ROI masks); encoding, the residual
analysis and variance partitioning all build their fits from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from brainalign.encoding.cv_folds import group_folds
from brainalign.design import is_time_series, layer_matrix
from brainalign.encoding.fitting import FitResult, RidgeSettings, fit_score, normalize
from brainalign.statistics.inference import permutation_tests
from brainalign.stores import provenance

log = logging.getLogger(__name__)

LayerTransform = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def split_masks(brain: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train and test masks over samples; both must be non-empty."""
    split = brain["split"].values.astype(str)
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise ValueError(f"brain data needs train and test samples; splits present: {sorted(set(split.tolist()))}")
    return train, test


@dataclass
class SubjectData:
    """One subject's brain store prepared once for all fits: responses, split, groups, delays."""

    brain: xr.Dataset
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    runs: np.ndarray
    delays: list[int]
    block_size: int

    @classmethod
    def from_brain(cls, brain: xr.Dataset, delays: list[int], block_size: int = 10) -> "SubjectData":
        train, test = split_masks(brain)
        series = is_time_series(brain)
        return cls(brain=brain, y=brain["responses"].values, train=train, test=test,
                   runs=brain["run"].values.astype(str), delays=list(delays) if series else [],
                   block_size=block_size if series else 1)

    @property
    def groups(self) -> np.ndarray:
        """CV groups (runs) of the training samples."""
        return self.runs[self.train]

    def design(self, features: xr.Dataset, layer_index: int) -> np.ndarray:
        """Design matrix of one layer over all samples (delays applied for time series)."""
        return layer_matrix(features, self.brain, layer_index, self.delays)

    def delay_bands(self, n_columns: int) -> list[slice] | None:
        """One band per FIR delay of a delayed design (``None`` without delays)."""
        if not self.delays:
            return None
        width = n_columns // len(self.delays)
        return [slice(i * width, (i + 1) * width) for i in range(len(self.delays))]

    def fit(self, x: np.ndarray, settings: RidgeSettings, bands: list[slice] | None = None,
            scale_x: bool = True) -> FitResult:
        """Fit on the training samples of ``x`` and score on its test samples."""
        return fit_score(x[self.train], self.y[self.train], x[self.test], self.y[self.test], self.groups,
                         settings, bands=bands, scale_x=scale_x)

    def normalized(self, r: np.ndarray, ceiling_min: float) -> np.ndarray:
        return normalize(r, self.brain["noise_ceiling"].values, ceiling_min)


@dataclass
class LayerScores:
    """Per-voxel scores of one layer."""

    r: np.ndarray
    r2: np.ndarray
    alpha: np.ndarray
    cv_score: np.ndarray
    prediction: np.ndarray
    observed: np.ndarray
    edge_fraction: float
    solver_form: str


def score_layer(data: SubjectData, x: np.ndarray, settings: RidgeSettings, transform: LayerTransform | None,
                layer: int, scale_x: bool, bands: list[slice] | None = None) -> LayerScores:
    """Train/test fit of one layer (``transform`` may replace the design first)."""
    x_train, x_test = x[data.train], x[data.test]
    if transform is not None:
        x_train, x_test = transform(x_train, x_test, layer)
    fit = fit_score(x_train, data.y[data.train], x_test, data.y[data.test], data.groups, settings,
                    bands=bands, scale_x=scale_x)
    return LayerScores(fit.r, fit.r2, fit.alpha, fit.cv_score, fit.prediction, data.y[data.test],
                       fit.encoder.edge_fraction_, fit.encoder.form_)


def score_layer_nested(data: SubjectData, x: np.ndarray, settings: RidgeSettings, transform: LayerTransform | None,
                       layer: int, scale_x: bool, outer_folds: int, bands: list[slice] | None = None) -> LayerScores:
    """Nested CV of one layer over all samples: outer folds of whole runs, alphas from inner folds only.

    r and R^2 are averaged over outer folds; alphas are the per-voxel median over outer folds.
    """
    folds = group_folds(data.runs, outer_folds)
    parts = []
    for train_idx, test_idx in folds:
        x_train, x_test = x[train_idx], x[test_idx]
        if transform is not None:
            x_train, x_test = transform(x_train, x_test, layer)
        fit = fit_score(x_train, data.y[train_idx], x_test, data.y[test_idx], data.runs[train_idx], settings,
                        bands=bands, scale_x=scale_x)
        parts.append((fit, test_idx))
    order = np.concatenate([t for _, t in parts])
    return LayerScores(
        r=np.mean([f.r for f, _ in parts], axis=0), r2=np.mean([f.r2 for f, _ in parts], axis=0),
        alpha=np.median([f.alpha for f, _ in parts], axis=0), cv_score=np.mean([f.cv_score for f, _ in parts], axis=0),
        prediction=np.concatenate([f.prediction for f, _ in parts]), observed=data.y[order],
        edge_fraction=float(np.mean([f.encoder.edge_fraction_ for f, _ in parts])),
        solver_form=parts[0][0].encoder.form_,
    )


def encoding_dataset(layers: np.ndarray, scores: list[LayerScores], roi: tuple[np.ndarray, np.ndarray],
                     data: SubjectData, ceiling_min: float, attrs: dict[str, Any]) -> xr.Dataset:
    """Assemble an ``encoding`` store from per-layer scores and ROI permutation results."""
    stack = {k: np.stack([getattr(s, k) for s in scores]) for k in ("r", "r2", "alpha", "cv_score")}
    normalized = np.stack([data.normalized(row, ceiling_min) for row in stack["r"]])
    brain = data.brain
    return xr.Dataset(
        {
            **{k: (("layer", "voxel"), v.astype(np.float32)) for k, v in stack.items()},
            "normalized": (("layer", "voxel"), normalized.astype(np.float32)),
            "roi_r": (("layer", "roi"), roi[0].astype(np.float32)),
            "roi_p_perm": (("layer", "roi"), roi[1].astype(np.float32)),
        },
        coords={"layer": layers, "voxel": brain["voxel"].values, "roi": brain["roi"].values},
        attrs=provenance(**attrs),
    )


def _store_attrs(features: xr.Dataset, brain: xr.Dataset, settings: RidgeSettings, data: SubjectData,
                 scores: list[LayerScores], *, ceiling_min: float, outer_folds: int, banding: str,
                 n_permutations: int) -> dict:
    """Identities and settings an encoding store records (read back by the tables, never from paths)."""
    edge = float(np.mean([s.edge_fraction for s in scores]))
    return {
        "model": features.attrs.get("model", ""),
        "instruction": features.attrs.get("instruction", "none"),
        "subject": brain.attrs.get("subject", ""),
        "backend": settings.backend,
        "solver_form": scores[0].solver_form,
        "cv_scoring": settings.cv_scoring,
        "alphas": [float(a) for a in settings.alphas],
        "alpha_edge_fraction": round(edge, 6),
        "n_folds": settings.n_folds,
        "outer_folds": int(outer_folds),
        "banding": banding if data.delays else "none",
        "delays": data.delays,
        "ceiling_min": ceiling_min,
        "scored_against": brain.attrs.get("test_responses", "test responses of the brain store"),
        "n_permutations": n_permutations,
        "block_size": data.block_size,
        "features_cache_key": features.attrs.get("cache_key", ""),
    }


def encode_features(
    features: xr.Dataset,
    brain: xr.Dataset,
    settings: RidgeSettings,
    delays: list[int],
    ceiling_min: float,
    n_permutations: int = 0,
    block_size: int = 10,
    seed: int = 0,
    layer_transform: LayerTransform | None = None,
    scale_x: bool = True,
    outer_folds: int = 0,
    banding: str = "none",
) -> xr.Dataset:
    """Fit and score a ridge model per layer of ``features`` for ``brain``'s voxels.

    ``layer_transform(x_train, x_test, layer_index) -> (x_train, x_test)`` lets
    callers (the residual analysis) replace a layer's design before fitting;
    ``scale_x=False`` keeps the design's column variances (see ``fit_score``).
    ``outer_folds > 0`` switches to nested cross-validation over all samples
    (the train/test split is then not used). ``banding="delays"`` fits banded
    ridge with one band (own regularisation) per FIR delay.
    """
    if banding not in ("none", "delays"):
        raise ValueError(f"unknown banding {banding!r}; allowed: none, delays")
    data = SubjectData.from_brain(brain, delays, block_size)
    roi_mask = brain["roi_mask"].values
    scores, roi_r, roi_p, voxel_p = [], [], [], []
    for li in tqdm(range(features.sizes["layer"]), desc=f"encode {features.attrs.get('model')}", unit="layer"):
        x = data.design(features, li)
        bands = data.delay_bands(x.shape[1]) if banding == "delays" else None
        if outer_folds:
            s = score_layer_nested(data, x, settings, layer_transform, li, scale_x, outer_folds, bands)
        else:
            s = score_layer(data, x, settings, layer_transform, li, scale_x, bands)
        r, p, vp = permutation_tests(s.prediction, s.observed, roi_mask, n_permutations, data.block_size, seed + li)
        scores.append(s)
        roi_r.append(r)
        roi_p.append(p)
        voxel_p.append(vp)
    attrs = _store_attrs(features, brain, settings, data, scores, ceiling_min=ceiling_min,
                         outer_folds=outer_folds, banding=banding, n_permutations=n_permutations)
    ds = encoding_dataset(features["layer"].values, scores, (np.stack(roi_r), np.stack(roi_p)), data,
                          ceiling_min, attrs)
    if n_permutations:  # voxelwise permutation p-values (BH-FDR over voxels is applied by the tables and maps)
        ds["p_perm"] = (("layer", "voxel"), np.stack(voxel_p).astype(np.float32))
    return ds


def encode_job(features_path: str, brain_path: str, output: str, encoding_cfg: dict, stats_cfg: dict) -> None:
    """Workflow entry point: read the stores, encode every layer, write the encoding store."""
    from brainalign.encoding.fitting import ridge_settings
    from brainalign.stores import read_store, write_store

    features = read_store(features_path, "features")
    brain = read_store(brain_path, "brain")
    log.info("encoding %s / %s for %s: %d layers, %d voxels", features.attrs.get("model"),
             features.attrs.get("instruction"), brain.attrs.get("subject"), features.sizes["layer"],
             brain.sizes["voxel"])
    ds = encode_features(
        features, brain, ridge_settings(encoding_cfg), encoding_cfg["delays"], encoding_cfg["ceiling_min"],
        stats_cfg["n_permutations"], stats_cfg["block_size"], stats_cfg["seed"],
        outer_folds=int(encoding_cfg.get("outer_folds", 0)), banding=encoding_cfg.get("banding") or "none",
    )
    write_store(ds, output, "encoding")
