"""Figures: every figure type is drawn from tidy tables and written as a non-empty file."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from brainalign import figures
from brainalign.figures import draw_figure
from brainalign.summaries import COLUMNS, write_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _alignment() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for subject in ("sub-01", "sub-02"):
        for model, instr in (("vit", "none"), ("llava", "IC"), ("llava", "VQ1")):
            for roi in ("EV", "HV", "LANG"):
                for layer in range(4):
                    for metric in ("normalized", "r"):
                        rows.append(dict(zip(COLUMNS, ["d", subject, roi, model, instr, layer, metric,
                                                       float(rng.uniform(0, 1))])))
    return pd.DataFrame(rows)


@pytest.fixture
def tables(tmp_path):
    align = _alignment()
    residual = align[align.model == "vit"].assign(value=lambda d: d.value / 2, removed="minilm@none@L3")
    parts = []
    for subject in ("sub-01", "sub-02"):
        for roi in ("EV", "HV"):
            for metric, v in (("shared", 0.3), ("unique_a", 0.1), ("unique_b", 0.05), ("joint", 0.45)):
                parts.append({"dataset": "d", "subject": subject, "roi": roi, "a": "llava@IC@L-1",
                              "b": "llava@VQ1@L-1", "metric": metric, "value": v, "score": "normalized"})
    paths = {n: tmp_path / f"{n}.tsv" for n in ("alignment", "residual", "partition")}
    write_table(align, paths["alignment"])
    write_table(residual, paths["residual"])
    write_table(pd.DataFrame(parts), paths["partition"])
    return paths


@pytest.mark.parametrize("name", ["layerwise", "model_roi", "instruction_roi", "partition", "residual"])
def test_each_figure_is_written(tmp_path, tables, name):
    out = tmp_path / "figs" / f"{name}.png"
    draw_figure(name, *(str(tables[n]) for n in ("alignment", "residual", "partition")), str(out), dpi=60)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000
    assert plt.get_fignums() == []  # figures are closed after saving


@pytest.mark.parametrize("fmt,magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_other_formats(tmp_path, tables, fmt, magic):
    out = tmp_path / f"layerwise.{fmt}"
    draw_figure("layerwise", *(str(tables[n]) for n in ("alignment", "residual", "partition")), str(out))
    assert out.read_bytes().startswith(magic)


def test_unknown_figure(tmp_path, tables):
    with pytest.raises(ValueError, match="unknown figure 'violin'; allowed: layerwise, model_roi"):
        draw_figure("violin", *(str(tables[n]) for n in ("alignment", "residual", "partition")),
                    str(tmp_path / "x.png"))


def test_figure_content():
    align = _alignment()
    fig = figures.layerwise(align)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["EV", "HV", "LANG"]
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"vit", "llava [IC]", "llava [VQ1]"}
    plt.close(fig)
    fig = figures.instruction_roi(align)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["llava"]  # models without instructions left out
    plt.close(fig)
    fig = figures.model_roi(align)
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 3 * 3  # ROI x (model, instruction)
    best = align[(align.metric == "normalized")].groupby(["subject", "roi", "model", "instruction"])["value"].max()
    ev_vit = best.xs(("EV", "vit", "none"), level=("roi", "model", "instruction")).mean()
    assert any(np.isclose(b.get_height(), ev_vit) for b in bars)
    plt.close(fig)
