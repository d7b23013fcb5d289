"""Across-subject statistics of the ROI tables (one tidy table out)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainalign.labels import model_type
from brainalign.statistics.inference import across_subjects, fdr_bh, paired_test_named
from brainalign.summaries import best_layers, read_table, score_label, write_table


def _selection(best: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """How each group's layers were chosen: ``cv`` only if every subject's was."""
    sel = best.groupby(by, dropna=False)["selection"].agg(lambda s: "cv" if (s == "cv").all() else "optimistic")
    return sel.rename("layer_selection").reset_index()


def alignment_stats(alignment: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Selected-layer normalised alignment per ROI and model: mean, CI and a test against 0.

    ``layer_selection`` says whether the layer was chosen on the training set
    (``cv``) or on the test set (``optimistic``: biased up; see :func:`best_layers`).
    """
    best = best_layers(alignment)
    if best.empty:
        return pd.DataFrame()
    by = ["roi", "model", "instruction"]
    out = across_subjects(best, by, cfg["test"], cfg["n_bootstrap"], cfg["seed"])
    out = out.merge(_selection(best, by), on=by)
    out.insert(0, "analysis", "alignment_best_layer")
    out["score"] = score_label(alignment)
    return out


def _matches(values: pd.Series, wanted) -> pd.Series:
    if wanted is None:
        return pd.Series(True, index=values.index)
    return values.isin([wanted] if isinstance(wanted, str) else list(wanted))


def select_feature_sets(best: pd.DataFrame, selector: dict, registry: dict) -> pd.DataFrame:
    """Rows of ``best`` whose model, instruction and model type match ``selector``."""
    types = best["model"].map(lambda m: model_type(m, registry))
    keep = _matches(best["model"], selector.get("model")) & _matches(best["instruction"], selector.get("instruction"))
    return best[keep & _matches(types, selector.get("type"))]


def _group_value(rows: pd.DataFrame) -> pd.Series:
    """Per (subject, roi): the mean over the group's feature sets."""
    return rows.groupby(["subject", "roi"])["value"].mean()


def _compare(name: str, a: pd.DataFrame, b: pd.DataFrame, cfg: dict) -> list[dict]:
    va, vb = _group_value(a), _group_value(b)
    joined = pd.concat([va.rename("a"), vb.rename("b")], axis=1).dropna().reset_index()
    rows = []
    for roi, g in joined.groupby("roi"):
        stat, p, used = paired_test_named(g["a"], g["b"], cfg["test"])
        rows.append({"analysis": "comparison", "comparison": name, "roi": roi, "mean_a": g["a"].mean(),
                     "mean_b": g["b"].mean(), "mean": (g["a"] - g["b"]).mean(), "n_subjects": len(g),
                     "statistic": stat, "p": p, "test": used})
    return rows


def comparison_stats(alignment: pd.DataFrame, cfg: dict, registry: dict, dataset: str | None = None) -> pd.DataFrame:
    """The configured paired comparisons (``stats.comparisons``), BH-FDR over ROIs per comparison.

    Each comparison pairs, per subject and ROI, the mean selected-layer score of
    the feature sets matched by ``a`` with that of ``b`` (a model name or a feature
    selector); ``each: true`` makes one
    comparison per feature set of ``a`` (for example each instruction vs a baseline).
    """
    best = best_layers(alignment)
    parts = []
    for item in cfg.get("comparisons", []):
        if best.empty or item.get("dataset", dataset) != dataset:
            continue
        sel = {k: {"model": item[k]} if isinstance(item[k], str) else item[k] for k in ("a", "b")}
        a, b = (select_feature_sets(best, sel[k], registry) for k in ("a", "b"))
        name = item.get("name") or f"{item['a']} vs {item['b']}"
        groups = [(name, a)]
        if item.get("each"):
            groups = [(f"{name}: {m}@{i}", g) for (m, i), g in a.groupby(["model", "instruction"])]
        for name, rows in groups:
            out = pd.DataFrame(_compare(name, rows, b, cfg))
            if not out.empty:
                out["p_fdr"] = fdr_bh(out["p"].to_numpy())
                parts.append(out)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


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
        stat, p, used = paired_test_named(g["value_original"], g["value_residual"], cfg["test"])
        rows.append({"analysis": "residual_drop", "roi": roi, "model": model, "instruction": instr,
                     "layer": layer, "removed": removed, "mean_original": g["value_original"].mean(),
                     "mean_residual": g["value_residual"].mean(),
                     "mean": (g["value_original"] - g["value_residual"]).mean(),
                     "n_subjects": len(g), "statistic": stat, "p": p, "test": used})
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


def stats_job(alignment: str, residual: str, partition: str, output: str, cfg: dict,
              registry: dict | None = None, dataset: str | None = None) -> None:
    """Workflow entry point: write the statistics table of a dataset."""
    a, r, p = read_table(alignment), read_table(residual), read_table(partition)
    parts = [alignment_stats(a, cfg), comparison_stats(a, cfg, registry or {}, dataset),
             residual_stats(a, r, cfg), partition_stats(p, cfg)]
    parts = [t for t in parts if not t.empty]
    table = pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame(columns=["analysis"])
    write_table(table.replace({np.inf: np.nan}), output)
