"""Models with their own environment: the registry entry names it, extraction runs there.

A stand-in environment (a venv of its own, seeing this interpreter's packages through a
.pth file, with brainalign as ``make env-NAME`` installs it) plays ``mplug-owl``; the
stand-in adapter refuses to run anywhere else and
wraps the tiny random ViT of the registry, so its features must equal an in-process run.
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import INSTRUCTIONS_YAML, MODELS_YAML
from tiny_models import real_entry

from brainalign.envs import env_python, install_library
from brainalign.features.environment import extract_in, model_environment, model_python
from brainalign.stores import read_store

ADAPTER = '''
import os
import sys


def build_extractor(request):
    if sys.prefix != os.environ["STANDIN_PREFIX"]:
        raise RuntimeError(f"stand-in adapter ran in {sys.prefix}")
    from dataclasses import replace

    from brainalign.features.registry import get_model, load_registry
    from brainalign.features.runner import build_extractor as build

    vit = get_model(load_registry(os.environ["STANDIN_MODELS"]), "vit-tiny")
    return build(replace(request, name="vit-tiny", entry=vit))
'''


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """(envs_dir, registry, adapter folder) with envs_dir/mplug-owl a stand-in venv."""
    root = tmp_path_factory.mktemp("own-env")
    prefix = root / "envs" / "mplug-owl"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    lib = next(prefix.glob("lib/python3*/site-packages"))
    (lib / "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install_library(prefix / "bin" / "python")  # as `make env-mplug-owl` does
    (root / "adapter").mkdir()
    (root / "adapter" / "standin_adapter.py").write_text(ADAPTER)
    entry = {"family": "remote", "backend": "external", "environment": "mplug-owl",
             "adapter": "standin_adapter:build_extractor", "input": "image",
             "instruction_set": None, "weights_url": "https://example.invalid/none",
             "trust_remote_code": True, "code_revision": "21ff9b0bd301fa8d7be107a5ed85b34278eca64f",
             "init": "pretrained", "layers": "all", "pooling": "mean"}
    registry = root / "models.yaml"
    registry.write_text(yaml.safe_dump({"models": {"standin-remote": entry,
                                                   "vit-tiny": real_entry("vit-tiny")}}))
    return root / "envs", registry, root / "adapter"


def test_registry_entries_name_their_environment():
    assert model_environment(MODELS_YAML, "mplug-owl-7b") == "mplug-owl"
    assert model_environment(MODELS_YAML, "merlot-reserve-joint") == "merlot-reserve"
    assert model_environment(MODELS_YAML, "vit-tiny") is None
    assert model_python(MODELS_YAML, "vit-tiny", ".envs") == sys.executable
    assert model_python(MODELS_YAML, "mplug-owl-7b", "/e").endswith("/e/mplug-owl/bin/python")


def test_remote_entry_extracts_in_its_own_environment(standin, dataset, tmp_path, monkeypatch):
    envs_dir, registry, adapter = standin
    tsv, root = dataset
    python = model_python(registry, "standin-remote", envs_dir)
    assert python == str(envs_dir / "mplug-owl" / "bin" / "python") != sys.executable
    monkeypatch.setenv("STANDIN_PREFIX", str(envs_dir / "mplug-owl"))
    monkeypatch.setenv("STANDIN_MODELS", str(registry))
    monkeypatch.setenv("PYTHONPATH", str(adapter))
    common = dict(stimuli_tsv=tsv, stimuli_root=root, instruction="none", models_yaml=registry,
                  instructions_yaml=INSTRUCTIONS_YAML, device="cpu", batch_size=3)
    own = extract_in(python, model="standin-remote", output=tmp_path / "own.zarr",
                     allow_remote_code=True, **common)
    here = extract_in(sys.executable, model="vit-tiny", output=tmp_path / "here.zarr", **common)
    a, b = read_store(own, "features"), read_store(here, "features")
    assert a.features.shape == b.features.shape
    np.testing.assert_allclose(a.features.values, b.features.values, rtol=1e-5, atol=1e-6)
    # In this process the stand-in adapter refuses to run.
    monkeypatch.syspath_prepend(str(adapter))
    with pytest.raises(RuntimeError, match="stand-in adapter ran in"):
        extract_in(sys.executable, model="standin-remote", output=tmp_path / "x.zarr",
                   allow_remote_code=True, **common)


def test_missing_environment_names_its_make_target(tmp_path, dataset):
    tsv, root = dataset
    python = env_python("mplug-owl", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"make env-mplug-owl"):
        extract_in(python, stimuli_tsv=tsv, stimuli_root=root, model="mplug-owl-7b",
                   instruction="IC", output=tmp_path / "o.zarr")
