"""Tidy ROI tables: one row per (subject, roi, model, instruction, layer, metric).

ROI scores are means over the ROI's voxels; normalised alignment uses only
voxels whose noise ceiling passes ``ceiling_min`` (NaN elsewhere). Values of
normalised alignment outside [0, 1] are never clipped: their count is reported
as the metric ``n_outside_0_1``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.statistics.inference import fraction_significant
from brainalign.stores import StoreError, json_attr, read_store, write_tsv

log = logging.getLogger(__name__)

COLUMNS = ["dataset", "subject", "roi", "model", "instruction", "layer", "metric", "value"]


def roi_rows(ds: xr.Dataset, roi_mask: xr.DataArray, base: dict, ceiling: np.ndarray | None = None) -> list[dict]:
    """ROI summaries of an encoding store (layer x voxel); ``ceiling``: the brain's noise ceiling per voxel."""
    rows = []
    mask = roi_mask.values
    rois = roi_mask["roi"].values.astype(str)
    if "p_perm" in ds:
        sig_fraction = np.stack([fraction_significant(p, mask) for p in ds["p_perm"].values])
    grid = np.asarray(json_attr(ds, "alphas", []), dtype=np.float32)
    edges = grid[[0, -1]] if grid.size > 1 else None
    for li, layer in enumerate(ds["layer"].values):
        r = ds["r"].values[li]
        r2 = ds["r2"].values[li]
        nba = ds["normalized"].values[li]
        for ri, roi in enumerate(rois):
            m = mask[ri]
            valid = m & ~np.isnan(nba)
            values = {
                "r": np.nanmean(r[m]) if m.any() else np.nan,
                "r2": np.nanmean(r2[m]) if m.any() else np.nan,
                "normalized": np.nanmean(nba[valid]) if valid.any() else np.nan,
                "n_voxels": float(valid.sum()),
                "n_outside_0_1": float(((nba[valid] < 0) | (nba[valid] > 1)).sum()),
            }
            if "roi_p_perm" in ds:
                values["p_perm"] = float(ds["roi_p_perm"].values[li, ri])
            if ceiling is not None:
                values["noise_ceiling"] = float(np.nanmean(ceiling[m])) if m.any() else np.nan
            if "p_perm" in ds:
                values["frac_sig_voxels"] = float(sig_fraction[li, ri])
            if "cv_score" in ds:  # training-set CV r: selects layers without looking at the test set
                values["cv_r"] = np.nanmean(ds["cv_score"].values[li][m]) if m.any() else np.nan
            if m.any() and edges is not None:
                values["alpha_at_edge"] = float(np.isin(ds["alpha"].values[li][m], edges).mean())
            for metric, value in values.items():
                rows.append({**base, "roi": roi, "layer": int(layer), "metric": metric, "value": float(value)})
    return rows


def store_identity(ds: xr.Dataset, path: str | Path, *keys: str) -> list[str]:
    """The attributes ``keys`` that say whose a store is (subject, model, ...); never read from its path."""
    missing = [k for k in keys if k not in ds.attrs]
    if missing:
        raise StoreError(f"store {path} lacks the attributes {missing} naming what it holds; remake it")
    return [str(ds.attrs[k]) for k in keys]


def feature_ref(ds: xr.Dataset, path: str | Path, role: str) -> str:
    """``model@instruction@Llayer`` of the feature space a store records under ``role`` (``a``, ``removed``)."""
    model, instruction, layer = store_identity(ds, path, f"{role}_model", f"{role}_instruction", f"{role}_layer")
    return f"{model}@{instruction}@L{layer}"


def _encoding_store(dataset: str, brains: dict[str, xr.Dataset], path: str) -> tuple[xr.Dataset, dict, xr.Dataset]:
    """An encoding (or residual) store, its identity columns and its subject's brain store."""
    ds = read_store(path, "encoding")
    subject, model, instruction = store_identity(ds, path, "subject", "model", "instruction")
    if subject not in brains:
        raise StoreError(f"store {path} is of subject {subject!r}, whose brain store is not among the inputs "
                         f"(subjects: {', '.join(brains) or 'none'})")
    return ds, {"dataset": dataset, "subject": subject, "model": model, "instruction": instruction}, brains[subject]


def alignment_table(dataset: str, brains: dict[str, xr.Dataset], paths: list[str]) -> pd.DataFrame:
    """ROI table of every encoding store; ``brains``: subject -> brain store (ROI masks, ceilings)."""
    rows = []
    for path in paths:
        ds, base, brain = _encoding_store(dataset, brains, path)
        base["ceiling"] = brain.attrs.get("ceiling_method", "")
        ceiling = brain["noise_ceiling"].values if "noise_ceiling" in brain else None
        rows += roi_rows(ds, brain["roi_mask"], base, ceiling)
    return pd.DataFrame(rows, columns=COLUMNS + ["ceiling"])


def has_ceiling(alignment: pd.DataFrame) -> bool:
    """False where every subject's noise ceiling is the placeholder 1 (``ceiling`` column ``none``)."""
    if "ceiling" not in alignment or alignment.empty:
        return True
    return not (alignment["ceiling"].astype(str) == "none").all()


def score_label(alignment: pd.DataFrame, metric: str = "normalized") -> str:
    """How to name the score in tables, figures and the report: normalised alignment, or raw r without a ceiling."""
    if metric == "r" or not has_ceiling(alignment):
        return "raw r (no noise ceiling)" if metric != "r" else "raw r"
    return "normalised alignment (r / noise ceiling)"


def residual_table(dataset: str, brains: dict[str, xr.Dataset], paths: list[str]) -> pd.DataFrame:
    """ROI table of the residual stores, labelled with what was removed."""
    rows = []
    for path in paths:
        ds, base, brain = _encoding_store(dataset, brains, path)
        rows += roi_rows(ds, brain["roi_mask"], {**base, "removed": feature_ref(ds, path, "removed")})
    return pd.DataFrame(rows, columns=COLUMNS + ["removed"])


PARTS = ["shared", "unique_a", "unique_b", "joint", "score_a", "score_b", "score_ab"]


def partition_table(dataset: str, paths: list[str]) -> pd.DataFrame:
    """ROI means of shared / unique / joint scores of every partition store."""
    rows = []
    for path in paths:
        ds = read_store(path, "partition")
        (subject,) = store_identity(ds, path, "subject")
        base = {"dataset": dataset, "subject": subject, "a": feature_ref(ds, path, "a"),
                "b": feature_ref(ds, path, "b"), "score": ds.attrs["metric"]}
        mask = ds["roi_mask"].values
        for ri, roi in enumerate(ds["roi"].values.astype(str)):
            for part in PARTS:
                v = ds[part].values[mask[ri]]
                value = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
                rows.append({**base, "roi": roi, "metric": part, "value": value})
    return pd.DataFrame(rows, columns=["dataset", "subject", "roi", "a", "b", "metric", "value", "score"])


#: Write a table atomically (a TSV; names stay text when read back with :func:`read_table`).
write_table = write_tsv


# Columns holding names a user gives (ROI, subject, model, run, ...) or labels: read as
# text, so names such as "NA", "NULL", "None" or "nan" stay names.
TEXT_COLUMNS = ("dataset", "subject", "roi", "model", "instruction", "metric", "a", "b", "removed",
                "score", "analysis", "run", "label")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`: names as text, only empty numbers missing."""
    header = pd.read_csv(path, sep="\t", nrows=0).columns
    text = [c for c in header if c in TEXT_COLUMNS]
    return pd.read_csv(path, sep="\t", keep_default_na=False, dtype={c: str for c in text},
                       na_values={c: [""] for c in header if c not in text})


def summarize_dataset(
    dataset: str, brain_paths: list[str], encoding_paths: list[str], residual_paths: list[str],
    partition_paths: list[str], out_alignment: str, out_residual: str, out_partition: str,
) -> None:
    """Workflow entry point: write the three ROI tables of a dataset."""
    brains = {}
    for path in brain_paths:
        brain = read_store(path, "brain", load=False)
        (subject,) = store_identity(brain, path, "subject")
        brains[subject] = brain[[n for n in ("roi_mask", "noise_ceiling") if n in brain]].load()
    write_table(alignment_table(dataset, brains, encoding_paths), out_alignment)
    write_table(residual_table(dataset, brains, residual_paths), out_residual)
    write_table(partition_table(dataset, partition_paths), out_partition)
    log.info("summarised %d encoding, %d residual, %d partition stores", len(encoding_paths),
             len(residual_paths), len(partition_paths))


SELECTION_CV = "cv"
SELECTION_OPTIMISTIC = "optimistic"
KEYS = ["subject", "roi", "model", "instruction"]


def best_layers(alignment: pd.DataFrame, metric: str = "normalized", extra_keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per (subject, roi, model, instruction): the selected layer and its test-set score.

    The layer is the one with the highest training-set cross-validation score
    (metric ``cv_r``, the ROI mean of each voxel's validation r) where the
    table has it: the test set is not looked at, so the score is unbiased. Without
    it, the layer with the highest test score is taken and the row's ``selection``
    says ``optimistic`` (the maximum over layers of noisy test scores is biased up).
    """
    keys = KEYS + list(extra_keys)
    df = alignment[alignment["metric"] == metric].dropna(subset=["value"])
    if df.empty:
        return df.assign(best_layer=pd.Series(dtype=int), selection=pd.Series(dtype=str))
    cv = alignment[alignment["metric"] == "cv_r"].dropna(subset=["value"])
    idx = df.groupby(keys)["value"].idxmax()
    best = df.loc[idx].assign(selection=SELECTION_OPTIMISTIC)
    if not cv.empty:
        chosen = cv.loc[cv.groupby(keys)["value"].idxmax(), keys + ["layer"]]
        by_cv = df.merge(chosen, on=keys + ["layer"]).assign(selection=SELECTION_CV)
        rest = best.merge(by_cv[keys], on=keys, how="left", indicator=True)
        rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")
        best = pd.concat([by_cv, rest], ignore_index=True)
    best = best.rename(columns={"layer": "best_layer"})
    return best.sort_values(keys).reset_index(drop=True)
