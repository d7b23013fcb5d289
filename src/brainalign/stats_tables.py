"""Across-subject statistics of the ROI tables (one tidy table out)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainalign.stats import across_subjects, fdr_bh, paired_test
from brainalign.summaries import best_layers, read_table, write_table


def alignment_stats(alignment: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Best-layer normalised alignment per ROI and model: mean, CI and a test against 0."""
    best = best_layers(alignment)
    if best.empty:
        return pd.DataFrame()
    out = across_subjects(best, ["roi", "model", "instruction"], cfg["test"], cfg["n_bootstrap"], cfg["seed"])
    out.insert(0, "analysis", "alignment_best_layer")
    return out


def residual_stats(alignment: pd.DataFrame, residual: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Original vs residual normalised alignment per ROI and layer, paired across subjects."""
    if residual.empty:
        return pd.DataFrame()
    keys = ["subject", "roi", "model", "instruction", "layer"]
    res = residual[residual["metric"] == "normalized"]
    orig = alignment[alignment["metric"] == "normalized"][keys + ["value"]]
    merged = res.merge(orig, on=keys, suffixes=("_residual", "_original"))
    rows = []
    for (roi, model, instr, layer, removed), g in merged.groupby(["roi", "model", "instruction", "layer", "removed"]):
        stat, p = paired_test(g["value_original"], g["value_residual"], cfg["test"])
        rows.append({"analysis": "residual_drop", "roi": roi, "model": model, "instruction": instr,
                     "layer": layer, "removed": removed, "mean_original": g["value_original"].mean(),
                     "mean_residual": g["value_residual"].mean(),
                     "mean": (g["value_original"] - g["value_residual"]).mean(),
                     "n_subjects": len(g), "statistic": stat, "p": p})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_fdr"] = fdr_bh(out["p"].to_numpy())
    return out


def partition_stats(partition: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Shared / unique parts per ROI and pair: mean, CI and a test against 0."""
    if partition.empty:
        return pd.DataFrame()
    out = across_subjects(partition, ["roi", "a", "b", "metric"], cfg["test"], cfg["n_bootstrap"], cfg["seed"])
    out.insert(0, "analysis", "partition")
    return out


def stats_job(alignment: str, residual: str, partition: str, output: str, cfg: dict) -> None:
    """Workflow entry point: write the statistics table of a dataset."""
    a, r, p = read_table(alignment), read_table(residual), read_table(partition)
    parts = [alignment_stats(a, cfg), residual_stats(a, r, cfg), partition_stats(p, cfg)]
    parts = [t for t in parts if not t.empty]
    table = pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame(columns=["analysis"])
    write_table(table.replace({np.inf: np.nan}), output)
