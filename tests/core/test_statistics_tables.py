"""Across-subject statistics tables of alignment, residual and partition results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from brainalign.statistics.inference import fdr_bh
from brainalign.statistics.tables import alignment_stats, comparison_stats, partition_stats, residual_stats, stats_job
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


def _ridge_scores(x: np.ndarray, y: np.ndarray, n_train: int, alpha: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Validation r (3 contiguous folds of the training part, mean) and test r per voxel of a ridge fit."""
    def fit_r(tr, te):
        xt, yt = x[tr] - x[tr].mean(0), y[tr] - y[tr].mean(0)
        w = np.linalg.solve(xt.T @ xt + alpha * np.eye(x.shape[1]), xt.T @ yt)
        pred = (x[te] - x[tr].mean(0)) @ w
        zp = (pred - pred.mean(0)) / pred.std(0)
        zy = (y[te] - y[te].mean(0)) / y[te].std(0)
        return (zp * zy).mean(0)

    idx = np.arange(n_train)
    folds = np.array_split(idx, 3)
    cv = np.mean([fit_r(np.setdiff1d(idx, f), f) for f in folds], axis=0)
    return cv, fit_r(idx, np.arange(n_train, len(x)))


def _ar1(rng, n, d, phi=0.8):
    out = np.zeros((n, d))
    e = rng.standard_normal((n, d))
    for t in range(1, n):
        out[t] = phi * out[t - 1] + e[t]
    return out


def _null_draw(rng, n_layers=5, n=160, n_train=120):
    """Alignment rows of 4 subjects whose responses are circularly shifted away from their features."""
    rows = []
    for subject in SUBJECTS:
        layers = [_ar1(rng, n, 6) for _ in range(n_layers)]
        y = layers[2] @ rng.standard_normal((6, 8)) + _ar1(rng, n, 8)
        y = np.roll(y, n // 2, axis=0)  # a null: time courses no longer line up with the features
        for li, x in enumerate(layers):
            cv, test = _ridge_scores(x, y, n_train)
            for metric, v in (("normalized", test.mean()), ("cv_r", cv.mean())):
                rows.append(dict(zip(COLUMNS, ["d", subject, "ROI", "m", "none", li, metric, v])))
    return pd.DataFrame(rows)


def test_best_layer_selection_keeps_the_null_rate_nominal():
    rng = np.random.default_rng(11)
    cv_hits, optimistic_hits, n_draws = 0, 0, 150
    for _ in range(n_draws):
        table = _null_draw(rng)
        cv = alignment_stats(table, {**CFG, "test": "auto", "n_bootstrap": 10})
        assert cv["layer_selection"].tolist() == ["cv"]
        cv_hits += cv["p"].iloc[0] < 0.05
        optimistic = alignment_stats(table[table.metric != "cv_r"], {**CFG, "n_bootstrap": 10})
        assert optimistic["layer_selection"].tolist() == ["optimistic"]
        optimistic_hits += optimistic["p"].iloc[0] < 0.05
    assert cv_hits / n_draws < 0.1  # nominal 5 % (0.04 with this seed); 150 draws, sd 1.8 %
    assert optimistic_hits > 5 * cv_hits  # choosing on the test set inflates it (0.76 with this seed)


def test_best_layer_from_cv_score_not_from_test():
    table = alignment()
    cv = table[table.metric == "normalized"].assign(metric="cv_r", value=lambda d: d.layer.map({0: 0.9, 1: 0.1, 2: 0.2}))
    out = alignment_stats(pd.concat([table, cv]), CFG)
    ev = out[out.roi == "EV"].iloc[0]
    assert ev["mean"] == pytest.approx(np.mean([0.5 * (0.6 + 0.02 * i) for i in range(4)]))  # layer 0, not 1
    assert ev["layer_selection"] == "cv" and ev["test"] == "ttest"


def test_comparisons_by_type_and_each():
    rows = []
    for i, subject in enumerate(SUBJECTS):
        for model, instr, v in (("mm", "none", 0.5), ("img", "none", 0.3), ("llm", "A", 0.45), ("llm", "B", 0.3)):
            for roi in ("EV", "HV"):
                value = v + 0.01 * i + (0.005 * (-1) ** i if model == "img" else 0)
                rows.append(dict(zip(COLUMNS, ["d", subject, roi, model, instr, 0, "normalized", value])))
    table = pd.DataFrame(rows)
    registry = {"mm": {"family": "tvlt"}, "img": {"family": "image"}, "llm": {"family": "mllm_image"}}
    cfg = {**CFG, "test": "auto", "comparisons": [
        {"name": "multimodal vs image", "a": {"type": "jointly pretrained"}, "b": {"type": "image"}},
        {"name": "instruction vs img", "a": {"model": "llm"}, "b": {"model": "img"}, "each": True},
        {"a": "mm", "b": "img"},  # plain model names, no name
    ]}
    out = comparison_stats(table, cfg, registry)
    first = out[out.comparison == "multimodal vs image"]
    assert list(first.roi) == ["EV", "HV"] and (first["mean"].round(6) == 0.2).all()
    assert (first["p_fdr"] < 0.05).all() and (first["test"] == "ttest").all()
    each = out[out.comparison.str.startswith("instruction vs img: ")]
    assert sorted(each.comparison.unique()) == ["instruction vs img: llm@A", "instruction vs img: llm@B"]
    a = each[each.comparison.str.endswith("@A")]
    assert (a["mean"].round(6) == 0.15).all()
    plain = out[out.comparison == "mm vs img"]
    assert len(plain) == 2 and (plain["mean"].round(6) == 0.2).all()
