"""The extraction benchmark runs end to end on CPU with a tiny model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "workflow" / "bench" / "extract_bench.py"


def test_bench_cpu_tiny(tmp_path):
    spec = importlib.util.spec_from_file_location("extract_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report_path = tmp_path / "report.json"
    report = bench.main(["--size", "tiny", "--device", "cpu", "--n", "6", "--baseline-n", "3",
                         "--batch-size", "4", "--max-new-tokens", "3", "--peak-seconds", "0.2",
                         "--report", str(report_path), "--workdir", str(tmp_path / "w")])
    assert json.loads(report_path.read_text())["results"].keys() == {"prompt", "response"}
    assert report["matmul_peak_tflops"] > 0
    for mode, res in report["results"].items():
        run, base = res["runner"], res["baseline"]
        assert run["stimuli"] == 6 and base["stimuli"] == 3
        assert run["tokens"] > 0 and base["tokens"] > 0
        assert 0 < run["peak_fraction"] and run["tflops"] > 0
        assert abs(res["ratio"]["stimuli_per_s"] - run["stimuli_per_s"] / base["stimuli_per_s"]) < 1e-9
    assert "| prompt | runner |" in bench.markdown(report)
