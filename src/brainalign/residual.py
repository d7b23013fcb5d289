"""Residual ("removal") analysis: encode what is left of A after removing B.

residual_A = A - ridge_prediction(A from B), with the residualiser fitted on
training samples only and applied unchanged to test samples. Residuals are in
units of A's training standard deviations and are encoded without rescaling
each column: rescaling would restore what was removed (ridge leaves a shrunk
copy of the B-explained part, which z-scoring would blow back up).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from brainalign.design import resolve_layer
from brainalign.encoding.layerwise import SubjectData, encode_features
from brainalign.encoding.fitting import RidgeSettings, Standardizer, fit_score


def remove_space(
    a_train: np.ndarray, a_test: np.ndarray, b_train: np.ndarray, b_test: np.ndarray,
    groups: np.ndarray, settings: RidgeSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Residuals of A after a ridge prediction from B fitted on the training rows.

    Returned in units of A's training standard deviation per column.
    """
    fit = fit_score(b_train, a_train, np.concatenate([b_train, b_test]), None, groups, settings)
    resid = np.concatenate([a_train, a_test]) - fit.prediction
    resid /= Standardizer.fit(a_train).std
    n = len(a_train)
    return resid[:n].astype(np.float32), resid[n:].astype(np.float32)


def encode_residual(
    target: xr.Dataset,
    remove: xr.Dataset,
    remove_layer: int,
    brain: xr.Dataset,
    settings: RidgeSettings,
    delays: list[int],
    ceiling_min: float,
    target_layer: int | None = None,
    n_permutations: int = 0,
    block_size: int = 10,
) -> xr.Dataset:
    """Encoding store of ``target`` features with ``remove``'s layer regressed out."""
    data = SubjectData.from_brain(brain, delays, block_size)
    (rl,) = resolve_layer(remove, remove_layer)
    b = data.design(remove, rl)
    layers = resolve_layer(target, target_layer)
    subset = target.isel(layer=layers)

    def transform(x_train: np.ndarray, x_test: np.ndarray, _li: int) -> tuple[np.ndarray, np.ndarray]:
        return remove_space(x_train, x_test, b[data.train], b[data.test], data.groups, settings)

    ds = encode_features(subset, brain, settings, delays, ceiling_min, n_permutations, block_size,
                         layer_transform=transform, scale_x=False)
    ds.attrs.update(
        analysis="residual",
        removed_model=remove.attrs.get("model", ""),
        removed_instruction=remove.attrs.get("instruction", "none"),
        removed_layer=int(remove["layer"].values[rl]),
    )
    return ds


def residual_job(
    target_path: str, remove_path: str, brain_path: str, output: str,
    target_ref: dict, remove_ref: dict, encoding_cfg: dict, stats_cfg: dict,
) -> None:
    """Workflow entry point of the residual analysis."""
    from brainalign.encoding.fitting import ridge_settings
    from brainalign.stores import read_store, write_store

    ds = encode_residual(
        read_store(target_path, "features"), read_store(remove_path, "features"), remove_ref["layer"],
        read_store(brain_path, "brain"), ridge_settings(encoding_cfg), encoding_cfg["delays"],
        encoding_cfg["ceiling_min"], target_ref["layer"], stats_cfg["n_permutations"], stats_cfg["block_size"],
    )
    write_store(ds, output, "encoding")
