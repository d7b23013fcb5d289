"""Synthetic brain responses with a documented ground truth (the demo dataset).

Each ROI's voxels are driven by known feature spaces: a given layer of a given
model, as extracted by the workflow itself. For every driver, the layer's
features are z-scored and projected through random voxel weights; the drivers'
contributions are mixed with the configured weights and scaled to unit signal
variance. Movie responses pass through the canonical (SPM) haemodynamic response
and are sampled at the TRs. Independent Gaussian noise is added to every
presentation; the noise level fixes each voxel's true noise ceiling, which is
stored beside the estimate so tests can check the estimator.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.ceiling import ncsnr_from_repeats, nsd_noise_ceiling, split_half_ceiling
from brainalign.stores import brain_dataset, read_store

log = logging.getLogger(__name__)

HRF_DT = 0.1  # s, resolution of the simulated neural time course


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def driver_matrix(features: xr.Dataset, layer: int) -> np.ndarray:
    """Z-scored features of one layer (stimulus x unit); ``layer`` indexes the layer axis."""
    n_layers = features.sizes["layer"]
    if not -n_layers <= layer < n_layers:
        raise ValueError(f"driver layer {layer} out of range for a model with {n_layers} layers")
    return _zscore(features["features"].isel(layer=layer).values.astype(np.float64))


def project(x: np.ndarray, n_voxels: int, rng: np.random.Generator) -> np.ndarray:
    """Random linear readout of ``x`` into ``n_voxels`` unit-variance voxel time courses."""
    w = rng.standard_normal((x.shape[1], n_voxels)) / np.sqrt(x.shape[1])
    return _zscore(x @ w)


def spm_hrf(dt: float = HRF_DT, length: float = 32.0) -> np.ndarray:
    """Canonical double-gamma haemodynamic response sampled every ``dt`` seconds."""
    from nilearn.glm.first_level import spm_hrf as nilearn_spm_hrf

    return nilearn_spm_hrf(dt, oversampling=1, time_length=length)


def to_bold(
    unit_values: np.ndarray,
    onsets: np.ndarray,
    durations: np.ndarray,
    impulse: bool,
    tr_times: np.ndarray,
    run_length: float,
) -> np.ndarray:
    """Neural time course of one run (units x voxels) -> BOLD sampled at ``tr_times``.

    ``impulse`` units (words) are brief events at their onsets; others (frames,
    audio windows) hold their value for their duration.
    """
    n_bins = int(np.ceil(run_length / HRF_DT)) + 1
    neural = np.zeros((n_bins, unit_values.shape[1]))
    for value, onset, duration in zip(unit_values, onsets, durations):
        a = int(onset / HRF_DT)
        b = a + 1 if impulse else max(a + 1, int((onset + duration) / HRF_DT))
        neural[a : min(b, n_bins)] += value
    hrf = spm_hrf()
    bold = np.stack([np.convolve(neural[:, v], hrf)[:n_bins] for v in range(neural.shape[1])], axis=1)
    idx = np.clip(np.round(tr_times / HRF_DT).astype(int), 0, n_bins - 1)
    return bold[idx]


def roi_layout(rois: dict[str, Any], voxels_per_roi: int) -> tuple[list[str], np.ndarray]:
    """ROI names and a boolean (roi x voxel) mask with contiguous voxel blocks."""
    names = list(rois)
    mask = np.zeros((len(names), len(names) * voxels_per_roi), dtype=bool)
    for i in range(len(names)):
        mask[i, i * voxels_per_roi : (i + 1) * voxels_per_roi] = True
    return names, mask


SURFACE_MESH = "fsaverage5"


def surface_patches(n_rois: int, voxels_per_roi: int, mesh: str = SURFACE_MESH) -> tuple[np.ndarray, np.ndarray]:
    """A spatial layout for synthetic voxels: each ROI a compact patch of the left hemisphere.

    Patch centres are spread over the lateral surface (farthest-point sampling on
    the sphere, starting at the occipital pole); each patch is the
    ``voxels_per_roi`` free vertices nearest its centre. Returns (hemi, vertex) per
    voxel, in the ROI-block order of :func:`roi_layout`. Deterministic.
    """
    from nilearn import datasets

    xyz = datasets.load_fsaverage(mesh)["sphere"].parts["left"].coordinates
    if n_rois * voxels_per_roi > len(xyz) // 2:
        raise ValueError(f"{n_rois} ROIs x {voxels_per_roi} voxels do not fit on the left hemisphere of {mesh}")
    lateral = np.flatnonzero(xyz[:, 0] < -20)
    seeds = [lateral[np.argmin(xyz[lateral, 1])]]
    while len(seeds) < n_rois:
        dist = np.min(np.linalg.norm(xyz[lateral, None] - xyz[seeds][None], axis=2), axis=1)
        seeds.append(lateral[np.argmax(dist)])
    free = np.ones(len(xyz), dtype=bool)
    vertex = []
    for seed in seeds:
        order = np.argsort(np.linalg.norm(xyz - xyz[seed], axis=1))
        patch = order[free[order]][:voxels_per_roi]
        free[patch] = False
        vertex.append(np.sort(patch))
    vertex = np.concatenate(vertex)
    return np.full(vertex.size, "lh"), vertex


def simulate_subject(
    stimuli: pd.DataFrame,
    features: dict[str, xr.Dataset],
    params: dict[str, Any],
    subject: str,
    subject_index: int,
) -> xr.Dataset:
    """Simulate one subject's brain store (schema ``brain``) from driver features.

    ``features`` maps model name -> its feature store (instruction ``none``).
    ``params`` is the dataset's ``synthetic`` config block.
    """
    seed = int(params["seed"]) * 1000 + 17 * subject_index + 1
    rng = np.random.default_rng(seed)
    rois: dict[str, Any] = params["rois"]
    n_vox_roi = int(params["voxels_per_roi"])
    roi_names, roi_mask = roi_layout(rois, n_vox_roi)
    design = params["design"]
    if design == "images":
        return _simulate_images(stimuli, features, params, rois, roi_names, roi_mask, rng, subject)
    if design == "movie":
        return _simulate_movie(stimuli, features, params, rois, roi_names, roi_mask, rng, subject)
    raise ValueError(f"unknown synthetic design {design!r}; allowed: images, movie")


def _noise_sd(rois: dict[str, Any], roi_names: list[str], n_vox_roi: int, rng: np.random.Generator) -> np.ndarray:
    """Per-voxel single-presentation noise sd: the ROI's level times a spread in [0.8, 1.25]."""
    levels = np.repeat([float(rois[n]["noise_sd"]) for n in roi_names], n_vox_roi)
    return levels * np.exp(rng.uniform(np.log(0.8), np.log(1.25), size=levels.size))


def _mix(components: list[tuple[float, np.ndarray]], n: int, n_vox: int) -> np.ndarray:
    """Weighted sum of unit-variance components, rescaled to unit variance (zeros if none)."""
    if not components:
        return np.zeros((n, n_vox))
    total = sum(np.sqrt(w) * c for w, c in components)
    return _zscore(total)


def _roi_signal(rois, roi_names, roi_mask, n_rows: int, n_vox_roi: int, driver_signal) -> np.ndarray:
    """Signal (row x voxel): each ROI's drivers, ``driver_signal(driver)`` each, mixed by weight."""
    signal = np.zeros((n_rows, roi_mask.shape[1]))
    for i, name in enumerate(roi_names):
        comps = [(float(drv.get("weight", 1.0)), driver_signal(drv)) for drv in rois[name].get("drivers", [])]
        signal[:, roi_mask[i]] = _mix(comps, n_rows, n_vox_roi)
    return signal


def _with_signal(true_ceiling: np.ndarray, rois, roi_names, n_vox_roi: int) -> np.ndarray:
    """The true ceiling, 0 in ROIs without drivers."""
    has_signal = np.repeat([bool(rois[n].get("drivers")) for n in roi_names], n_vox_roi)
    return np.where(has_signal, true_ceiling, 0.0)


def _simulate_images(stimuli, features, params, rois, roi_names, roi_mask, rng, subject) -> xr.Dataset:
    images = stimuli[stimuli["modality"] == "image"].reset_index(drop=True)
    ids = images["stimulus_id"].to_numpy()
    n_vox_roi = int(params["voxels_per_roi"])
    n_img = len(ids)

    def driver_signal(drv):
        fs = features[drv["model"]]
        return project(driver_matrix(fs.sel(stimulus=_positions(fs, ids)), drv["layer"]), n_vox_roi, rng)

    signal = _roi_signal(rois, roi_names, roi_mask, n_img, n_vox_roi, driver_signal)
    noise_sd = _noise_sd(rois, roi_names, n_vox_roi, rng)
    repeats = int(params["repeats"])
    trials = np.concatenate([signal + rng.standard_normal(signal.shape) * noise_sd for _ in range(repeats)])
    trial_ids = np.tile(ids, repeats)
    ncsnr = ncsnr_from_repeats(trials, trial_ids)
    test = images["split"].to_numpy() == "test"
    ceiling = nsd_noise_ceiling(ncsnr, np.full(int(test.sum()), repeats))
    true_ceiling = _with_signal(np.sqrt(1.0 / (1.0 + noise_sd**2 / repeats)), rois, roi_names, n_vox_roi)
    responses = trials.reshape(repeats, n_img, -1).mean(axis=0)
    return _brain_dataset(
        responses, ids, images["run"].to_numpy(), images["split"].to_numpy(), None, ceiling, true_ceiling,
        roi_names, roi_mask, attrs=dict(tr=0.0, ceiling_method="ncsnr", subject=subject, repeats=repeats),
        params=params,
    )


def _positions(fs: xr.Dataset, ids: np.ndarray) -> np.ndarray:
    index = pd.Index(fs["stimulus_id"].values.astype(str))
    pos = index.get_indexer(ids.astype(str))
    if np.any(pos < 0):
        missing = ids[pos < 0][:5]
        raise ValueError(f"feature store {fs.attrs.get('model')} lacks stimuli {list(missing)}")
    return pos


def _movie_bold(fs: xr.Dataset, unit_signal: np.ndarray, runs: list[str], tr_times: np.ndarray,
                run_length: float) -> np.ndarray:
    """A driver's unit-level signal turned into z-scored BOLD over the runs' TRs."""
    f_runs = fs["run"].values.astype(str)
    impulse = bool(np.all(fs["modality"].values.astype(str) == "word"))
    bold = np.concatenate([
        to_bold(unit_signal[f_runs == run], fs["onset"].values[f_runs == run].astype(float),
                fs["duration"].values[f_runs == run].astype(float), impulse, tr_times, run_length)
        for run in runs
    ])
    return _zscore(bold)


def _simulate_movie(stimuli, features, params, rois, roi_names, roi_mask, rng, subject) -> xr.Dataset:
    tr = float(params["tr"])
    trs_per_run = int(params["trs_per_run"])
    runs = sorted(stimuli["run"].unique())
    split_of_run = stimuli.groupby("run")["split"].first().to_dict()
    n_vox_roi = int(params["voxels_per_roi"])
    tr_times = np.arange(trs_per_run) * tr

    def driver_signal(drv):
        fs = features[drv["model"]]
        unit_signal = project(driver_matrix(fs, drv["layer"]), n_vox_roi, rng)
        return _movie_bold(fs, unit_signal, runs, tr_times, trs_per_run * tr)

    signal = _roi_signal(rois, roi_names, roi_mask, trs_per_run * len(runs), n_vox_roi, driver_signal)
    noise_sd = _noise_sd(rois, roi_names, n_vox_roi, rng)
    run_of_tr = np.repeat(runs, trs_per_run)
    split = np.array([split_of_run[r] for r in run_of_tr])
    n_rep = int(params["test_repeats"])
    reps = [signal + rng.standard_normal(signal.shape) * noise_sd for _ in range(n_rep)]
    responses = np.where((split == "test")[:, None], np.mean(reps, axis=0), reps[0])
    test = split == "test"
    if n_rep < 2:
        raise ValueError("synthetic movie needs test_repeats >= 2 to estimate a noise ceiling")
    ceiling = split_half_ceiling(
        np.mean(reps[: n_rep // 2], axis=0)[test], np.mean(reps[n_rep // 2 :], axis=0)[test]
    )
    if n_rep != 2:
        raise ValueError("synthetic movie supports test_repeats = 2 (split-half ceiling)")
    # The ceiling of this test set: the signal's variance over the test TRs (the
    # signal is unit-variance over all runs, not per run) against the noise of the
    # repeat average; the expected r of a perfect model with the measured test data.
    test_var = signal[test].var(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        true_ceiling = np.sqrt(test_var / (test_var + noise_sd**2 / n_rep))
    true_ceiling = _with_signal(true_ceiling, rois, roi_names, n_vox_roi)
    ids = np.array([f"{r}_tr{i:04d}" for r in runs for i in range(trs_per_run)])
    return _brain_dataset(
        responses, ids, run_of_tr, split, np.tile(tr_times, len(runs)), ceiling, true_ceiling, roi_names,
        roi_mask, attrs=dict(tr=tr, ceiling_method="split_half_spearman_brown", subject=subject, repeats=n_rep),
        params=params,
    )


def _brain_dataset(
    responses, ids, runs, split, time, ceiling, true_ceiling, roi_names, roi_mask, attrs, params
) -> xr.Dataset:
    hemi, vertex = surface_patches(len(roi_names), int(params["voxels_per_roi"]))
    return brain_dataset(
        responses, ids, runs, split, ceiling, roi_names, roi_mask, time=time,
        voxel_coords={"hemi": hemi, "vertex": vertex}, voxel_vars={"true_noise_ceiling": true_ceiling},
        space="synthetic", source="synthetic", mesh=SURFACE_MESH, ground_truth=params, **attrs,
    )


def ground_truth(params: dict[str, Any]) -> dict[str, Any]:
    """What the workflow should recover from a synthetic dataset.

    For every ROI with drivers: the expected best (model, layer), i.e. its
    strongest driver; and the population noise ceiling implied by its noise
    level (voxel-level values vary around it by the noise spread).
    """
    design = params["design"]
    n = int(params["repeats"] if design == "images" else params["test_repeats"])
    out: dict[str, Any] = {"design": design, "rois": {}}
    for name, roi in params["rois"].items():
        drivers = roi.get("drivers", [])
        entry: dict[str, Any] = {
            "drivers": drivers,
            "noise_sd": roi["noise_sd"],
            "ceiling": float(np.sqrt(1.0 / (1.0 + roi["noise_sd"] ** 2 / n))) if drivers else 0.0,
        }
        if drivers:
            best = max(drivers, key=lambda d: float(d.get("weight", 1.0)))
            entry["best"] = {"model": best["model"], "layer": int(best["layer"])}
        out["rois"][name] = entry
    return out


def write_ground_truth(params: dict[str, Any], path: str | Path) -> None:
    """Write :func:`ground_truth` as JSON."""
    Path(path).write_text(json.dumps(ground_truth(params), indent=2) + "\n")


def load_feature_stores(paths: dict[str, str]) -> dict[str, xr.Dataset]:
    """Read the driver models' feature stores."""
    return {model: read_store(p, "features") for model, p in paths.items()}
