"""Across-subject statistics tables of alignment, residual and partition results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from brainalign.stats import fdr_bh
from brainalign.stats_tables import alignment_stats, partition_stats, residual_stats, stats_job
from brainalign.summaries import COLUMNS, read_table, write_table

CFG = {"test": "ttest", "n_bootstrap": 200, "seed": 0}
SUBJECTS = ["sub-01", "sub-02", "sub-03", "sub-04"]


def alignment(scale: float = 1.0) -> pd.DataFrame:
    rows = []
    for i, subject in enumerate(SUBJECTS):
        for roi, base in (("EV", 0.6), ("HV", 0.3)):
            for layer in range(3):
                value = scale * (base + 0.02 * i) * (1.0 if layer == 1 else 0.5)
                for metric, v in (("normalized", value), ("r", value / 2)):
                    rows.append(dict(zip(COLUMNS, ["d", subject, roi, "vit", "none", layer, metric, v])))
    return pd.DataFrame(rows)


def test_alignment_stats_uses_best_layer_per_subject():
    out = alignment_stats(alignment(), CFG)
    assert list(out["analysis"].unique()) == ["alignment_best_layer"]
    ev = out[out.roi == "EV"].iloc[0]
    best = np.array([0.6 + 0.02 * i for i in range(4)])
    assert ev["mean"] == pytest.approx(best.mean())
    assert ev["p"] == pytest.approx(sps.ttest_1samp(best, 0).pvalue)
    assert ev["n_subjects"] == 4
    np.testing.assert_allclose(out["p_fdr"], fdr_bh(out["p"].to_numpy()))
    assert alignment_stats(alignment().assign(metric="r"), CFG).empty


def test_residual_stats_pairs_original_and_residual():
    orig = alignment()
    res = alignment(scale=0.5).assign(removed="minilm@none@L3")
    out = residual_stats(orig, res, CFG)
    assert len(out) == 2 * 3  # ROI x layer
    row = out[(out.roi == "EV") & (out.layer == 1)].iloc[0]
    o = np.array([0.6 + 0.02 * i for i in range(4)])
    assert row["mean_original"] == pytest.approx(o.mean())
    assert row["mean_residual"] == pytest.approx(o.mean() / 2)
    assert row["mean"] == pytest.approx(o.mean() / 2)  # the drop
    assert row["p"] == pytest.approx(sps.ttest_rel(o, o / 2).pvalue)
    assert row["removed"] == "minilm@none@L3" and row["n_subjects"] == 4
    assert residual_stats(orig, res.iloc[:0], CFG).empty


def test_residual_stats_without_matching_rows_is_empty():
    res = alignment(scale=0.5).assign(removed="x", model="other")
    assert residual_stats(alignment(), res, CFG).empty


def test_partition_stats_and_job(tmp_path):
    rows = []
    for i, subject in enumerate(SUBJECTS):
        for part, v in (("shared", 0.2), ("unique_a", 0.1), ("unique_b", 0.0)):
            rows.append({"dataset": "d", "subject": subject, "roi": "EV", "a": "A", "b": "B", "metric": part,
                         "value": v + 0.01 * i, "score": "normalized"})
    part = pd.DataFrame(rows)
    out = partition_stats(part, CFG)
    assert set(out["metric"]) == {"shared", "unique_a", "unique_b"}
    assert out.set_index("metric").loc["shared", "mean"] == pytest.approx(0.215)
    paths = {n: tmp_path / f"{n}.tsv" for n in ("alignment", "residual", "partition", "stats")}
    write_table(alignment(), paths["alignment"])
    write_table(alignment(scale=0.5).assign(removed="r"), paths["residual"])
    write_table(part, paths["partition"])
    stats_job(*(str(paths[n]) for n in ("alignment", "residual", "partition", "stats")), CFG)
    table = read_table(paths["stats"])
    assert set(table["analysis"]) == {"alignment_best_layer", "residual_drop", "partition"}
    assert not np.isinf(table.select_dtypes("number").to_numpy()).any()


def test_stats_job_with_nothing_to_test(tmp_path):
    paths = {n: tmp_path / f"{n}.tsv" for n in ("alignment", "residual", "partition", "stats")}
    write_table(alignment().assign(value=np.nan), paths["alignment"])
    write_table(pd.DataFrame(columns=COLUMNS + ["removed"]), paths["residual"])
    write_table(pd.DataFrame(columns=["dataset", "subject", "roi", "a", "b", "metric", "value", "score"]),
                paths["partition"])
    stats_job(*(str(paths[n]) for n in ("alignment", "residual", "partition", "stats")), CFG)
    assert read_table(paths["stats"]).empty
