"""Models whose code is not installed: off by default, pinned revision, own environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tiny_models import check_store, expected_ids, real_entry, run_twice

from brainalign.features.loading import ModelLoadError
from brainalign.features.registry import RegistryError
from brainalign.features.remote import COMMIT

MODELING = '''
import torch
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput


class TinyCodeConfig(PretrainedConfig):
    model_type = "tiny_code"

    def __init__(self, hidden_size=16, num_layers=2, patch=8, **kw):
        super().__init__(**kw)
        self.hidden_size, self.num_layers, self.patch = hidden_size, num_layers, patch


class TinyCodeModel(PreTrainedModel):
    config_class = TinyCodeConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = torch.nn.Conv2d(3, config.hidden_size, config.patch, config.patch)
        self.blocks = torch.nn.ModuleList(
            torch.nn.Linear(config.hidden_size, config.hidden_size) for _ in range(config.num_layers))

    def forward(self, pixel_values, output_hidden_states=False, **kw):
        h = self.embed(pixel_values).flatten(2).transpose(1, 2)
        states = [h]
        for b in self.blocks:
            h = torch.tanh(b(h))
            states.append(h)
        return BaseModelOutput(last_hidden_state=h, hidden_states=tuple(states))
'''


def _code_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "modeling_tiny_code.py").write_text(MODELING)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "tiny_code", "hidden_size": 16, "num_layers": 2, "patch": 8,
        "auto_map": {"AutoConfig": "modeling_tiny_code.TinyCodeConfig",
                     "AutoModel": "modeling_tiny_code.TinyCodeModel"}}))
    return folder


def _registry(tmp_path: Path, **over) -> Path:
    entry = {"family": "remote", "backend": "hf_remote_code", "input": "image",
             "instruction_set": None, "local_path": str(_code_model(tmp_path / "code")),
             "trust_remote_code": True, "revision": "0123456789abcdef0123456789abcdef01234567",
             "init": "random", "seed": 0, "pooling": "mean",
             "processor": {"class": "ViTImageProcessor", "size": {"height": 32, "width": 32}}}
    entry.update(over)
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": {"code-model": entry}}))
    return path


def test_remote_code_runs_only_with_opt_in(dataset, extract, tmp_path):
    reg = _registry(tmp_path)
    with pytest.raises(RegistryError, match="allow_remote_code"):
        extract(tmp_path / "off", "code-model", models_yaml=reg)
    ds = run_twice(extract, tmp_path, "code-model", reg, allow_remote_code=True)
    check_store(ds, expected_ids(dataset[0], "image"), 3, 16)


def test_remote_code_needs_a_pinned_commit(extract, tmp_path):
    reg = _registry(tmp_path, revision="main")
    with pytest.raises(RegistryError, match="not a pinned commit"):
        extract(tmp_path, "code-model", models_yaml=reg, allow_remote_code=True)


@pytest.mark.parametrize("name,instruction,env", [
    ("merlot-reserve-joint", "none", "envs/merlot-reserve.yaml"),
    ("merlot-reserve-tvqa-joint-language-only", "none", "envs/merlot-reserve.yaml"),
    ("mplug-owl-7b", "IC", "envs/mplug-owl.yaml"),
])
def test_own_environment_models_are_gated(extract, tmp_path, name, instruction, env):
    entry = real_entry(name)
    assert entry["environment"] == env and (Path(__file__).parents[2] / env).exists()
    with pytest.raises(RegistryError, match="allow_remote_code"):
        extract(tmp_path / "a", name, instruction)
    assert COMMIT.match(str(entry["code_revision"]))  # the upstream code commit is pinned
    if entry.get("hub_id") and not COMMIT.match(str(entry["revision"])):  # hub commit to pin
        with pytest.raises(RegistryError) as err:
            extract(tmp_path / "b", name, instruction, allow_remote_code=True)
        assert str(err.value) == (f"config/models.yaml: models.{name}.revision is None, not a "
                                  f"pinned commit of hub repository {entry['hub_id']}; set it "
                                  "to the commit hash")
    pinned = tmp_path / "models.yaml"
    pinned.write_text(yaml.safe_dump({"models": {name: {**entry, "revision": "a" * 40}}}))
    with pytest.raises(ModelLoadError, match=env):
        extract(tmp_path / "c", name, instruction, models_yaml=pinned, allow_remote_code=True)
