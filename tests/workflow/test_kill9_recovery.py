"""Kill -9 at random points of a (reduced) demo run, recover with the documented commands, compare.

The recovery is README's ``make recover``: ``snakemake --unlock``, ``python -m
brainalign.store_check --rerun`` (remakes damaged or missing stores), then the same
workflow command with ``--rerun-incomplete``. Every time, the final tables must be
byte-identical to those of a run that was never interrupted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"
N_KILLS = 3  # kill points at most; the loop stops early once BUDGET_S is used (at least one kill)
BUDGET_S = 240
TABLES = ["alignment", "residual", "partition", "stats"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def reduced_config() -> dict:
    """The image half of the demo with two models: every rule kind, about a minute per run."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    images = cfg["datasets"]["demo-images"]
    cfg["datasets"] = {"demo-images": images}
    images["synthetic"].update(n_images=200, n_test=40)
    keep = {"vit-tiny", "minilm"}
    images["models"] = [m for m in images["models"] if m in keep]
    images["instructions"] = []
    for roi in images["synthetic"]["rois"].values():
        roi["drivers"] = [d for d in roi.get("drivers", []) if d["model"] in keep]
    cfg["residual"] = [r for r in cfg.get("residual", []) if {r["target"]["model"], r["remove"]["model"]} <= keep]
    cfg["partition"] = [p for p in cfg.get("partition", []) if {p["a"]["model"], p["b"]["model"]} <= keep]
    cfg["stats"].update(n_permutations=20, n_bootstrap=100)
    return cfg


def command(workdir: Path, *extra: str) -> list[str]:
    """The workflow up to the tables (figures and report add nothing to what is compared)."""
    targets = [f"results/demo-images/tables/{t}.tsv" for t in TABLES]
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(workdir / "config.yaml"), "--cores", "2", *extra, *targets]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run(cmd: list[str], cwd: Path) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=cwd, timeout=900)
    assert out.returncode == 0, " ".join(cmd) + "\n" + out.stdout[-3000:] + out.stderr[-3000:]


def recover(workdir: Path) -> None:
    """README's recovery after a hard kill."""
    run(command(workdir, "--unlock")[:-len(TABLES)], workdir)
    store_check = [sys.executable, "-m", "brainalign.store_check", "--configfile", "config.yaml", "--cores", "2"]
    subprocess.run([*store_check, "--rerun"], env=env(), cwd=workdir, capture_output=True, timeout=900)
    run(command(workdir, "--rerun-incomplete"), workdir)


def tables(workdir: Path) -> dict[str, bytes]:
    folder = workdir / "results" / "demo-images" / "tables"
    return {t: (folder / f"{t}.tsv").read_bytes() for t in TABLES}


def prepare(workdir: Path, cfg: dict) -> Path:
    workdir.mkdir(parents=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return workdir


def test_kill9_at_random_points_then_recovery_gives_identical_tables(tmp_path):
    cfg = reduced_config()
    straight = prepare(tmp_path / "straight", cfg)
    t0 = time.time()
    run(command(straight), straight)
    duration = time.time() - t0
    expected = tables(straight)
    rng = random.Random(7)
    start = time.time()
    for k in range(N_KILLS):
        if k and time.time() - start > BUDGET_S:
            break
        workdir = prepare(tmp_path / f"killed{k}", cfg)
        proc = subprocess.Popen(command(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(),
                                start_new_session=True)
        time.sleep(rng.uniform(0.15, 0.85) * duration)
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up: lock, partial stores and tables stay
        proc.wait(timeout=60)
        recover(workdir)
        assert tables(workdir) == expected, f"kill point {k}: tables differ from the uninterrupted run"
