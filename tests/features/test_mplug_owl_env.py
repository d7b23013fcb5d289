"""mPLUG-Owl in its own environment, on a tiny random model built with the upstream code.

Needs the environment (``make env-mplug-owl``) and upstream ``mplug_owl`` at 21ff9b0
(``MPLUG_OWL_SRC``: the folder that contains the ``mplug_owl`` package, i.e.
``mPLUG-Owl/mPLUG-Owl`` of a checkout); skipped, saying which is missing, otherwise.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import INSTRUCTIONS_YAML
from tiny_models import real_entry

from brainalign.envs import env_python
from brainalign.features.environment import extract_in
from brainalign.stores import read_store

ROOT = Path(__file__).resolve().parents[2]
PYTHON = Path(env_python("mplug-owl", ".envs"))
SRC = os.environ.get("MPLUG_OWL_SRC", "")

pytestmark = [
    pytest.mark.skipif(not PYTHON.exists(), reason=f"{PYTHON} missing: make env-mplug-owl"),
    pytest.mark.skipif(not (Path(SRC) / "mplug_owl").is_dir(),
                       reason="MPLUG_OWL_SRC does not point at upstream mplug_owl (X-PLUG/mPLUG-Owl@21ff9b0)"),
]


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("mplug")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(ROOT / "src")])}
    subprocess.run([str(PYTHON), str(Path(__file__).with_name("mplug_owl_tiny.py")), str(root / "model")],
                   check=True, env=env, capture_output=True)
    entry = {**real_entry("mplug-owl-7b"), "local_path": str(root / "model"), "dtype": "float32",
             "revision": "21ff9b0bd301fa8d7be107a5ed85b34278eca64f"}
    entry.pop("hub_id")
    path = root / "models.yaml"
    path.write_text(yaml.safe_dump({"models": {"mplug-owl-tiny": entry}}))
    return path


@pytest.mark.parametrize("mode", ["prompt", "response"])
def test_adapter_runs_in_its_environment(tiny_registry, dataset, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("PYTHONPATH", SRC)
    tsv, root = dataset
    out = extract_in(str(PYTHON), stimuli_tsv=tsv, stimuli_root=root, model="mplug-owl-tiny",
                     instruction="IC", output=tmp_path / "f.zarr", models_yaml=tiny_registry,
                     instructions_yaml=INSTRUCTIONS_YAML, device="cpu", batch_size=2, mode=mode,
                     max_new_tokens=4, allow_remote_code=True)
    ds = read_store(out, "features")
    assert ds.features.shape[0] == 3 and ds.features.shape[2] == 32  # embeddings + 2 layers
    assert float(ds.features.std()) > 0
    assert "4.28.1" in str(ds.attrs["versions"])  # transformers of the environment
