"""Two studies, one feature cache: study C after study A links A's features.

Both studies use the same synthetic image stimuli (same generator settings) in their own
results folders; C shares one model with A. Only the stimuli and feature stores are built.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATASET = "demo-images"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def study(workdir: Path, name: str, models: list[str]) -> tuple[Path, list[str]]:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    images = cfg["datasets"][DATASET]
    images.update(models=models, instructions=[])
    images["synthetic"].update(n_images=24, n_test=6, rois={"NOISE": {"noise_sd": 1.0}})
    cfg.update(results=f"results/{name}", datasets={DATASET: images}, residual=[], partition=[])
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    targets = [f"results/{name}/{DATASET}/features/{m}/none.zarr" for m in models]
    return path, targets


def run(workdir: Path, config: Path, targets: list[str]) -> str:
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile"),
                          "--directory", str(workdir), "--configfile", str(config), "--cores", "2",
                          *targets], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def test_study_c_links_the_features_study_a_extracted(tmp_path):
    config_a, targets_a = study(tmp_path, "study_a", ["vit-tiny"])
    config_c, targets_c = study(tmp_path, "study_c", ["vit-tiny", "minilm"])
    run(tmp_path, config_a, targets_a)
    cache = tmp_path / "results" / "feature_cache"
    assert len(list(cache.glob("*.zarr"))) == 1
    run(tmp_path, config_c, targets_c)
    logs = tmp_path / "results" / "study_c" / "logs" / "extract_features" / DATASET
    shared = (logs / "vit-tiny" / "none.log").read_text()
    assert "linked from the feature cache" in shared
    assert "linked from the feature cache" not in (logs / "minilm" / "none.log").read_text()
    a = tmp_path / targets_a[0] / "features"
    c = tmp_path / targets_c[0] / "features"
    files = [f for f in a.rglob("*") if f.is_file()]
    assert files and all(os.path.samefile(f, c / f.relative_to(a)) for f in files)
    assert len(list(cache.glob("*.zarr"))) == 2
