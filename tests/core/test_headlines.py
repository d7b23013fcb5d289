"""Paper vs ours: each headline kind computed from tables with known values."""

from __future__ import annotations

import pandas as pd
import pytest

from brainalign.headlines import compute, ground_truth_headlines
from brainalign.summaries import COLUMNS

SUBJECTS = ["sub-01", "sub-02", "sub-03", "sub-04"]
REGISTRY = {"vmllm": {"family": "mllm_video"}, "tvlt": {"family": "tvlt"}, "vmae": {"family": "video"}}


def _alignment() -> pd.DataFrame:
    rows = []
    for i, s in enumerate(SUBJECTS):
        for model, instr, v in (("vmllm", "AR1", 0.46), ("vmllm", "VU1", 0.3), ("tvlt", "none", 0.4), ("vmae", "none", 0.2)):
            for roi, scale in (("EV", 1.0), ("AG", 0.5)):
                value = v * scale + 0.001 * i
                rows.append(dict(zip(COLUMNS, ["d", s, roi, model, instr, 0, "normalized", value])))
                rows.append(dict(zip(COLUMNS, ["d", s, roi, model, instr, 0, "noise_ceiling", 0.3 * scale + 0.1])))
    return pd.DataFrame(rows)


def _partition() -> pd.DataFrame:
    rows = []
    for s in SUBJECTS:
        for metric, v in (("shared", 0.27), ("joint", 0.3)):
            rows.append({"subject": s, "roi": "EV", "a": "vmllm@AR1@L16", "b": "vmllm@VU1@L16", "metric": metric,
                         "value": v})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("item,expected", [
    ({"kind": "mean", "a": {"model": "tvlt"}, "rois": ["EV"]}, 0.4 + 0.0015),
    ({"kind": "gain_percent", "a": {"type": "video MLLM"}, "b": {"model": "tvlt"}, "rois": ["EV"]},
     100 * ((0.38 + 0.0015) - (0.4 + 0.0015)) / (0.4 + 0.0015)),
    ({"kind": "difference", "a": {"model": "tvlt"}, "b": {"model": "vmae"}, "rois": ["AG"]}, 0.1),
    ({"kind": "shared_percent", "a": {"model": "vmllm", "instruction": "AR1"},
      "b": {"model": "vmllm", "instruction": "VU1"}}, 90.0),
    ({"kind": "max_ceiling"}, 0.4),
    ({"kind": "max", "a": {"model": "vmae"}}, 0.2015),
])
def test_numbers(item, expected):
    value, _ = compute({"claim": "x", "compute": item}, _alignment(), _partition(), REGISTRY)
    assert value == pytest.approx(expected)


def test_best_instruction_and_difference_detail():
    value, _ = compute({"claim": "x", "compute": {"kind": "best_instruction", "a": {"model": "vmllm"}}},
                       _alignment(), _partition(), REGISTRY)
    assert value == "AR1"
    _, detail = compute({"claim": "x", "compute": {"kind": "difference", "a": {"model": "tvlt"},
                                                   "b": {"model": "vmae"}}}, _alignment(), _partition(), REGISTRY)
    assert detail.startswith("ttest p = ")


def test_ground_truth_rows():
    truth = {"rois": {"EV": {"drivers": [{"model": "tvlt", "layer": 0}], "best": {"model": "tvlt", "layer": 0}},
                      "AG": {"drivers": []}}}
    stats = pd.DataFrame({"analysis": ["alignment_best_layer"] * 3, "roi": ["AG"] * 3, "p_fdr": [0.01, 0.5, 0.01],
                          "mean": [0.2, 0.1, -0.1]})  # a significantly negative score is no alignment
    rows = pd.DataFrame(ground_truth_headlines("d", truth, _alignment(), stats))
    best = rows[rows.claim == "best model"].iloc[0]
    assert best["paper"] == "tvlt" and best["ours"] == "vmllm"  # the table's best is the MLLM: a mismatch shows
    assert rows[rows.claim.str.startswith("best layer")].iloc[0]["ours"] == 0
    none = rows[rows.rois == "AG"].iloc[0]
    assert none["paper"] == 0 and none["ours"] == 1
