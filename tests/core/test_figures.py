"""Figures: the numbers behind each figure equal the tables', marks follow the tests, widths stay bounded."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from brainalign import figures
from brainalign.figures import Context
from brainalign.statistics.inference import across_subjects, fdr_bh
from brainalign.summaries import COLUMNS, best_layers, write_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUBJECTS = ["sub-01", "sub-02", "sub-03", "sub-04"]
REGISTRY = {"vit": {"family": "image"}, "llava": {"family": "mllm_image"}, "bert": {"family": "text"}}


def _alignment(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for si, subject in enumerate(SUBJECTS):
        for model, instr, base in (("vit", "none", 0.5), ("llava", "IC", 0.4), ("llava", "VQ1", 0.0), ("bert", "none", 0.2)):
            for roi in ("EV", "HV", "LANG"):
                for layer in range(4):
                    v = base * (1 - abs(layer - 2) / 4) + 0.05 * rng.standard_normal()
                    for metric, val in (("normalized", v), ("r", v / 2)):
                        rows.append(dict(zip(COLUMNS, ["d", subject, roi, model, instr, layer, metric, val])))
    return pd.DataFrame(rows)


def _ctx(**kw) -> Context:
    return Context("d", _alignment(), registry=REGISTRY, **kw)


def test_roi_bars_values_and_marks_follow_the_tables():
    ctx = _ctx()
    fig = figures.roi_bars(ctx, {"name": "x", "type": "roi_bars"})
    drawn = fig.brainalign
    best = best_layers(ctx.alignment)
    best["label"] = [ctx.label(m, i) for m, i in zip(best["model"], best["instruction"])]
    means = best.groupby(["roi", "label"])["value"].mean()
    assert len(drawn) == 12
    for row in drawn.itertuples():
        assert row.mean == pytest.approx(means[(row.roi, row.label)])
    tests = across_subjects(best, ["roi", "label"], "auto", 10)
    tests["p_fdr"] = fdr_bh(tests["p"].to_numpy())  # over the figure's bars
    tests = tests.set_index(["roi", "label"])
    for row in drawn.itertuples():
        assert row.significant == (tests.loc[(row.roi, row.label), "p_fdr"] < 0.05)
    assert drawn["significant"].any() and not drawn["significant"].all()  # VQ1 has no effect
    stars = [t for t in fig.axes[0].texts if t.get_text() == "*"]
    assert len(stars) == drawn["significant"].sum()
    assert "n = 4 subjects" in fig._suptitle.get_text()
    assert fig.axes[0].get_ylabel().startswith("normalised alignment")
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert legend == {"vit", "llava [IC]", "llava [VQ1]", "bert"}
    plt.close(fig)


def test_roi_bars_by_type_and_groups():
    ctx = _ctx()
    spec = {"name": "x", "type": "roi_bars", "by": "type", "roi_groups": {"visual": ["EV", "HV"], "language": ["LANG"]}}
    fig = figures.roi_bars(ctx, spec)
    drawn = fig.brainalign
    assert set(drawn["roi"]) == {"visual", "language"} and set(drawn["label"]) == {"image", "image MLLM", "language"}
    best = best_layers(ctx.alignment)
    mllm = best[(best.model == "llava") & best.roi.isin(["EV", "HV"])]
    expected = mllm.groupby("subject")["value"].mean().mean()
    got = drawn[(drawn.roi == "visual") & (drawn.label == "image MLLM")]["mean"].iloc[0]
    assert got == pytest.approx(expected)
    plt.close(fig)


def test_raw_r_label_without_a_ceiling():
    ctx = Context("d", _alignment().assign(ceiling="none"), registry=REGISTRY)
    fig = figures.roi_bars(ctx, {"name": "x", "type": "roi_bars"})
    assert fig.axes[0].get_ylabel() == "raw r (no noise ceiling)"
    plt.close(fig)


def test_nsd_sized_bars_are_bounded_with_distinct_colours(tmp_path):
    rows = []
    rng = np.random.default_rng(1)
    models = [(f"m{i:02d}", "none") for i in range(13)] + [(f"mllm{i}", f"I{j}") for i in range(3) for j in range(10)]
    rois = [f"R{k:02d}" for k in range(34)]
    for subject in SUBJECTS:
        for model, instr in models:
            for roi in rois:
                rows.append(dict(zip(COLUMNS, ["nsd", subject, roi, model, instr, 0, "normalized", rng.uniform()])))
    ctx = Context("nsd", pd.DataFrame(rows))
    assert len(ctx.sets) == 43
    fig = figures.roi_bars(ctx, {"name": "x", "type": "roi_bars"})
    colours = {tuple(np.round(p.get_facecolor()[:3], 4)) for ax in fig.axes for p in ax.patches}
    assert len(colours) == 43
    assert len(fig.brainalign) == 43 * 34
    out = tmp_path / "bars.png"
    figures.save(fig, str(out), dpi=150)
    assert plt.imread(out).shape[1] < 4000
    for kind in ("layerwise", "instruction_heatmap"):  # the same bounded layout; width from the figure size
        fig = figures.draw(ctx, {"name": kind, "type": kind})
        assert fig.get_size_inches()[0] * 150 < 4000, kind
        plt.close(fig)


def test_instruction_heatmap_marks_best_and_non_significant():
    ctx = _ctx()
    fig = figures.instruction_heatmap(ctx, {"name": "x", "type": "instruction_heatmap"})
    drawn = fig.brainalign
    assert set(drawn["instruction"]) == {"IC", "VQ1"} and set(drawn["model"]) == {"llava"}
    best_rows = drawn[drawn["best"]]
    assert (best_rows["instruction"] == "IC").all() and len(best_rows) == 3
    best = best_layers(ctx.alignment)
    best = best[best.model == "llava"].assign(label=lambda d: d.instruction)
    tests = across_subjects(best, ["roi", "label"], "auto", 10)
    tests = tests.assign(p_fdr=fdr_bh(tests["p"].to_numpy())).set_index(["roi", "label"])
    for row in drawn.itertuples():
        assert row.significant == (tests.loc[(row.roi, row.instruction), "p_fdr"] < 0.05)
    assert drawn[drawn.instruction == "IC"]["significant"].all()
    plt.close(fig)


def test_layerwise_curves_are_subject_means():
    ctx = _ctx()
    fig = figures.layerwise(ctx, {"name": "x", "type": "layerwise", "rois": ["EV"]})
    drawn = fig.brainalign
    a = ctx.alignment
    expected = a[(a.metric == "normalized") & (a.roi == "EV") & (a.model == "vit") & (a.layer == 2)]["value"].mean()
    got = drawn[(drawn.label == "vit") & np.isclose(drawn.depth, 2 / 3, atol=1e-3)]["mean"].iloc[0]
    assert got == pytest.approx(expected)
    plt.close(fig)


def test_layer_hierarchy_relative_depth():
    ctx = _ctx()
    fig = figures.layer_hierarchy(ctx, {"name": "x", "type": "layer_hierarchy", "select": {"model": "vit"}})
    best = best_layers(ctx.alignment)
    best = best[best.model == "vit"]
    for row in fig.brainalign.itertuples():
        assert row.mean == pytest.approx((best[best.roi == row.roi]["best_layer"] / 3).mean())
    assert "optimistic" in fig._suptitle.get_text()
    plt.close(fig)


def _residual() -> pd.DataFrame:
    align = _alignment()
    vit = align[align.model == "vit"]
    return pd.concat([vit.assign(value=vit.value - 0.2, removed="bert@none@L3"),
                      vit.assign(value=vit.value - 0.05, removed="bert@none@L1")], ignore_index=True)


def test_two_removals_of_one_target_are_two_labelled_bars():
    ctx = Context("d", _alignment(), residual=_residual(), registry=REGISTRY)
    fig = figures.residual_bars(ctx, {"name": "x", "type": "residual_bars"})
    drawn = fig.brainalign
    assert sorted(drawn["series"].unique()) == ["minus bert (L1)", "minus bert (L3)", "original"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["original", "minus bert (L1)", "minus bert (L3)"]
    ev = drawn[drawn.roi == "EV"].set_index("series")["mean"]
    orig = best_layers(ctx.alignment)
    orig = orig[(orig.model == "vit") & (orig.roi == "EV")]["value"].mean()
    assert ev["original"] == pytest.approx(orig)
    assert ev["minus bert (L3)"] == pytest.approx(orig - 0.2)  # the 0.2 drop shows as a 0.2 drop
    assert ev["minus bert (L1)"] == pytest.approx(orig - 0.05)
    plt.close(fig)


def _partition() -> pd.DataFrame:
    rows = []
    for subject in SUBJECTS:
        for (a, b), shared in ((("llava@IC@L-1", "llava@VQ1@L-1"), 0.3), (("llava@IC@L-1", "llava@IU2@L-1"), 0.1)):
            for roi in ("EV", "HV"):
                for metric, v in (("shared", shared), ("unique_a", 0.1), ("unique_b", 0.05), ("joint", shared + 0.15)):
                    rows.append({"dataset": "d", "subject": subject, "roi": roi, "a": a, "b": b, "metric": metric,
                                 "value": v, "score": "normalized"})
    return pd.DataFrame(rows)


def test_partition_bars_and_matrix_percentages():
    ctx = Context("d", _alignment(), partition=_partition(), registry=REGISTRY)
    fig = figures.partition_bars(ctx, {"name": "x", "type": "partition_bars"})
    d = fig.brainalign
    row = d[(d.b == "llava@VQ1@L-1") & (d.roi == "EV") & (d.part == "shared")].iloc[0]
    assert row["mean"] == pytest.approx(0.3) and row["percent_of_joint"] == pytest.approx(100 * 0.3 / 0.45)
    plt.close(fig)
    fig = figures.partition_matrix(ctx, {"name": "x", "type": "partition_matrix"})
    d = fig.brainalign.set_index("b")["percent"]
    assert d["llava@VQ1@L-1"] == pytest.approx(100 * 0.3 / 0.45)
    assert d["llava@IU2@L-1"] == pytest.approx(100 * 0.1 / 0.25)
    plt.close(fig)


def test_colours_are_stable_across_figures_and_datasets():
    full = _ctx()
    part = Context("d", _alignment(), registry=REGISTRY)
    assert full.colors == part.colors
    assert len(set(full.colors.values())) == 4
    sets = [("vit", "none"), ("llava", "IC"), ("llava", "VQ1"), ("bert", "none"), ("w2v", "none")]
    one = Context("a", _alignment(), registry=REGISTRY, all_sets=sets)
    other = Context("b", _alignment().query("model == 'vit'"), registry=REGISTRY, all_sets=sets)
    assert one.colors["vit"] == other.colors["vit"]


def test_unknown_type():
    with pytest.raises(ValueError, match="unknown figure type 'violin'"):
        figures.draw(_ctx(), {"name": "x", "type": "violin"})


def test_figure_job_writes_raster_and_vector(tmp_path):
    from brainalign.figure_sets import figure_job

    tables = {"alignment": _alignment(), "residual": _residual(), "partition": _partition(),
              "stats": pd.DataFrame({"analysis": ["x"]})}
    paths = {}
    for name, df in tables.items():
        paths[name] = str(tmp_path / f"{name}.tsv")
        write_table(df, paths[name])
    for ext, magic in (("png", PNG_MAGIC), ("pdf", b"%PDF"), ("svg", b"<?xml")):
        out = tmp_path / f"fig.{ext}"
        figure_job({"name": "fig", "type": "residual_bars"}, "d", paths, str(out), {"dpi": 60}, {}, REGISTRY)
        assert out.read_bytes().startswith(magic)
    assert plt.get_fignums() == []


def test_figure_types_are_listed_once():
    """The figure functions, the default set and the config schema's enum all follow FIGURE_TYPES."""
    from brainalign.config import load_schema
    from brainalign.figure_sets import FIGURE_TYPES

    enum = load_schema("config")["$defs"]["figure_spec"]["properties"]["type"]["enum"]
    assert sorted(enum) == sorted(FIGURE_TYPES)
    assert set(figures.TABLE_FIGURES) == set(FIGURE_TYPES) - {"brain_map"}
    assert all(figures.TABLE_FIGURES[name].__name__ == name for name in figures.TABLE_FIGURES)
