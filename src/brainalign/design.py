"""Design matrices: feature rows matched to brain samples.

Event designs match features to samples by ``stimulus_id``. Time-series
designs align sub-TR units to each run's TRs (Lanczos for words, averaging
otherwise) and add FIR delays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.temporal import align_to_trs, fir_delays


def alignment_method(features: xr.Dataset) -> str:
    """``lanczos`` for word features, ``average`` for everything else."""
    modality = np.unique(features["modality"].values.astype(str)) if "modality" in features.coords else []
    return "lanczos" if list(modality) == ["word"] else "average"


def is_time_series(brain: xr.Dataset) -> bool:
    """Whether a brain store holds time series (TRs) rather than event samples."""
    return float(brain.attrs.get("tr", 0.0) or 0.0) > 0.0


def layer_matrix(features: xr.Dataset, brain: xr.Dataset, layer_index: int, delays: list[int]) -> np.ndarray:
    """Sample x feature design matrix of one layer for the samples of ``brain``."""
    values = features["features"].isel(layer=layer_index).values
    return design_matrix(values, features, brain, delays)


def design_matrix(values: np.ndarray, features: xr.Dataset, brain: xr.Dataset, delays: list[int]) -> np.ndarray:
    """Match (stimulus x unit) ``values`` described by ``features``' coords to brain samples."""
    if is_time_series(brain):
        x = align_to_trs(
            values,
            features["run"].values,
            features["onset"].values.astype(float),
            brain["run"].values,
            brain["time"].values.astype(float),
            float(brain.attrs["tr"]),
            alignment_method(features),
        )
        return fir_delays(x, brain["run"].values, list(delays)).astype(np.float32)
    index = pd.Index(features["stimulus_id"].values.astype(str))
    wanted = brain["stimulus_id"].values.astype(str)
    pos = index.get_indexer(wanted)
    if np.any(pos < 0):
        missing = wanted[pos < 0]
        raise ValueError(
            f"features of model {features.attrs.get('model')!r} lack {len(missing)} stimuli "
            f"of the brain data, e.g. {missing[:5].tolist()}"
        )
    return np.asarray(values[pos], dtype=np.float32)


def resolve_layer(features: xr.Dataset, layer: int | None) -> list[int]:
    """Layer positions: all layers for ``None``, else the one (negative counts from the end)."""
    n = features.sizes["layer"]
    if layer is None:
        return list(range(n))
    if not -n <= int(layer) < n:
        raise ValueError(f"layer {layer} out of range: model {features.attrs.get('model')!r} has {n} layers")
    return [int(layer) % n]
