"""MLLM tower streams (vision, audio): every tower hidden state, no instruction.

Each architecture is a tiny randomly initialised instance of the real transformers
class (tests/features/tiny_mllms.py). The reference is computed here, one stimulus
at a time, from the tower as the MLLM itself calls it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tiny_mllms import BUILDERS, tiny_entry

from brainalign.config import instructions_for, read_instructions, read_models
from brainalign.features import extract_features
from brainalign.features.extractors import to_device
from brainalign.features.inputs import decode, read_table, select_stimuli
from brainalign.features.loading import load_hf
from brainalign.features.mllm import MLLMCollator, render_prompt
from brainalign.features.mllm_towers import find_tower
from brainalign.features.registry import RegistryError, check_entry, load_registry

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "config" / "models.yaml"
INSTRUCTIONS = REPO / "config" / "instructions.yaml"
STREAM = {"image": "vision", "video": "vision", "audio": "audio"}
ARCHS = sorted(BUILDERS)


def _stream(arch: str) -> str:
    return STREAM[tiny_entry(arch)["input"]]


@pytest.fixture(scope="module")
def tower_yaml(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("reg") / "models.yaml"
    models = {f"{a}-{_stream(a)}": tiny_entry(a, stream=_stream(a)) for a in ARCHS}
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return str(path)


def _n_layers(tower: torch.nn.Module) -> int:
    cfg = tower.config
    for key in ("num_hidden_layers", "encoder_layers", "depth"):
        if getattr(cfg, key, None):
            return int(getattr(cfg, key))
    raise AssertionError(f"no layer count in {type(cfg).__name__}")


def _hook_states(first, blocks, run) -> list[torch.Tensor]:
    states: list[torch.Tensor] = []
    if first is None:
        hooks = [blocks[0].register_forward_pre_hook(lambda m, a: states.append(a[0]))]
    else:
        hooks = [first.register_forward_hook(lambda m, a, o: states.append(o))]
    out = lambda m, a, o: states.append(o[0] if isinstance(o, tuple) else o)  # noqa: E731
    hooks += [b.register_forward_hook(out) for b in blocks]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return states


def _reference(model, tower, batch: dict) -> np.ndarray:
    """(state, unit) of one stimulus: the tower run as the MLLM runs it, mean over its tokens."""
    name = type(tower).__name__
    with torch.inference_mode():
        if name == "Qwen2_5_VisionTransformerPretrainedModel":
            states = _hook_states(tower.patch_embed, tower.blocks, lambda: tower(
                batch["pixel_values_videos"], grid_thw=batch["video_grid_thw"]))
            return torch.stack([s.mean(dim=0) for s in states]).numpy()
        if name == "Qwen2AudioEncoder":  # the full model's forward, its own padding mask
            real = int(batch["feature_attention_mask"].sum())
            frames = (real - 1) // 2 + 1
            tower.config.output_hidden_states = True
            seen: list = []
            hook = tower.register_forward_hook(lambda m, a, o: seen.append(o.hidden_states))
            try:
                model(**batch)
            finally:
                hook.remove()
                tower.config.output_hidden_states = False
            states = seen[0]
            lens = [frames] * (len(states) - 1) + [(frames - 2) // 2 + 1]  # last: avg-pooled
            return torch.stack([s[0, :n].mean(dim=0) for s, n in zip(states, lens)]).numpy()
        if name == "Qwen2_5OmniAudioEncoder":  # the thinker's forward: unpadded frames only
            states = _hook_states(None, tower.layers, lambda: model(**batch))
            return torch.stack([s.mean(dim=0) for s in states]).numpy()
        pixels = batch.get("pixel_values_videos", batch.get("pixel_values"))
        pixels = pixels.reshape(-1, *pixels.shape[-3:])  # frames (or images) of this stimulus
        states = tower(pixel_values=pixels, output_hidden_states=True).hidden_states
        return torch.stack([s.mean(dim=(0, 1)) for s in states]).numpy()


@pytest.mark.parametrize("arch", ARCHS)
def test_tower_stream(arch, dataset, extract, tmp_path, tower_yaml):
    stream = _stream(arch)
    entry = tiny_entry(arch, stream=stream)
    name = f"{arch}-{stream}"
    ds = extract(tmp_path / "a", name, "none", models_yaml=tower_yaml)
    feats = ds.features.values

    model, processor = load_hf(entry, name, torch.float32, False)  # same seed: same weights
    tower = find_tower(model, stream, entry["input"])
    tsv, root = dataset
    stimuli = select_stimuli(read_table(tsv), entry["input"])
    assert ds.stimulus_id.values.tolist() == [s.stimulus_id for s in stimuli]
    assert feats.shape == (_n_layers(tower) + 1, len(stimuli), tower.config.hidden_size
                           if hasattr(tower.config, "hidden_size") else tower.config.d_model)
    assert list(ds.layer.values) == list(range(feats.shape[0]))  # one entry per hidden state
    assert np.isfinite(feats).all()
    assert (feats[-1].std(axis=0) > 0).any(), "features do not depend on the stimulus"
    assert ds.attrs["stream"] == stream and ds.attrs["mode"] == "none"
    assert ds.attrs["instruction"] == "none" and ds.attrs["tower"] == type(tower).__name__

    again = extract(tmp_path / "b", name, "none", models_yaml=tower_yaml)
    np.testing.assert_array_equal(again.features.values, feats)  # deterministic

    # reference: one stimulus at a time, a different prompt (the tower must not see it)
    _, prompt = render_prompt(processor, {**entry, "_name": name}, "Describe it in detail.")
    fe = getattr(processor, "feature_extractor", None)
    rate = int(entry.get("sampling_rate") or getattr(fe, "sampling_rate", 16000))
    collate = MLLMCollator(processor, entry["input"], prompt, rate, entry.get("processor_arg"),
                           entry.get("processor_kwargs"))
    for j, s in enumerate(stimuli):
        raw = decode(s, root, entry["input"], rate=rate, frames=int(entry.get("frames") or 16))
        batch = to_device(collate([raw]), torch.device("cpu"), torch.float32)
        np.testing.assert_allclose(feats[:, j], _reference(model, tower, batch), rtol=1e-4,
                                   atol=1e-5, err_msg=f"{name}, stimulus {s.stimulus_id}")


def test_tower_entries_take_no_instruction(dataset, tmp_path):
    models = read_models(MODELS)
    ds = {"instructions": ["IC", "VQ1", "AR1", "AU1"]}
    sets = read_instructions(INSTRUCTIONS)
    for tower, joint in (("llava-1.5-7b-vision", "llava-1.5-7b"),
                         ("video-llava-7b-vision", "video-llava-7b"),
                         ("qwen2-audio-7b-audio", "qwen2-audio-7b")):
        assert instructions_for(ds, models, sets, tower) == ["none"]
        assert instructions_for(ds, models, sets, joint) != ["none"]
    with pytest.raises(RegistryError, match="set instruction_set: null"):
        check_entry("x-vision", {**models["llava-1.5-7b-vision"], "instruction_set": "image"})
    with pytest.raises(RegistryError, match="stream='audio'"):
        check_entry("x-audio", {**models["llava-1.5-7b-vision"], "stream": "audio"})
    tsv, root = dataset
    with pytest.raises(RegistryError, match="instruction 'none'"):
        extract_features(tsv, root, "llava-1.5-7b-vision", "IC", tmp_path / "x.zarr", MODELS,
                         INSTRUCTIONS, device="cpu")


TOWERS = {"llava-1.5-7b-vision": "llava-1.5-7b", "instructblip-7b-vision": "instructblip-7b",
          "idefics-9b-instruct-vision": "idefics-9b-instruct",
          "video-llava-7b-vision": "video-llava-7b", "qwen2.5-vl-7b-vision": "qwen2.5-vl-7b",
          "qwen2-audio-7b-audio": "qwen2-audio-7b"}


@pytest.mark.parametrize("name", sorted(TOWERS))
def test_tower_entries_share_their_parent(name):
    registry = load_registry(MODELS)
    entry, parent = registry[name], registry[TOWERS[name]]
    assert entry["stream"] == ("audio" if parent["family"] == "mllm_audio" else "vision")
    assert entry["instruction_set"] is None and parent.get("stream", "joint") == "joint"
    for key in ("family", "input", "hub_id", "revision", "model_class", "frames", "prompt_template",
                "processor_arg", "processor_kwargs", "sampling_rate"):
        assert entry.get(key) == parent.get(key), f"{name}: {key} differs from {TOWERS[name]}"
