"""The encoding benchmark runs and agrees with himalaya on a small shape (timings are not asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "workflow" / "bench"))
import encode_bench  # noqa: E402


@pytest.mark.parametrize("bands", [(), (30, 20)])
def test_benchmark_rows_show_exact_agreement(bands):
    shape = encode_bench.Shape("tiny", 200, 50, 40, 8, "test", bands=bands, n_test=60, n_iter=4)
    rows = encode_bench.bench_shape(shape, "numpy", set())
    refs = [r for r in rows if "same_alpha" in r]
    assert len(refs) == 2
    for r in refs:
        assert r["same_alpha"] >= 0.95 and r["max_abs_dr"] < 1e-3
    ours = rows[-1]
    assert ours["method"].startswith("brainalign") and ours["speedup_vs_fastest_himalaya"] > 0
    assert "| tiny |" in encode_bench.markdown(rows)
    assert "CPU hours" in encode_bench.projections(rows) or bands
