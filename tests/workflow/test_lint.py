"""The workflow follows the Snakemake catalog conventions: lint and format clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_snakemake_lint_has_no_findings():
    out = run("snakemake", "--lint")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_snakefmt_check_passes():
    out = run("snakefmt", "--check", "workflow")
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_rule_has_a_log_and_expensive_rules_a_benchmark():
    expensive = {"extract_features", "encode", "residualize", "partition", "simulate_brain"}
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for name, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)+)", text, flags=re.M):
            if name == "all":
                continue
            assert "    log:" in body, f"rule {name} in {smk.name} has no log"
            if name in expensive:
                assert "    benchmark:" in body, f"rule {name} in {smk.name} has no benchmark"
