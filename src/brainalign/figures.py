"""The papers' figure types, one function each, drawn from the tidy tables.

Every figure takes a :class:`Context` (the dataset's tables, the statistics table,
the model registry) and a figure spec from the config (``figures.set``). Colours
come from :func:`brainalign.labels.feature_set_table`, so a feature set has the
same colour in every figure of a dataset; widths are bounded at any number of
feature sets and ROIs (panels wrap; bars aggregate by model type above
``max_bars``). Each figure stores the numbers it draws in ``fig.brainalign`` (a
DataFrame) so tests can check them against the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats as sps  # noqa: E402

from brainalign.figure_sets import FIGURE_TYPES  # noqa: E402
from brainalign.labels import display_name, feature_set_table, model_type  # noqa: E402
from brainalign.statistics.inference import fdr_bh, one_sample_test, resolve_test  # noqa: E402
from brainalign.summaries import best_layers, score_label  # noqa: E402

MAX_WIDTH_IN = 18.0  # inches; at the default 150 dpi 2,700 px
PANEL_COLS = 6
MAX_CURVES = 12  # layerwise panels with more feature sets show model types

#: figure type (:data:`brainalign.figure_sets.FIGURE_TYPES`) -> the function drawing it from the tables
TABLE_FIGURES: dict[str, Callable[["Context", dict], plt.Figure]] = {}


def table_figure(draw_type: Callable) -> Callable:
    """Register a figure function under its name, which must be a figure type."""
    if draw_type.__name__ not in FIGURE_TYPES:
        raise ValueError(f"{draw_type.__name__} is not a figure type; known: {', '.join(FIGURE_TYPES)}")
    TABLE_FIGURES[draw_type.__name__] = draw_type
    return draw_type


@dataclass
class Context:
    """What every figure of a dataset draws from."""

    dataset: str
    alignment: pd.DataFrame
    residual: pd.DataFrame = field(default_factory=pd.DataFrame)
    partition: pd.DataFrame = field(default_factory=pd.DataFrame)
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)
    registry: dict = field(default_factory=dict)
    test: str = "auto"
    alpha: float = 0.05
    max_bars: int = 60
    all_sets: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sets = feature_set_table(self.alignment, self.registry, self.all_sets)
        self.colors = dict(zip(self.sets["label"], self.sets["color"]))

    @property
    def n_subjects(self) -> int:
        return int(self.alignment["subject"].nunique()) if not self.alignment.empty else 0

    def label(self, model: str, instruction: str) -> str:
        return display_name(model, instruction, self.registry)

    def score(self, metric: str = "normalized") -> str:
        return score_label(self.alignment, metric)

    def title(self, spec: dict, what: str) -> str:
        return spec.get("title") or f"{what} - {self.dataset}, n = {self.n_subjects} subjects"


def _select(df: pd.DataFrame, spec: dict, ctx: Context) -> pd.DataFrame:
    sel = spec.get("select") or {}

    def ok(col: pd.Series, want) -> pd.Series:
        return pd.Series(True, index=col.index) if want is None else col.isin([want] if isinstance(want, str) else want)

    types = df["model"].map(lambda m: model_type(m, ctx.registry))
    keep = ok(df["model"], sel.get("model")) & ok(df["instruction"], sel.get("instruction")) & ok(types, sel.get("type"))
    return df[keep]


def _rois(df: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Rows of the spec's ROIs, or of its ROI groups (per subject, mean over the group's ROIs)."""
    if spec.get("roi_groups"):
        parts = [df[df["roi"].isin(members)].assign(roi=name) for name, members in spec["roi_groups"].items()]
        df = pd.concat(parts, ignore_index=True)
        keys = [c for c in df.columns if c not in ("value", "best_layer", "layer", "selection", "ceiling")]
        return df.groupby(keys, dropna=False, sort=False)["value"].mean().reset_index()
    if spec.get("rois"):
        return df[df["roi"].isin(spec["rois"])]
    return df


def _roi_order(df: pd.DataFrame, spec: dict) -> list[str]:
    if spec.get("roi_groups"):
        return list(spec["roi_groups"])
    return [r for r in spec.get("rois", [])] or sorted(df["roi"].unique())


def _suptitle(fig: plt.Figure, text: str) -> None:
    """A figure title wrapped to the figure's width."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 13))
    fig.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=9)


def _top(fig: plt.Figure) -> float:
    """Top of the axes area below a (possibly wrapped) title."""
    lines = fig._suptitle.get_text().count("\n") + 1 if fig._suptitle else 1
    return 1 - (0.18 * lines + 0.1) / fig.get_figheight()


def _grid(n: int, panel_w: float, panel_h: float, ncol: int = PANEL_COLS, sharey: bool = True, extra: float = 1.2):
    ncol = max(1, min(ncol, n, int(MAX_WIDTH_IN // panel_w)))
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(panel_w * ncol, panel_h * nrow + extra), squeeze=False,
                             sharey=sharey)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _legend(fig: plt.Figure, labels: list[str], colors: dict) -> None:
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[lab]) for lab in labels]
    ncol = max(1, min(len(labels), int(fig.get_figwidth() // 2.2)))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=6, frameon=False)
    rows = int(np.ceil(len(labels) / ncol))
    fig.tight_layout(rect=(0, min(0.45, 0.12 * rows / fig.get_figheight() + 0.03), 1, _top(fig)))


def ci95(values: np.ndarray) -> float:
    """Half width of the 95 % t confidence interval of the mean (0 for one value)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return 0.0
    return float(sps.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))


def _bar_values(ctx: Context, spec: dict) -> tuple[pd.DataFrame, str]:
    """Per (subject, roi, label): the selected-layer score; labels are feature sets or model types."""
    best = _select(best_layers(ctx.alignment, spec.get("metric", "normalized")), spec, ctx)
    best = best.assign(label=[ctx.label(m, i) for m, i in zip(best["model"], best["instruction"])])
    by = spec.get("by", "feature_set")
    if by == "type" or best["label"].nunique() > ctx.max_bars:
        best = best.assign(label=best["model"].map(lambda m: model_type(m, ctx.registry)))
        best = best.groupby(["subject", "roi", "label"])["value"].mean().reset_index()
        by = "type"
    return _rois(best, spec), by


def _selection_text(ctx: Context, spec: dict) -> str:
    best = best_layers(ctx.alignment, spec.get("metric", "normalized"))
    return "training-set CV" if len(best) and (best["selection"] == "cv").all() else "test set: optimistic"


def _marks(values: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Across-subject test of each (roi, label) against 0, BH-FDR over the figure's bars (vectorised t-tests)."""
    wide = values.pivot_table(index=["roi", "label"], columns="subject", values="value", aggfunc="mean")
    n = wide.notna().sum(axis=1).to_numpy()
    used = resolve_test(ctx.test, int(n.max()) if n.size else 0)
    if used == "ttest":
        with np.errstate(invalid="ignore", divide="ignore"):
            p = sps.ttest_1samp(wide.to_numpy(), 0.0, axis=1, nan_policy="omit").pvalue
        p = np.asarray(np.ma.filled(p, np.nan), dtype=float)
    else:
        p = np.array([one_sample_test(row, used)[1] for row in wide.to_numpy()])
    out = wide.index.to_frame(index=False).assign(p=p, p_fdr=fdr_bh(p), test=used)
    return out.assign(significant=out["p_fdr"] < ctx.alpha)


def _bar_table(values: pd.DataFrame, rois: list[str], labels: list[str], marks: pd.DataFrame) -> pd.DataFrame:
    """One row per drawn bar: roi, label, position in its group, mean, CI, significance, subject values."""
    rows = []
    significant = marks["significant"].to_dict()
    for (roi, label), g in values.groupby(["roi", "label"]):
        if roi not in rois:
            continue
        pts = g["value"].to_numpy(dtype=float)
        rows.append({"roi": roi, "label": label, "offset": labels.index(label), "mean": float(np.nanmean(pts)),
                     "ci": ci95(pts), "significant": bool(significant[(roi, label)]), "points": pts})
    return pd.DataFrame(rows)


def _draw_bars(ax, bars: pd.DataFrame, group: list[str], n_labels: int, colors: dict) -> None:
    """All bars of one panel in one call (fast at any number of bars)."""
    width = 0.8 / n_labels
    x = bars["roi"].map(group.index).to_numpy() + (bars["offset"].to_numpy() - (n_labels - 1) / 2) * width
    ax.bar(x, bars["mean"], width, yerr=bars["ci"], color=[colors[lab] for lab in bars["label"]],
           error_kw={"lw": 0.6})
    px = np.concatenate([np.full(len(p), xi) for xi, p in zip(x, bars["points"])])
    ax.scatter(px, np.concatenate(list(bars["points"])), s=4, color="black", zorder=3)
    for xi, (_, row) in zip(x, bars.iterrows()):
        if row["significant"]:
            ax.text(xi, row["mean"] + row["ci"], "*", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(group)), group, rotation=45 if len(group) > 6 else 0,
                  ha="right" if len(group) > 6 else "center")
    ax.axhline(0, color="grey", lw=0.5)


def _same_ylim(axes: list) -> None:
    lows, highs = zip(*(ax.get_ylim() for ax in axes))
    for ax in axes:
        ax.set_ylim(min(lows), max(highs))


@table_figure
def roi_bars(ctx: Context, spec: dict) -> plt.Figure:
    """Selected-layer score per ROI (or ROI group): bars = mean over subjects, 95 % CI, subject dots, * = significant."""
    values, by = _bar_values(ctx, spec)
    rois = [r for r in _roi_order(values, spec) if r in set(values["roi"])]
    labels = sorted(values["label"].unique())
    colors = ctx.colors if by == "feature_set" else _type_colors(labels)
    bars = _bar_table(values, rois, labels, _marks(values, ctx).set_index(["roi", "label"]))
    single = len(rois) * len(labels) <= ctx.max_bars
    panel_w = min(MAX_WIDTH_IN, max(4.0, 0.28 * len(rois) * len(labels))) if single else \
        min(MAX_WIDTH_IN, max(2.4, 0.1 * len(labels)))
    groups = [rois] if single else [[r] for r in rois]
    fig, axes = _grid(len(groups), panel_w, 3.0, sharey=False)
    for ax, group in zip(axes, groups):
        _draw_bars(ax, bars[bars["roi"].isin(group)], group, len(labels), colors)
    _same_ylim(axes)
    axes[0].set_ylabel(ctx.score(spec.get("metric", "normalized")), fontsize=8)
    _suptitle(fig, ctx.title(spec, f"Alignment per ROI (layer chosen on the {_selection_text(ctx, spec)})"))
    _legend(fig, labels, colors)
    fig.brainalign = bars.drop(columns="points")
    return fig


@table_figure
def instruction_heatmap(ctx: Context, spec: dict) -> plt.Figure:
    """Instruction x ROI heatmap of the selected-layer score per model; red box = best instruction per ROI, greyed = n.s."""
    best = _rois(_select(best_layers(ctx.alignment, spec.get("metric", "normalized")), spec, ctx), spec)
    best = best[best["instruction"] != "none"]
    models = sorted(best["model"].unique())
    rois = [r for r in _roi_order(best, spec) if r in set(best["roi"])]
    width = min(MAX_WIDTH_IN, 2.0 + 0.42 * len(rois))
    panel_h = max(1.8, 0.32 * best["instruction"].nunique() + 0.8)
    fig, axes = plt.subplots(len(models), 1, figsize=(max(width, 5.0), 1.4 + panel_h * len(models)), squeeze=False)
    drawn = []
    for ax, model in zip(axes[:, 0], models):
        sub = best[best["model"] == model].assign(label=lambda d: d["instruction"])
        grid = sub.pivot_table(index="instruction", columns="roi", values="value", aggfunc="mean")[rois]
        sig = _marks(sub, ctx).pivot_table(index="label", columns="roi", values="significant").reindex_like(grid)
        im = ax.imshow(grid.values, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(rois)), rois, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=7)
        top = np.nanargmax(np.where(np.isnan(grid.values), -np.inf, grid.values), axis=0)
        for (i, j), v in np.ndenumerate(grid.values):
            ok = bool(sig.values[i, j]) if not pd.isna(sig.values[i, j]) else False
            ax.text(j, i, f"{v:.2f}" if ok else f"({v:.2f})", ha="center", va="center", fontsize=5.5,
                    color="white" if v < np.nanmean(grid.values) else "black")
            drawn.append({"model": model, "instruction": grid.index[i], "roi": rois[j], "mean": v,
                          "significant": ok, "best": bool(top[j] == i)})
        faded = np.where(np.nan_to_num(sig.values.astype(float)) > 0, np.nan, 1.0)
        ax.imshow(faded, cmap="Greys", vmin=0, vmax=1.6, alpha=0.55, aspect="auto")
        for j, i in enumerate(top):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.5, color="red"))
        ax.set_title(ctx.label(model, "none"), fontsize=8)
        fig.colorbar(im, ax=ax, label=ctx.score(spec.get("metric", "normalized")).split(" (")[0], fraction=0.03)
    _suptitle(fig, ctx.title(spec, "Instruction x ROI (red box: best per ROI; greyed, in brackets: not significant)"))
    fig.tight_layout(rect=(0, 0, 1, _top(fig)))
    fig.brainalign = pd.DataFrame(drawn)
    return fig


def _type_colors(types: list[str]) -> dict:
    """Colours of model types (a palette of its own, fixed by the sorted type names)."""
    from brainalign.labels import palette

    return palette(types)


def _depth(df: pd.DataFrame) -> pd.Series:
    """Relative depth of each row's layer within its model: layer / deepest layer."""
    deepest = df.groupby(["model", "instruction"])["layer"].transform("max").clip(lower=1)
    return df["layer"] / deepest


@table_figure
def layerwise(ctx: Context, spec: dict) -> plt.Figure:
    """Score against relative layer depth per ROI: mean over subjects with a 95 % CI band."""
    df = ctx.alignment[ctx.alignment["metric"] == spec.get("metric", "normalized")]
    df = _select(df, spec, ctx)
    df = df.assign(depth=_depth(df).round(3), label=[ctx.label(m, i) for m, i in zip(df["model"], df["instruction"])])
    colors = ctx.colors
    if spec.get("by") == "type" or df["label"].nunique() > MAX_CURVES:
        df = df.assign(label=df["model"].map(lambda m: model_type(m, ctx.registry)))
        df = df.groupby(["subject", "roi", "label", "depth"])["value"].mean().reset_index()
        colors = _type_colors(sorted(df["label"].unique()))
    df = _rois(df, spec)
    rois = [r for r in _roi_order(df, spec) if r in set(df["roi"])]
    fig, axes = _grid(len(rois), 2.8, 2.3, sharey=False)
    labels, drawn = [], []
    for ax, roi in zip(axes, rois):
        for label, g in df[df["roi"] == roi].groupby("label"):
            curve = g.groupby("depth")["value"].agg(["mean", ci95]).reset_index()
            ax.plot(curve["depth"], curve["mean"], lw=1, color=colors[label])
            ax.fill_between(curve["depth"], curve["mean"] - curve["ci95"], curve["mean"] + curve["ci95"],
                            color=colors[label], alpha=0.15, lw=0)
            labels.append(label)
            drawn += [{"roi": roi, "label": label, "depth": d, "mean": m} for d, m in zip(curve["depth"], curve["mean"])]
        ax.set_title(roi, fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("relative layer depth", fontsize=7)
    _same_ylim(axes)
    axes[0].set_ylabel(ctx.score(spec.get("metric", "normalized")), fontsize=7)
    _suptitle(fig, ctx.title(spec, "Layerwise alignment (band: 95 % CI over subjects)"))
    _legend(fig, sorted(set(labels)), colors)
    fig.brainalign = pd.DataFrame(drawn)
    return fig


@table_figure
def layer_hierarchy(ctx: Context, spec: dict) -> plt.Figure:
    """Selected layer's relative depth per ROI: mean over subjects and feature sets, 95 % CI, subject dots."""
    align = _select(ctx.alignment, spec, ctx)
    depth_max = align.groupby(["model", "instruction"])["layer"].max().clip(lower=1)
    best = best_layers(align, spec.get("metric", "normalized"))
    best = best.assign(value=best["best_layer"] / depth_max.reindex(pd.MultiIndex.from_frame(best[["model", "instruction"]])).to_numpy())
    per_subject = _rois(best, spec).groupby(["subject", "roi"])["value"].mean().reset_index()
    rois = [r for r in _roi_order(per_subject, spec) if r in set(per_subject["roi"])]
    fig, ax = plt.subplots(figsize=(min(MAX_WIDTH_IN, max(4.0, 0.45 * len(rois) + 1.5)), 3.2))
    drawn = []
    for k, roi in enumerate(rois):
        pts = per_subject[per_subject["roi"] == roi]["value"].to_numpy()
        mean, half = float(np.mean(pts)), ci95(pts)
        ax.bar(k, mean, 0.7, yerr=half, color="0.6", error_kw={"lw": 0.6})
        ax.scatter(np.full(pts.size, k), pts, s=5, color="black", zorder=3)
        drawn.append({"roi": roi, "mean": mean, "ci": half})
    ax.set_xticks(range(len(rois)), rois, rotation=45 if len(rois) > 6 else 0, ha="right" if len(rois) > 6 else "center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("best relative layer depth", fontsize=8)
    sel = "training-set CV" if (best["selection"] == "cv").all() else "test set: optimistic"
    _suptitle(fig, ctx.title(spec, f"Layer hierarchy (layer chosen on the {sel})"))
    fig.tight_layout(rect=(0, 0, 1, _top(fig)))
    fig.brainalign = pd.DataFrame(drawn)
    return fig


def _pair_label(ref: str, ctx: Context) -> str:
    """``model@instruction@Lk`` -> display name and layer."""
    model, instr, layer = (ref.split("@") + ["none", ""])[:3]
    return f"{ctx.label(model, instr)} ({layer})" if layer else ctx.label(model, instr)


@table_figure
def partition_bars(ctx: Context, spec: dict) -> plt.Figure:
    """Unique / shared parts per ROI for each configured pair: mean over subjects, 95 % CI, % of the joint model."""
    part = _rois(ctx.partition, spec)
    pairs = part[["a", "b"]].drop_duplicates().to_records(index=False)
    rois = [r for r in _roi_order(part, spec) if r in set(part["roi"])]
    width = min(MAX_WIDTH_IN, max(5.0, 0.55 * len(rois) + 1.5))
    fig, axes = plt.subplots(len(pairs), 1, figsize=(width, 2.6 * len(pairs) + 0.6), squeeze=False)
    colours = {"unique_a": "tab:blue", "shared": "tab:purple", "unique_b": "tab:red"}
    drawn = []
    for ax, (a, b) in zip(axes[:, 0], pairs):
        sub = part[(part["a"] == a) & (part["b"] == b)]
        for k, piece in enumerate(["unique_a", "shared", "unique_b"]):
            for j, roi in enumerate(rois):
                pts = sub[(sub["roi"] == roi) & (sub["metric"] == piece)]["value"].to_numpy()
                joint = sub[(sub["roi"] == roi) & (sub["metric"] == "joint")]["value"].mean()
                mean = float(np.nanmean(pts)) if pts.size else np.nan
                x = j + (k - 1) * 0.27
                ax.bar(x, mean, 0.27, yerr=ci95(pts), color=colours[piece], error_kw={"lw": 0.5},
                       label={"unique_a": f"unique {_pair_label(a, ctx)}", "shared": "shared",
                              "unique_b": f"unique {_pair_label(b, ctx)}"}[piece] if j == 0 else None)
                pct = 100 * mean / joint if joint and np.isfinite(joint) and joint > 0 else np.nan
                if np.isfinite(pct):
                    ax.text(x, max(mean, 0), f"{pct:.0f}%", ha="center", va="bottom", fontsize=5)
                drawn.append({"a": a, "b": b, "roi": roi, "part": piece, "mean": mean, "percent_of_joint": pct})
        ax.set_xticks(range(len(rois)), rois, rotation=45 if len(rois) > 6 else 0, ha="right" if len(rois) > 6 else "center")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel(ctx.score(sub["score"].iloc[0] if len(sub) else "normalized").split(" (")[0], fontsize=7)
        ax.legend(fontsize=6, frameon=False, ncol=3)
    _suptitle(fig, ctx.title(spec, "Variance partitioning (labels: % of the joint model)"))
    fig.tight_layout(rect=(0, 0, 1, _top(fig)))
    fig.brainalign = pd.DataFrame(drawn)
    return fig


@table_figure
def partition_matrix(ctx: Context, spec: dict) -> plt.Figure:
    """Shared variance as % of the joint model for every pair of feature sets, per ROI group (mean over subjects)."""
    part = _rois(ctx.partition, spec)
    groups = _roi_order(part, spec) if spec.get("roi_groups") or spec.get("rois") else ["all ROIs"]
    if groups == ["all ROIs"]:
        part = part.assign(roi="all ROIs")
    wide = part.pivot_table(index=["subject", "roi", "a", "b"], columns="metric", values="value", aggfunc="mean")
    wide = wide.assign(percent=100 * wide["shared"] / wide["joint"]).reset_index()
    names = sorted(set(wide["a"]) | set(wide["b"]))
    fig, axes = _grid(len(groups), min(MAX_WIDTH_IN / 2, 1.2 + 0.5 * len(names)), 1.0 + 0.5 * len(names), ncol=3,
                      sharey=False, extra=0.6)
    drawn = []
    for ax, group in zip(axes, groups):
        mat = np.full((len(names), len(names)), np.nan)
        for (a, b), g in wide[wide["roi"] == group].groupby(["a", "b"]):
            i, j = names.index(a), names.index(b)
            mat[i, j] = mat[j, i] = g["percent"].mean()
            drawn.append({"roi": group, "a": a, "b": b, "percent": mat[i, j]})
        im = ax.imshow(mat, cmap="magma", vmin=0, vmax=100)
        for (i, j), v in np.ndenumerate(mat):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6, color="white" if v < 60 else "black")
        ticks = [_pair_label(n, ctx) for n in names]
        ax.set_xticks(range(len(names)), ticks, rotation=45, ha="right", fontsize=6)
        ax.set_yticks(range(len(names)), ticks, fontsize=6)
        ax.set_title(group, fontsize=8)
        fig.colorbar(im, ax=ax, label="shared, % of joint", fraction=0.04)
    _suptitle(fig, ctx.title(spec, "Shared variance between feature-set pairs"))
    fig.tight_layout(rect=(0, 0, 1, _top(fig)))
    fig.brainalign = pd.DataFrame(drawn)
    return fig


def _removed_label(removed: str, ctx: Context) -> str:
    return f"minus {_pair_label(removed, ctx)}"


@table_figure
def residual_bars(ctx: Context, spec: dict) -> plt.Figure:
    """Selected-layer score per ROI before and after each removal: one labelled bar per (target, removed) pair."""
    res = _rois(best_layers(_select(ctx.residual, spec, ctx), spec.get("metric", "normalized"), ("removed",)), spec)
    orig = _rois(best_layers(_select(ctx.alignment, spec, ctx), spec.get("metric", "normalized")), spec)
    targets = sorted(res[["model", "instruction"]].drop_duplicates().itertuples(index=False, name=None))
    rois = [r for r in _roi_order(res, spec) if r in set(res["roi"])]
    fig, axes = plt.subplots(len(targets), 1, figsize=(min(MAX_WIDTH_IN, max(5.0, 1.0 * len(rois) + 2)),
                                                        2.8 * len(targets) + 0.6), squeeze=False)
    drawn = []
    for ax, (model, instr) in zip(axes[:, 0], targets):
        removals = sorted(res[(res["model"] == model) & (res["instruction"] == instr)]["removed"].unique())
        series = [("original", orig[(orig["model"] == model) & (orig["instruction"] == instr)])]
        series += [(_removed_label(r, ctx), res[(res["model"] == model) & (res["instruction"] == instr)
                                              & (res["removed"] == r)]) for r in removals]
        w = 0.8 / len(series)
        greys = plt.cm.Greys(np.linspace(0.35, 0.8, max(1, len(series) - 1)))
        for k, (label, df) in enumerate(series):
            colour = ctx.colors[ctx.label(model, instr)] if k == 0 else greys[k - 1]
            for j, roi in enumerate(rois):
                pts = df[df["roi"] == roi]["value"].to_numpy()
                mean = float(np.nanmean(pts)) if pts.size else np.nan
                x = j + (k - (len(series) - 1) / 2) * w
                ax.bar(x, mean, w, yerr=ci95(pts), color=colour, label=label if j == 0 else None, error_kw={"lw": 0.5})
                drawn.append({"target": ctx.label(model, instr), "series": label, "roi": roi, "mean": mean})
        ax.set_xticks(range(len(rois)), rois, rotation=45 if len(rois) > 6 else 0, ha="right" if len(rois) > 6 else "center")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(ctx.label(model, instr), fontsize=8)
        ax.set_ylabel(ctx.score(spec.get("metric", "normalized")).split(" (")[0], fontsize=7)
        ax.legend(fontsize=6, frameon=False, ncol=min(4, len(series)))
    _suptitle(fig, ctx.title(spec, "Residual analysis: alignment before and after removing a feature space"))
    fig.tight_layout(rect=(0, 0, 1, _top(fig)))
    fig.brainalign = pd.DataFrame(drawn)
    return fig


def draw(ctx: Context, spec: dict) -> plt.Figure:
    """The figure of ``spec`` (brain maps: :mod:`brainalign.brain_maps`)."""
    if spec["type"] not in TABLE_FIGURES:
        raise ValueError(f"unknown figure type {spec['type']!r}; allowed: {', '.join(FIGURE_TYPES)}")
    return TABLE_FIGURES[spec["type"]](ctx, spec)


def save(fig: plt.Figure, output: str, dpi: int = 150) -> None:
    """Write ``fig`` (format from the file name) and close it."""
    from pathlib import Path

    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
