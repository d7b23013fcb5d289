"""Which figures a dataset gets (``figures.set`` of the config), and the job that draws one."""

from __future__ import annotations

from dataclasses import dataclass

from brainalign.config import feature_sets


@dataclass(frozen=True)
class FigureType:
    """A figure type of ``figures.set``: its report caption, what it needs, its name in the default set."""

    caption: str
    needs: str | None = None  # "instructions", or the analysis ("partition", "residual") it draws
    default_name: str | None = None  # the figure's name when ``figures.set`` is not given (None: not drawn then)


#: Every figure type, in the order of the default set. ``brainalign.figures`` draws the table figures
#: (one function per type, of the same name), :mod:`brainalign.brain_maps` the brain map; the config
#: schema's ``figure_spec.type`` enum lists the same names (a test keeps them equal).
FIGURE_TYPES: dict[str, FigureType] = {
    "roi_bars": FigureType(
        "Selected-layer alignment per ROI: bars are the mean over subjects, whiskers the 95 % t confidence "
        "interval, dots the subjects; * marks bars whose across-subject test against 0 has a BH-FDR "
        "corrected p below alpha (correction over the figure's bars).", default_name="alignment"),
    "layerwise": FigureType(
        "Alignment against relative layer depth (layer / deepest layer), mean over subjects with a "
        "95 % t confidence band.", default_name="layerwise"),
    "layer_hierarchy": FigureType(
        "Relative depth of the selected layer per ROI (mean over subjects and feature sets, 95 % CI, "
        "dots: subjects).", default_name="layer_hierarchy"),
    "instruction_heatmap": FigureType(
        "Selected-layer alignment, instruction x ROI, mean over subjects; red box: best "
        "instruction per ROI; hatched: not significant (across-subject test, BH-FDR over cells).",
        needs="instructions", default_name="instruction_roi"),
    "partition_bars": FigureType(
        "Variance partitioning per ROI: unique and shared parts (mean over subjects, 95 % CI); "
        "labels give each part as % of the joint model.", needs="partition", default_name="partition"),
    "partition_matrix": FigureType(
        "Shared variance as % of the joint model for each configured pair (mean over subjects).",
        needs="partition", default_name="partition_matrix"),
    "residual_bars": FigureType(
        "Selected-layer alignment before and after removing each feature space (one bar per removal).",
        needs="residual", default_name="residual"),
    "brain_map": FigureType(
        "Per-voxel map on the inflated surface, mean over subjects; unpainted: below the noise-ceiling "
        "threshold or not FDR-significant (voxel permutation test) in a majority of subjects."),
}
TEST_NAMES = {"ttest": "t-test", "wilcoxon": "Wilcoxon signed-rank test"}


def default_set(cfg: dict, dataset: str) -> list[dict]:
    """One figure of each table type that applies (the set when ``figures.set`` is not given)."""
    specs = [{"name": t.default_name, "type": name} for name, t in FIGURE_TYPES.items() if t.default_name]
    return [s for s in specs if applies(cfg, dataset, s)]


def applies(cfg: dict, dataset: str, spec: dict) -> bool:
    """Whether ``spec`` can be drawn for ``dataset`` (its dataset, instructions, analyses present)."""
    if spec.get("dataset", dataset) != dataset:
        return False
    need = FIGURE_TYPES[spec["type"]].needs
    if need == "instructions":
        return any(i != "none" for _, i in feature_sets(cfg, dataset))
    if need:
        return any(a["dataset"] == dataset for a in cfg[need])
    return True


def figure_specs(cfg: dict, dataset: str) -> list[dict]:
    """The dataset's figures in the configured (paper's) order."""
    given = cfg["figures"].get("set")
    if not given:
        return default_set(cfg, dataset)
    return [s for s in given if applies(cfg, dataset, s)]


def figure_spec(cfg: dict, dataset: str, name: str) -> dict:
    """The spec named ``name``; a clear error naming the choices otherwise."""
    specs = {s["name"]: s for s in figure_specs(cfg, dataset)}
    if name not in specs:
        raise ValueError(f"no figure {name!r} for dataset {dataset!r}; configured: {', '.join(specs)}")
    return specs[name]


def figure_caption(cfg: dict, dataset: str, name: str) -> str:
    """Report caption of figure ``name``: what it shows, the number of subjects, the test and correction."""
    from brainalign.statistics.inference import resolve_test

    spec = figure_spec(cfg, dataset, name)
    n = len(cfg["datasets"][dataset]["subjects"])
    test = TEST_NAMES[resolve_test(cfg["stats"]["test"], n)]
    return (f"{FIGURE_TYPES[spec['type']].caption} Dataset {dataset}, n = {n} subjects; across-subject "
            f"test: {test}; correction: Benjamini-Hochberg FDR, alpha {cfg['stats']['alpha']}.")


def map_feature_set(cfg: dict, dataset: str, spec: dict) -> tuple[str, str]:
    """The one (model, instruction) a brain map paints (``select.model`` and ``select.instruction``)."""
    sel = spec.get("select") or {}
    model, instr = sel.get("model"), sel.get("instruction", "none")
    if not isinstance(model, str) or not isinstance(instr, str) or (model, instr) not in set(feature_sets(cfg, dataset)):
        raise ValueError(f"figure {spec['name']!r}: a brain_map needs select.model (and select.instruction) naming "
                         f"one feature set of {dataset!r}; got {sel}")
    return model, instr


def figure_job(spec: dict, dataset: str, tables: dict[str, str], output: str, fig_cfg: dict, stats_cfg: dict,
               registry: dict, encoding: list[str] = (), brains: list[str] = (),
               all_sets: list[tuple[str, str]] = ()) -> None:
    """Workflow entry point: draw figure ``spec`` of ``dataset`` into ``output``.

    ``all_sets``: every (model, instruction) of the run, so colours agree across datasets.
    """
    from brainalign import figures
    from brainalign.summaries import read_table

    t = {k: read_table(v) for k, v in tables.items()}
    ctx = figures.Context(dataset, t["alignment"], t["residual"], t["partition"], t["stats"], registry,
                          stats_cfg.get("test", "auto"), stats_cfg.get("alpha", 0.05), fig_cfg.get("max_bars", 60),
                          [tuple(x) for x in all_sets])
    if spec["type"] == "brain_map":
        fig = _brain_map(ctx, spec, encoding, brains, stats_cfg.get("alpha", 0.05))
    else:
        fig = figures.draw(ctx, spec)
    figures.save(fig, output, fig_cfg.get("dpi", 150))


def _brain_map(ctx, spec: dict, encoding: list[str], brains: list[str], alpha: float):
    from brainalign.brain_maps import plot_surface, subject_mean_map
    from brainalign.stores import read_store

    stores = [read_store(p, "encoding") for p in encoding]
    brain_stores = [read_store(p, "brain", load=False) for p in brains]
    value = spec.get("value", "normalized")
    mesh, hemi, vertex, values = subject_mean_map(stores, brain_stores, value, spec.get("layer"), alpha)
    model, instr = stores[0].attrs["model"], stores[0].attrs["instruction"]
    label = {"best_layer": "selected layer (relative depth)", "r": "raw r"}.get(value, ctx.score(value).split(" (")[0])
    title = ctx.title(spec, f"{ctx.label(model, instr)}: {label}")
    if value == "best_layer":
        return plot_surface(mesh, hemi, vertex, values, title, label, vmax=1.0, sequential=True)
    return plot_surface(mesh, hemi, vertex, values, title, label)
