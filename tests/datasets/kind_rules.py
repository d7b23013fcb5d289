"""Run one dataset kind's Snakemake rules (with common.smk) on a small config in a test folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = """
include: "{root}/workflow/rules/common.smk"
include: "{root}/workflow/rules/{rules}"
rule all:
    input:
        [f"{{RESULTS}}/{{d}}/brain/{{s}}.zarr" for d in config["datasets"] for s in subjects(d)],
        [f"{{RESULTS}}/{{d}}/stimuli.tsv" for d in config["datasets"]],
"""


def write_workflow(workdir: Path, rules: str, datasets: dict) -> Path:
    """A Snakefile of the rule file ``rules`` and a config of ``datasets`` (results in ``results/``)."""
    (workdir / "Snakefile").write_text(SNAKEFILE.format(root=ROOT, rules=rules))
    (workdir / "config.yaml").write_text(yaml.safe_dump({"results": "results", "datasets": datasets}))
    return workdir


def snakemake(workdir: Path, *args: str, isolated: bool = False) -> subprocess.CompletedProcess:
    """Run the test workflow (``--cores 2``); ``isolated``: a bare environment with ``HOME`` in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(workdir / "Snakefile"), "--configfile",
           str(workdir / "config.yaml"), "--directory", str(workdir), "--cores", "2", *args]
    env = None
    if isolated:
        env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "HOME": str(workdir),
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
