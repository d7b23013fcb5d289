"""Hub-backed MLLM entries load offline from the Hugging Face cache (pretrained and random-init).

A tiny LLaVA is saved as a cached hub snapshot (``org/tiny-llava``, ``main`` ->
commit ``0123abc``); registry entries then name it by hub id like the real models.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from tiny_mllms import tiny_entry

from brainalign.features.loading import load_hf

COMMIT = "0123abc"
HUB = {"family": "mllm_image", "input": "image", "instruction_set": "image",
       "hub_id": "org/tiny-llava", "revision": "main",
       "model_class": "LlavaForConditionalGeneration", "dtype": "auto", "pooling": "mean"}


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc
    import transformers.utils.hub as th

    cache = tmp_path / "hub"
    for mod, attr in ((hc, "HF_HUB_CACHE"), (th, "TRANSFORMERS_CACHE")):
        monkeypatch.setattr(mod, attr, str(cache), raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, processor = load_hf(tiny_entry("llava"), "llava", torch.float32, False)
    repo = cache / "models--org--tiny-llava"
    model.save_pretrained(repo / "snapshots" / COMMIT)
    processor.save_pretrained(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    registry = tmp_path / "models.yaml"
    registry.write_text(yaml.safe_dump({"models": {
        "hub-llava": {**HUB, "init": "pretrained"},
        "hub-llava-random": {**HUB, "init": "random", "seed": 1},
        "llava-tiny": tiny_entry("llava"),
    }}))
    return registry


def test_pretrained_and_random_control_from_the_cache(hub_cache, extract, tmp_path):
    local = extract(tmp_path / "l", "llava-tiny", "VQ1", mode="prompt", models_yaml=hub_cache)
    hub = extract(tmp_path / "h", "hub-llava", "VQ1", mode="prompt", models_yaml=hub_cache)
    np.testing.assert_array_equal(hub.features.values, local.features.values)  # same weights
    assert hub.attrs["hub_id"] == "org/tiny-llava" and hub.attrs["revision"] == "main"
    assert hub.attrs["resolved_revision"] == COMMIT and hub.attrs["init"] == "pretrained"
    assert hub.attrs["prompt_template"] == tiny_entry("llava")["processor"]["chat_template"]

    control = extract(tmp_path / "r", "hub-llava-random", "VQ1", mode="prompt", models_yaml=hub_cache)
    assert control.attrs["init"] == "random"
    assert control.features.shape == hub.features.shape
    assert not np.allclose(control.features.values, hub.features.values)
    assert control.attrs["cache_key"] != hub.attrs["cache_key"]
