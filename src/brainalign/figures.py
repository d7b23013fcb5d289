"""The papers' figure types, one function each, drawn from the tidy tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from brainalign.summaries import best_layers, read_table  # noqa: E402


def _label(model: str, instruction: str) -> str:
    return model if instruction == "none" else f"{model} [{instruction}]"


def layerwise(alignment: pd.DataFrame) -> plt.Figure:
    """Normalised alignment against relative layer depth, one panel per ROI."""
    df = alignment[alignment["metric"] == "normalized"]
    rois = sorted(df["roi"].unique())
    ncol = min(4, max(1, len(rois)))
    nrow = int(np.ceil(len(rois) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False, sharey=True)
    for ax, roi in zip(axes.flat, rois):
        sub = df[df["roi"] == roi]
        for (model, instr), g in sub.groupby(["model", "instruction"]):
            curve = g.groupby("layer")["value"].agg(["mean", "sem"]).reset_index()
            depth = curve["layer"] / max(curve["layer"].max(), 1)
            ax.plot(depth, curve["mean"], marker="o", ms=3, label=_label(model, instr))
            ax.fill_between(depth, curve["mean"] - curve["sem"].fillna(0), curve["mean"] + curve["sem"].fillna(0),
                            alpha=0.15)
        ax.set_title(roi)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("relative layer depth")
    for ax in axes[:, 0]:
        ax.set_ylabel("normalised alignment")
    for ax in list(axes.flat)[len(rois):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def model_roi(alignment: pd.DataFrame) -> plt.Figure:
    """Best-layer normalised alignment per ROI and model (mean over subjects, subjects as dots)."""
    best = best_layers(alignment)
    best["label"] = [_label(m, i) for m, i in zip(best["model"], best["instruction"])]
    rois = sorted(best["roi"].unique())
    labels = sorted(best["label"].unique())
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rois) * max(1, len(labels)) * 0.5), 3.5))
    for j, label in enumerate(labels):
        sub = best[best["label"] == label]
        means = [sub[sub["roi"] == roi]["value"].mean() for roi in rois]
        x = np.arange(len(rois)) + (j - (len(labels) - 1) / 2) * width
        ax.bar(x, means, width, label=label)
        for xi, roi in zip(x, rois):
            pts = sub[sub["roi"] == roi]["value"]
            ax.scatter(np.full(len(pts), xi), pts, s=6, color="black", zorder=3)
    ax.set_xticks(np.arange(len(rois)), rois)
    ax.set_ylabel("normalised alignment (best layer)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return fig


def instruction_roi(alignment: pd.DataFrame) -> plt.Figure:
    """Heatmap of best-layer normalised alignment, instruction x ROI, one panel per instruction model."""
    best = best_layers(alignment)
    best = best[best["instruction"] != "none"]
    models = sorted(best["model"].unique())
    fig, axes = plt.subplots(1, max(1, len(models)), figsize=(4.5 * max(1, len(models)), 3.2), squeeze=False)
    for ax, model in zip(axes.flat, models):
        grid = best[best["model"] == model].pivot_table(index="instruction", columns="roi", values="value",
                                                         aggfunc="mean")
        im = ax.imshow(grid.values, cmap="viridis", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right")
        ax.set_yticks(range(grid.shape[0]), grid.index)
        for (i, j), v in np.ndenumerate(grid.values):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white")
        ax.set_title(model)
        fig.colorbar(im, ax=ax, label="normalised alignment")
    fig.tight_layout()
    return fig


def partition_bars(partition: pd.DataFrame) -> plt.Figure:
    """Stacked shared / unique bars per ROI, one panel per feature-space pair."""
    pairs = partition[["a", "b"]].drop_duplicates().to_records(index=False)
    fig, axes = plt.subplots(len(pairs), 1, figsize=(6, 2.8 * len(pairs)), squeeze=False)
    colours = {"unique_a": "tab:blue", "shared": "tab:purple", "unique_b": "tab:red"}
    for ax, (a, b) in zip(axes[:, 0], pairs):
        sub = partition[(partition["a"] == a) & (partition["b"] == b)]
        means = sub.groupby(["roi", "metric"])["value"].mean().unstack()
        rois = list(means.index)
        x = np.arange(len(rois))
        w = 0.27
        for k, part in enumerate(["unique_a", "shared", "unique_b"]):
            label = {"unique_a": f"unique {a}", "unique_b": f"unique {b}", "shared": "shared"}[part]
            ax.bar(x + (k - 1) * w, means[part], w, color=colours[part], label=label)
        ax.set_xticks(x, rois)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel(sub["score"].iloc[0] if len(sub) else "")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def residual_bars(alignment: pd.DataFrame, residual: pd.DataFrame) -> plt.Figure:
    """Best-layer normalised alignment before and after removing a feature space, per ROI."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    res = best_layers(residual.drop(columns=["removed"]))
    keys = ["subject", "roi", "model", "instruction"]
    orig = best_layers(alignment).merge(res[keys].drop_duplicates(), on=keys)
    rois = sorted(res["roi"].unique())
    x = np.arange(len(rois))
    removed = residual["removed"].iloc[0]
    for k, (label, df) in enumerate([("original", orig), (f"minus {removed}", res)]):
        means = [df[df["roi"] == roi]["value"].mean() for roi in rois]
        ax.bar(x + (k - 0.5) * 0.38, means, 0.38, label=label)
    ax.set_xticks(x, rois)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("normalised alignment (best layer)")
    ax.set_title(f"{res['model'].iloc[0]}: residual analysis")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def draw_figure(name: str, alignment: str, residual: str, partition: str, output: str, dpi: int = 150) -> None:
    """Workflow entry point: draw figure ``name`` from a dataset's tables."""
    a, r, p = read_table(alignment), read_table(residual), read_table(partition)
    makers = {
        "layerwise": lambda: layerwise(a),
        "model_roi": lambda: model_roi(a),
        "instruction_roi": lambda: instruction_roi(a),
        "partition": lambda: partition_bars(p),
        "residual": lambda: residual_bars(a, r),
    }
    if name not in makers:
        raise ValueError(f"unknown figure {name!r}; allowed: {', '.join(makers)}")
    fig = makers[name]()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
