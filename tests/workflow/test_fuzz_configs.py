"""Fuzz: generated bad configs and custom datasets are refused before any job runs.

A few hundred mutations of a valid config (missing keys, wrong types, out-of-range
values, traversal names, unknown keys) go through the validation the Snakefile
runs (``load_config``) in-process; a handful go through ``snakemake -n`` for real.
Each must fail with a message naming the key (or file), and nothing may be
written. Bad custom data (NaN, traversal ids, negative onsets, corrupt files)
must fail in the prepare functions naming the file, writing nothing outside
the results folder.
"""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from brainalign.config import ConfigError, load_config
from brainalign.datasets import custom

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
BAD_VALUES = [None, -1, 10**6, "", "../../x", "/etc", "NaN", 3.5, True, [], {}, ["a", "a"], "x" * 300,
              float("nan"), float("inf"), {"zz": 1}]


def leaves(node, path=()):
    """Every (path, value) of a nested config."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, path + (i,))
    yield path, node


def mutate(rng: random.Random) -> tuple[dict, tuple, object]:
    """One bad config: a value replaced, a key deleted, or an unknown key added."""
    cfg = copy.deepcopy(BASE)
    paths = [p for p, _ in leaves(cfg) if p]
    path = rng.choice(paths)
    parent = cfg
    for key in path[:-1]:
        parent = parent[key]
    action = rng.choice(["value", "value", "delete", "typo"])
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
        return cfg, path, "<deleted>"
    if action == "typo" and isinstance(parent, dict):
        parent[f"{path[-1]}x"] = parent[path[-1]]
        return cfg, path[:-1] + (f"{path[-1]}x",), "<typo>"
    value = rng.choice(BAD_VALUES)
    parent[path[-1]] = value
    return cfg, path, value


def is_fine(cfg: dict) -> bool:
    try:
        load_config(cfg, ROOT)
        return True
    except ConfigError:
        return False


def test_base_config_is_valid():
    assert is_fine(BASE)


def test_hundreds_of_bad_configs_are_refused_naming_the_key(tmp_path, monkeypatch):
    import functools

    import brainalign.config as config_module

    cached = functools.lru_cache(maxsize=None)(config_module.load_yaml)  # registries parsed once
    monkeypatch.setattr(config_module, "load_yaml", lambda path: copy.deepcopy(cached(Path(path))))
    monkeypatch.chdir(tmp_path)
    rng = random.Random(12)
    refused = accepted = 0
    for _ in range(400):
        cfg, path, value = mutate(rng)
        try:
            load_config(cfg, ROOT, source="study.yaml")
        except ConfigError as err:
            refused += 1
            message = str(err)
            assert message.startswith("study.yaml: "), message
            named = [str(p) for p in path if not isinstance(p, int)]
            # the message names the key (or, for a removed required key, its parent)
            assert any(part in message for part in named[-2:]) or "required" in message, (path, value, message)
            continue
        accepted += 1  # a mutation can be valid (e.g. deleting an optional key): it must then be sound
    assert refused > 250, (refused, accepted)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_bad_configs_through_snakemake_stop_before_any_job(tmp_path, seed):
    rng = random.Random(seed)
    while True:
        cfg, path, value = mutate(rng)
        if not is_fine(cfg):
            break
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    before = set(Path(tmp_path).parent.iterdir())
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow/Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(tmp_path / "bad.yaml"), "--cores", "1"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "ConfigError" in text and "bad.yaml" in text, text[-2000:]
    assert not (tmp_path / "results").exists()
    assert set(Path(tmp_path).parent.iterdir()) == before


def custom_events(raw: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    ids = [f"s{i}" for i in range(4)]
    pd.DataFrame({"stimulus_id": ids, "text": ["a cat"] * 4, "split": ["train", "train", "test", "test"]}).to_csv(
        raw / "stimuli.tsv", sep="\t", index=False)
    (raw / "sub-01").mkdir(exist_ok=True)
    np.save(raw / "sub-01/responses.npy", np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    pd.DataFrame({"stimulus_id": ids}).to_csv(raw / "sub-01/samples.tsv", sep="\t", index=False)
    np.savez(raw / "rois.npz", A=np.array([1, 1, 0]))


def break_stimuli(raw: Path, rng: random.Random) -> str:
    table = pd.read_csv(raw / "stimuli.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = rng.randrange(len(table))
    kind = rng.choice(["id", "path", "dup", "split", "empty"])
    if kind == "id":
        table.loc[row, "stimulus_id"] = rng.choice(["../../../ESCAPED", "/abs", ".hid", "a b", "a/b", ""])
    elif kind == "path":
        table["path"] = ""
        table.loc[row, "path"] = rng.choice(["../../outside.png", "/etc/passwd", "sub/../../x.png"])
    elif kind == "dup":
        table.loc[row, "stimulus_id"] = table.loc[(row + 1) % len(table), "stimulus_id"]
    elif kind == "split":
        table.loc[row, "split"] = rng.choice(["val", "", "TEST"])
    else:
        table = table.iloc[0:0]
    table.to_csv(raw / "stimuli.tsv", sep="\t", index=False)
    return "stimuli.tsv"


def break_brain(raw: Path, rng: random.Random) -> str:
    kind = rng.choice(["nan", "inf", "rois", "empty_roi", "samples", "shape"])
    if kind in ("nan", "inf"):
        resp = np.load(raw / "sub-01/responses.npy")
        resp[rng.randrange(4), rng.randrange(3)] = np.nan if kind == "nan" else np.inf
        np.save(raw / "sub-01/responses.npy", resp)
        return "responses.npy"
    if kind == "rois":
        (raw / "rois.npz").write_bytes(b"PK\x03\x04garbage")
        return "rois.npz"
    if kind == "empty_roi":
        np.savez(raw / "rois.npz", A=np.array([0, 0, 0]))
        return "rois.npz"
    if kind == "samples":
        (raw / "sub-01/samples.tsv").write_text("stimulus_id\n")
        return "samples.tsv"
    np.savez(raw / "rois.npz", A=np.array([1, 0]))
    return "rois.npz"


def test_hundreds_of_bad_custom_datasets_are_refused_naming_the_file(tmp_path):
    rng = random.Random(3)
    for i in range(200):
        case = tmp_path / f"c{i}"
        raw, res = case / "raw", case / "work" / "results" / "ds"
        custom_events(raw)
        stage = rng.choice(["stimuli", "brain"])
        named = break_stimuli(raw, rng) if stage == "stimuli" else break_brain(raw, rng)
        before = {p for p in case.rglob("*")}
        with pytest.raises(custom.CustomDataError) as err:
            custom.prepare_stimuli(raw, {"design": "events"}, ["sub-01"], res / "stimuli.tsv", res / "stimuli")
            custom.prepare_brain(raw, {"design": "events"}, "sub-01", res / "stimuli.tsv", res / "brain/sub-01.zarr")
        assert named in str(err.value) or "sub-01" in str(err.value), (named, str(err.value))
        assert not (res / "brain/sub-01.zarr").exists()
        results = case / "work/results"
        outside = {p for p in case.rglob("*") if p not in before and not p.is_relative_to(results)
                   and not results.is_relative_to(p)}
        assert not outside, outside
