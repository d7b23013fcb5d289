"""Brain maps: per-voxel scores of encoding stores painted on the fsaverage surface.

A brain store with a surface layout has per-voxel coordinates ``hemi`` (``lh`` /
``rh``) and ``vertex`` (index into the mesh named by its ``mesh`` attribute,
e.g. ``fsaverage5``). Subject maps are averaged where every subject has the same
layout. Voxels are masked (not painted) where the score is undefined (noise
ceiling below the threshold) and, where the stores carry voxel permutation
p-values (``p_perm``), where the BH-FDR corrected p is not below ``alpha`` in a
majority of subjects.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from brainalign.statistics.inference import fdr_bh

VIEWS = [("left", "lateral"), ("left", "medial"), ("right", "lateral"), ("right", "medial")]


def surface_layout(brain: xr.Dataset) -> tuple[str, np.ndarray, np.ndarray]:
    """(mesh, hemi, vertex) of a brain store; a clear error if it has no surface layout."""
    if "vertex" not in brain.coords or "hemi" not in brain.coords or not brain.attrs.get("mesh"):
        raise ValueError(f"brain store of {brain.attrs.get('subject', '?')} has no surface layout "
                         "(coordinates hemi and vertex and attribute mesh); brain maps need one")
    return str(brain.attrs["mesh"]), brain["hemi"].values.astype(str), brain["vertex"].values.astype(int)


def voxel_values(store: xr.Dataset, value: str, layer: int | None, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel map of one subject and whether each voxel passes FDR (all True without ``p_perm``)."""
    score = "cv_score" if "cv_score" in store else "r"
    chosen = np.nanargmax(np.nan_to_num(store[score].values, nan=-np.inf), axis=0)
    if layer is not None:
        chosen = np.full(store.sizes["voxel"], layer % store.sizes["layer"])
    idx = np.arange(store.sizes["voxel"])
    if value == "best_layer":
        vals = chosen / max(store.sizes["layer"] - 1, 1)
    else:
        vals = store[value].values[chosen, idx].astype(float)
    passes = np.ones(vals.shape, dtype=bool)
    if "p_perm" in store:
        passes = fdr_bh(store["p_perm"].values[chosen, idx]) < alpha
    return vals, passes


def subject_mean_map(stores: list[xr.Dataset], brains: list[xr.Dataset], value: str, layer: int | None,
                     alpha: float) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(mesh, hemi, vertex, mean values with NaN where masked) over subjects that share one layout."""
    layouts = [surface_layout(b) for b in brains]
    mesh, hemi, vertex = layouts[0]
    for m, h, v in layouts[1:]:
        if m != mesh or not (np.array_equal(h, hemi) and np.array_equal(v, vertex)):
            raise ValueError("subjects have different surface layouts; a mean map needs one layout")
    maps, passes = zip(*(voxel_values(s, value, layer, alpha) for s in stores))
    mean = np.nanmean(np.stack(maps), axis=0)
    majority = np.mean(np.stack(passes), axis=0) > 0.5
    return mesh, hemi, vertex, np.where(majority, mean, np.nan)


def plot_surface(mesh: str, hemi: np.ndarray, vertex: np.ndarray, values: np.ndarray, title: str, label: str,
                 vmax: float | None = None, sequential: bool = False):
    """Lateral and medial views of each hemisphere with data, on the inflated mesh; unpainted vertices grey.

    The colour scale ends at the 98th percentile of |values| (unless ``vmax`` is given) so that a few
    extreme voxels (tiny noise ceilings) do not wash out the map. ``sequential``: values in [0, vmax]
    (e.g. relative layer depth) on a sequential colour map.
    """
    import matplotlib.pyplot as plt
    from nilearn import datasets, plotting

    fs = datasets.load_fsaverage(mesh)
    n = {h: fs["inflated"].parts[p].n_vertices for h, p in (("lh", "left"), ("rh", "right"))}
    sulc = datasets.load_fsaverage_data(mesh, mesh_type="inflated", data_type="sulcal")
    finite = values[np.isfinite(values)]
    vmax = vmax or (float(np.percentile(np.abs(finite), 98)) if finite.size else 1.0) or 1.0
    cmap = "viridis" if sequential else "cold_hot"
    views = [(side, view) for side, view in VIEWS if (hemi == ("lh" if side == "left" else "rh")).any()]
    fig, axes = plt.subplots(1, len(views), figsize=(3 * len(views), 3.3), subplot_kw={"projection": "3d"},
                             squeeze=False)
    axes = list(axes[0])
    for ax, (side, view) in zip(axes, views):
        h = "lh" if side == "left" else "rh"
        tex = np.full(n[h], np.nan)
        sel = hemi == h
        tex[vertex[sel]] = values[sel] + (1e-3 * vmax if sequential else 0.0)  # keep zeros above the threshold
        plotting.plot_surf_stat_map(fs["inflated"].parts[side], np.nan_to_num(tex), hemi=side, view=view,
                                    bg_map=sulc.data.parts[side], axes=ax, colorbar=False, vmax=vmax,
                                    threshold=1e-4 * vmax, cmap=cmap, symmetric_cbar=not sequential,
                                    vmin=0 if sequential else None, figure=fig)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0 if sequential else -vmax, vmax))
    fig.colorbar(sm, ax=list(axes), fraction=0.02, label=label)
    fig.suptitle(title, fontsize=9)
    fig.brainalign_values = (hemi, vertex, values)
    return fig
