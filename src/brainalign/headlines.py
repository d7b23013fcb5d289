"""Paper vs ours: the numbers a study's paper reports next to this run's values.

Each study config lists its paper's numbers under ``headlines`` (SPEC.md quotes
them); each item says how to compute the same number from this run's tables.
Synthetic datasets are compared with their ground truth instead (which model
and layer drive each ROI; ROIs without drivers must show no alignment).

Computations (``compute.kind``), all on selected-layer scores (``compute.metric``:
``normalized``, the default, or raw ``r``), mean over subjects:

- ``max``: the largest ROI mean of ``a`` over ``rois``;
- ``mean``: mean score of the feature sets of ``a`` over ``rois`` (or all ROIs);
- ``gain_percent``: 100 * (mean(a) - mean(b)) / mean(b) over ``rois``;
- ``difference``: mean(a) - mean(b) over ``rois``, with the paired test's p;
- ``shared_percent``: 100 * shared / joint of the partition pairs matching ``a`` and ``b``;
- ``max_ceiling``: the largest ROI-mean noise ceiling over ``rois``;
- ``best_instruction``: the instruction of ``a`` with the highest mean over ``rois``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from brainalign.statistics.inference import paired_test_named
from brainalign.statistics.tables import select_feature_sets
from brainalign.summaries import best_layers, read_table, write_table

COLUMNS = ["dataset", "claim", "rois", "paper", "ours", "source", "detail"]


def _rois(df: pd.DataFrame, rois: list[str] | None) -> pd.DataFrame:
    return df if not rois else df[df["roi"].isin(rois)]


def _per_subject(best: pd.DataFrame, selector: dict, rois: list[str] | None, registry: dict) -> pd.Series:
    rows = _rois(select_feature_sets(best, selector, registry), rois)
    return rows.groupby("subject")["value"].mean()


def compute(item: dict, alignment: pd.DataFrame, partition: pd.DataFrame, registry: dict) -> tuple[object, str]:
    """This run's value of one headline and a short note on how it was computed."""
    c = item["compute"]
    rois = c.get("rois")
    best = best_layers(alignment, c.get("metric", "normalized"))
    kind = c["kind"]
    if kind == "max":
        rows = _rois(select_feature_sets(best, c["a"], registry), rois)
        means = rows.groupby("roi")["value"].mean()
        return (float(means.max()), f"ROI {means.idxmax()}") if not means.empty else (np.nan, "no rows")
    if kind in ("mean", "gain_percent", "difference"):
        a = _per_subject(best, c["a"], rois, registry)
        if kind == "mean":
            return float(a.mean()), f"n = {a.size} subjects"
        b = _per_subject(best, c["b"], rois, registry)
        if kind == "gain_percent":
            return float(100 * (a.mean() - b.mean()) / b.mean()), f"a = {a.mean():.3f}, b = {b.mean():.3f}"
        joined = pd.concat([a, b], axis=1).dropna()
        _, p, test = paired_test_named(joined.iloc[:, 0], joined.iloc[:, 1])
        return float((joined.iloc[:, 0] - joined.iloc[:, 1]).mean()), f"{test} p = {p:.3g}, n = {len(joined)}"
    if kind == "shared_percent":
        part = _rois(partition, rois)
        pick = part[part["a"].str.startswith(f"{c['a']['model']}@{c['a'].get('instruction', 'none')}@")
                    & part["b"].str.startswith(f"{c['b']['model']}@{c['b'].get('instruction', 'none')}@")]
        wide = pick.pivot_table(index="subject", columns="metric", values="value", aggfunc="mean")
        if wide.empty:
            return np.nan, "no matching partition in this run"
        return float(100 * (wide["shared"] / wide["joint"]).mean()), f"n = {len(wide)} subjects"
    if kind == "max_ceiling":
        ceil = _rois(alignment[alignment["metric"] == "noise_ceiling"], rois)
        means = ceil.groupby("roi")["value"].mean()
        return (float(means.max()), f"ROI {means.idxmax()}") if not means.empty else (np.nan, "no ceiling in tables")
    if kind == "best_instruction":
        rows = _rois(select_feature_sets(best, c["a"], registry), rois)
        means = rows.groupby("instruction")["value"].mean()
        return (str(means.idxmax()), f"{means.max():.3f}") if not means.empty else ("", "no rows")
    raise ValueError(f"headline {item['claim']!r}: unknown compute.kind {kind!r}")


def study_headlines(dataset: str, items: list[dict], alignment: pd.DataFrame, partition: pd.DataFrame,
                    registry: dict) -> list[dict]:
    """One row per configured headline."""
    rows = []
    for item in items:
        ours, detail = compute(item, alignment, partition, registry)
        rois = item["compute"].get("rois")
        rows.append({"dataset": dataset, "claim": item["claim"], "rois": ", ".join(rois) if rois else "all ROIs",
                     "paper": item["paper"], "ours": ours, "source": item["source"], "detail": detail})
    return rows


def ground_truth_headlines(dataset: str, truth: dict, alignment: pd.DataFrame, stats: pd.DataFrame) -> list[dict]:
    """Synthetic data: the driver of each ROI vs this run's best feature set and layer; no-driver ROIs vs their test."""
    best = best_layers(alignment)
    rows = []
    for roi, entry in truth["rois"].items():
        sub = best[best["roi"] == roi]
        if sub.empty:
            continue
        means = sub.groupby(["model", "instruction"])["value"].mean()
        model, instr = means.idxmax()
        base = {"dataset": dataset, "rois": roi, "source": "ground_truth.json"}
        if entry.get("best"):
            want = entry["best"]
            layers = sub[sub["model"] == want["model"]]["best_layer"]
            n_layers = alignment[alignment["model"] == want["model"]]["layer"].max() + 1
            rows.append({**base, "claim": "best model", "paper": want["model"], "ours": model,
                         "detail": f"{means.max():.3f}"})
            rows.append({**base, "claim": f"best layer of {want['model']}", "paper": int(want["layer"]) % n_layers,
                         "ours": int(layers.mode().iloc[0]) if not layers.empty else "",
                         "detail": f"selection: {sub['selection'].iloc[0]}"})
        else:
            tests = stats[(stats.get("analysis") == "alignment_best_layer") & (stats["roi"] == roi)] \
                if "analysis" in stats else pd.DataFrame()
            n_sig = int(((tests["p_fdr"] < 0.05) & (tests["mean"] > 0)).sum()) if not tests.empty else 0
            rows.append({**base, "claim": "feature sets with significantly positive alignment (no driver)", "paper": 0,
                         "ours": n_sig, "detail": f"of {len(tests)}"})
    return rows


def headlines_job(dataset: str, alignment: str, partition: str, stats: str, output: str, items: list[dict],
                  registry: dict, truth: str | None = None) -> None:
    """Workflow entry point: write ``headlines.tsv`` of a dataset."""
    a, p, s = read_table(alignment), read_table(partition), read_table(stats)
    rows = study_headlines(dataset, items, a, p, registry)
    if truth:
        with open(truth) as fh:
            rows += ground_truth_headlines(dataset, json.load(fh), a, s)
    write_table(pd.DataFrame(rows, columns=COLUMNS), output)
