"""brainalign: measure how well AI model representations predict human fMRI responses.

The public API (README, "Library API"); ``import brainalign`` itself imports no
numerical library, each part is imported when first used:

- :func:`brainalign.encode`: ridge-encode every layer of a features store against a brain store;
- :func:`brainalign.stores.open`: open a store, checking that it is complete;
- :func:`brainalign.features.extract`: the features of one model for a stimulus table.

The workflow (``workflow/``) runs the same library, one function per rule.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import xarray as xr

__version__ = "0.1.0"
__all__ = ["__version__", "encode", "features", "stores"]

_LAZY_MODULES = ("features", "stores")


def encode(
    features: xr.Dataset | str | os.PathLike,
    brain: xr.Dataset | str | os.PathLike,
    encoding: dict[str, Any] | None = None,
    stats: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Fit and score a voxelwise ridge model (:class:`~brainalign.encoding.ridge_encoder.RidgeEncoder`) per layer.

    ``features`` (layer x stimulus x unit) and ``brain`` (sample x voxel, with a train/test
    ``split`` and CV groups ``run``): datasets in the store formats of docs/data_model.md, or
    paths of stores (opened with :func:`brainalign.stores.open`). ``encoding`` and ``stats``:
    keys of the config blocks of the same names (config/README.md); the rest are the
    schema's defaults. Returns an ``encoding`` store: per layer and voxel ``r``, ``r2``,
    ``alpha``, ``cv_score`` and ``normalized`` (r / noise ceiling), per layer and ROI
    ``roi_r`` and ``roi_p_perm`` (permutation test). Write it with
    :func:`brainalign.stores.write_store`.
    """
    from brainalign import stores
    from brainalign.config import config_section
    from brainalign.encoding.fitting import ridge_settings
    from brainalign.encoding.layerwise import encode_features

    enc, st = config_section("encoding", encoding), config_section("stats", stats)
    features, brain = (x if hasattr(x, "data_vars") else stores.open(x) for x in (features, brain))
    return encode_features(features, brain, ridge_settings(enc), enc["delays"], enc["ceiling_min"],
                           n_permutations=st["n_permutations"], block_size=st["block_size"], seed=st["seed"],
                           outer_folds=enc["outer_folds"], banding=enc.get("banding") or "none")


def __getattr__(name: str) -> Any:
    """``brainalign.stores`` and ``brainalign.features`` without importing them first."""
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
