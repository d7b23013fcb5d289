"""Brain maps: subject means on a shared surface layout, FDR-failing voxels masked, synthetic layout."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from brainalign.brain_maps import plot_surface, subject_mean_map
from brainalign.datasets.synthetic import surface_patches


def _stores(p_perm: bool):
    hemi, vertex = surface_patches(2, 30)
    brain = xr.Dataset(coords={"hemi": ("voxel", hemi), "vertex": ("voxel", vertex)}, attrs={"mesh": "fsaverage5"})
    stores = []
    for s in range(2):
        r = np.stack([np.full(60, 0.1), np.r_[np.full(30, 0.5 + 0.1 * s), np.full(30, 0.01)]])
        data = {"r": (("layer", "voxel"), r), "normalized": (("layer", "voxel"), r * 2)}
        if p_perm:
            data["p_perm"] = (("layer", "voxel"), np.stack([np.full(60, 0.5), np.r_[np.full(30, 0.001), np.full(30, 0.6)]]))
        stores.append(xr.Dataset(data))
    return stores, [brain, brain]


def test_surface_patches_are_distinct_compact_and_deterministic():
    hemi, vertex = surface_patches(5, 40)
    assert len(set(vertex)) == 200 and set(hemi) == {"lh"}
    np.testing.assert_array_equal(surface_patches(5, 40)[1], vertex)
    with pytest.raises(ValueError, match="do not fit"):
        surface_patches(200, 100)


def test_mean_map_masks_fdr_failures():
    stores, brains = _stores(True)
    mesh, hemi, vertex, values = subject_mean_map(stores, brains, "normalized", None, 0.05)
    assert mesh == "fsaverage5"
    np.testing.assert_allclose(values[:30], 2 * 0.55)  # layer 1 chosen (highest r), mean of two subjects
    assert np.isnan(values[30:]).all()  # not significant after FDR
    _, _, _, depth = subject_mean_map(stores, brains, "best_layer", None, 0.05)
    np.testing.assert_allclose(depth[:30], 1.0)
    stores, brains = _stores(False)
    values = subject_mean_map(stores, brains, "r", 0, 0.05)[3]
    np.testing.assert_allclose(values, 0.1)  # a fixed layer, nothing masked without p-values


def test_layouts_must_agree_and_exist():
    stores, brains = _stores(False)
    other = brains[1].assign_coords(vertex=("voxel", brains[1]["vertex"].values[::-1]))
    with pytest.raises(ValueError, match="different surface layouts"):
        subject_mean_map(stores, [brains[0], other], "r", None, 0.05)
    with pytest.raises(ValueError, match="no surface layout"):
        subject_mean_map(stores, [xr.Dataset(), xr.Dataset()], "r", None, 0.05)


def test_plot_surface_paints_the_values(tmp_path):
    stores, brains = _stores(True)
    mesh, hemi, vertex, values = subject_mean_map(stores, brains, "normalized", None, 0.05)
    fig = plot_surface(mesh, hemi, vertex, values, "t", "normalised alignment")
    out = tmp_path / "map.png"
    fig.savefig(out, dpi=40)
    plt.close(fig)
    assert out.stat().st_size > 1000
