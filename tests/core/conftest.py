"""Small in-memory brain and feature datasets shared by the core library tests."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from brainalign import stores

os.environ.setdefault("OMP_NUM_THREADS", "1")


def brain_dataset(
    responses: np.ndarray,
    runs: np.ndarray,
    split: np.ndarray,
    ceiling: np.ndarray | None = None,
    roi_mask: np.ndarray | None = None,
    tr: float = 0.0,
    time: np.ndarray | None = None,
    ids: np.ndarray | None = None,
) -> xr.Dataset:
    """A ``brain`` store (sample x voxel) from plain arrays."""
    n, v = responses.shape
    if ids is None:
        ids = np.array([f"s{i:04d}" for i in range(n)])
    if roi_mask is None:
        roi_mask = np.zeros((2, v), dtype=bool)
        roi_mask[0, : v // 2] = True
        roi_mask[1, v // 2 :] = True
    return stores.brain_dataset(
        responses, ids, runs, split, np.ones(v) if ceiling is None else ceiling,
        [f"roi{i}" for i in range(roi_mask.shape[0])], roi_mask, time=time,
        tr=tr, subject="sub-01", space="test", source="test",
    )


def features_dataset(
    values: np.ndarray,
    ids: np.ndarray,
    runs: np.ndarray | None = None,
    onsets: np.ndarray | None = None,
    modality: str = "image",
    model: str = "m",
    instruction: str = "none",
) -> xr.Dataset:
    """A ``features`` store (layer x stimulus x unit) from plain arrays."""
    n = values.shape[1]
    coords = {
        "layer": np.arange(values.shape[0]),
        "stimulus_id": ("stimulus", np.asarray(ids).astype(str)),
        "run": ("stimulus", np.asarray(runs if runs is not None else ["r"] * n).astype(str)),
        "onset": ("stimulus", np.asarray(onsets if onsets is not None else np.full(n, np.nan), dtype=float)),
        "duration": ("stimulus", np.full(n, np.nan)),
        "modality": ("stimulus", np.array([modality] * n)),
    }
    return xr.Dataset(
        {"features": (("layer", "stimulus", "unit"), values.astype(np.float32))},
        coords=coords,
        attrs={"model": model, "instruction": instruction, "cache_key": "k"},
    )


@pytest.fixture
def event_data():
    """Event design: 6 training sessions + a test session; layer 1 drives ROI 0, nothing drives ROI 1."""
    rng = np.random.default_rng(0)
    n_train, n_test, n_units, n_vox = 240, 60, 8, 40
    n = n_train + n_test
    x = rng.standard_normal((3, n, n_units))
    w = rng.standard_normal((n_units, n_vox // 2))
    y = np.concatenate([x[1] @ w / np.sqrt(n_units) + 0.5 * rng.standard_normal((n, n_vox // 2)),
                        rng.standard_normal((n, n_vox // 2))], axis=1)
    runs = np.array([f"ses-{i * 6 // n_train + 1:02d}" for i in range(n_train)] + ["ses-test"] * n_test)
    split = np.array(["train"] * n_train + ["test"] * n_test)
    ceiling = np.r_[np.full(n_vox // 2, 0.8), np.full(n_vox // 4, 0.5), np.full(n_vox // 4, 0.01)]
    ids = np.array([f"img{i:04d}" for i in range(n)])
    brain = brain_dataset(y, runs, split, ceiling=ceiling, ids=ids)
    perm = rng.permutation(n)  # features stored in another order than the brain samples
    feats = features_dataset(x[:, perm], ids[perm])
    return brain, feats
