"""Rerun triggers and remaking lost stores, through Snakemake on a tiny workflow.

Wrong behaviours 4 (replaced raw files not picked up), 5 (registry and instruction
edits rerun nothing; batch size, memory and bootstrap counts rerun everything) and
6 (a deleted intermediate store never remade).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TINY = {
    "results": "results",
    "datasets": {"tiny": {
        "kind": "synthetic", "subjects": ["sub-01"], "models": ["vit-tiny"],
        "synthetic": {"design": "images", "seed": 1, "n_images": 40, "n_test": 10, "n_sessions": 3, "repeats": 2,
                      "image_size": 32, "voxels_per_roi": 5,
                      "rois": {"EV": {"noise_sd": 1.0, "drivers": [{"model": "vit-tiny", "layer": 1}]},
                               "NOISE": {"noise_sd": 1.0}}}}},
    "features": {"device": "cpu", "batch_size": 8},
    "encoding": {"alphas": {"min_exp": -1, "max_exp": 3, "num": 5}, "n_folds": 3, "n_iter": 2},
    "stats": {"n_permutations": 5, "n_bootstrap": 20},
}


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}


def snakemake(workdir: Path, config: str, *args: str, check: bool = True) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
           "--configfile", str(workdir / config), "--cores", "2", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=600)
    if check:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def planned(workdir: Path, config: str = "config.yaml", *args: str) -> dict[str, int]:
    text = snakemake(workdir, config, *args, "-n", "--quiet", "rules")
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.M) if m[1] != "total"}


def write_config(workdir: Path, cfg: dict, name: str = "config.yaml") -> None:
    (workdir / name).write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, TINY)
    snakemake(workdir, "config.yaml")
    assert planned(workdir) == {}
    return workdir


def variant(workdir: Path, section: str, key: str, value) -> str:
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg[section][key] = value
    write_config(workdir, cfg, "variant.yaml")
    return "variant.yaml"


@pytest.mark.parametrize("section,key,value", [("features", "batch_size", 3), ("features", "num_workers", 0),
                                               ("features", "mem_mb", 999), ("encoding", "mem_mb", 999)])
def test_5_runtime_settings_rerun_nothing(tiny, section, key, value):
    assert planned(tiny, variant(tiny, section, key, value)) == {}


def test_5_bootstrap_count_reruns_only_the_statistics(tiny):
    # the statistics table and what is drawn or written from it; no fit, no extraction
    assert set(planned(tiny, variant(tiny, "stats", "n_bootstrap", 21))) <= {"stats", "figure", "headlines", "all"}
    assert planned(tiny, variant(tiny, "stats", "n_bootstrap", 21))["stats"] == 1


def test_5_output_settings_rerun_their_jobs(tiny):
    assert planned(tiny, variant(tiny, "features", "dtype", "float16"))["extract_features"] == 1
    assert planned(tiny, variant(tiny, "encoding", "n_folds", 4))["encode"] == 1


def test_5_registry_entry_edit_reruns_the_extraction(tiny):
    text = (ROOT / "config/models.yaml").read_text()
    start = text.index("  vit-tiny:")
    at = text.index("pooling: mean", start)
    (tiny / "models.yaml").write_text(text[:at] + "pooling: cls" + text[at + len("pooling: mean"):])
    jobs = planned(tiny, "config.yaml", "--config", f"models_registry={tiny / 'models.yaml'}")
    assert jobs["extract_features"] == 1 and jobs["encode"] == 1
    # the same entry from another file reruns nothing: the entry counts, not its file
    (tiny / "same.yaml").write_text(text)
    assert planned(tiny, "config.yaml", "--config", f"models_registry={tiny / 'same.yaml'}") == {}


def test_5_instruction_text_is_a_dependency_of_the_feature_store(tiny):
    from brainalign.config import load_config
    from brainalign.rerun import feature_job_params

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    loaded = load_config(cfg, ROOT)
    before = feature_job_params(loaded, "llava-tiny", "IC")
    loaded["registry"].instructions["image"]["IC"] = "Describe the picture in one word."
    after = feature_job_params(loaded, "llava-tiny", "IC")
    assert before["instruction_text"] != after["instruction_text"]
    assert after["instruction_text"] == "Describe the picture in one word."


def test_6_deleted_intermediate_store_is_named_and_remade(tiny):
    import shutil

    tables = {p.name: p.read_bytes() for p in (tiny / "results/tiny/tables").glob("*.tsv")}
    store = tiny / "results/tiny/encoding/sub-01/vit-tiny/none.zarr"
    shutil.rmtree(store)
    text = snakemake(tiny, "config.yaml", "-n")
    assert "results/tiny/encoding/sub-01/vit-tiny/none.zarr" in text and "make recover" in text
    out = subprocess.run([sys.executable, "-m", "brainalign.store_check", "--configfile", "config.yaml",
                          "--rerun", "--cores", "2"], cwd=tiny, capture_output=True, text=True, env=env(),
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "1 of 3 stores to remake" in out.stdout
    assert store.is_dir()
    assert {p.name: p.read_bytes() for p in (tiny / "results/tiny/tables").glob("*.tsv")} == tables
    assert planned(tiny) == {}


def custom_raw(raw: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    ids = [f"img{i}" for i in range(6)]
    for i in ids:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(raw / f"{i}.png")
    pd.DataFrame({"stimulus_id": ids, "path": [f"{i}.png" for i in ids],
                  "split": ["train"] * 4 + ["test"] * 2}).to_csv(raw / "stimuli.tsv", sep="\t", index=False)
    (raw / "sub-01").mkdir(exist_ok=True)
    np.save(raw / "sub-01/responses.npy", np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32))
    pd.DataFrame({"stimulus_id": ids}).to_csv(raw / "sub-01/samples.tsv", sep="\t", index=False)
    np.savez(raw / "rois.npz", A=np.array([1, 1, 0, 0]), B=np.array([0, 1, 1, 1]))


def test_4_replaced_raw_files_rerun_the_data_rules(tmp_path):
    custom_raw(tmp_path / "raw")
    cfg = {"datasets": {"mine": {"kind": "custom", "subjects": ["sub-01"], "models": ["vit-tiny"], "raw_dir": "raw",
                                 "custom": {"design": "events"}}}}
    write_config(tmp_path, cfg)
    target = "results/mine/brain/sub-01.zarr"
    snakemake(tmp_path, "config.yaml", target)
    assert planned(tmp_path, "config.yaml", target) == {}
    np.save(tmp_path / "raw/sub-01/responses.npy", np.ones((6, 4), np.float32))
    assert planned(tmp_path, "config.yaml", target) == {"custom_brain": 1}
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "raw/img3.png")
    assert planned(tmp_path, "config.yaml", target) == {"custom_stimuli": 1, "custom_brain": 1}
