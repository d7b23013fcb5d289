"""Failures name what failed and leave no finished store behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_models import tiny_registry

from brainalign.features.inputs import StimulusError
from brainalign.features.loading import ModelLoadError
from brainalign.features.registry import RegistryError
from test_image_encoders import VIT, VIT_PROC


def _no_store(out: Path) -> None:
    assert not (out / ".zattrs").exists() and not (out / "zarr.json").exists()


def test_unknown_model_is_named(extract, tmp_path):
    with pytest.raises(RegistryError, match="'no-such-model' is not in the model registry"):
        extract(tmp_path, "no-such-model")
    _no_store(tmp_path / "no-such-model-none.zarr")


@pytest.mark.parametrize("entry", [
    {"family": "image", "input": "image", "instruction_set": None,
     "hub_id": "brainalign-test/not-on-any-hub", "revision": "main"},
    {"family": "image", "input": "image", "instruction_set": None, "init": "random",
     "hub_id": "brainalign-test/not-on-any-hub", "revision": "main"},
    {"family": "clip", "backend": "open_clip", "arch": "ViT-B-32", "input": "image",
     "instruction_set": None, "hub_id": "brainalign-test/not-on-any-hub", "revision": "main"},
    {"family": "imagebind", "input": "image", "instruction_set": None,
     "local_path": "/nonexistent/imagebind_huge.pth"},
])
def test_unloadable_source_is_named(extract, tmp_path, entry):
    import yaml

    reg = tmp_path / "models.yaml"
    reg.write_text(yaml.safe_dump({"models": {"offline-model": entry}}))
    with pytest.raises(ModelLoadError, match="offline-model") as err:
        extract(tmp_path, "offline-model", models_yaml=reg)
    where = entry.get("hub_id") or entry["local_path"]
    assert where in str(err.value)
    _no_store(tmp_path / "offline-model-none.zarr")


@pytest.mark.parametrize("model,modality,suffix", [("vit", "image", ".png"),
                                                   ("w2v", "audio", ".wav")])
def test_undecodable_stimulus_is_named(dataset, extract, tmp_path, model, modality, suffix):
    import pandas as pd

    from brainalign.features import extract_features
    from test_audio_encoders import CASES as AUDIO

    tsv, root = dataset
    copy = tmp_path / "ds"
    shutil.copytree(root, copy)
    table = pd.read_csv(copy / "stimuli.tsv", sep="\t", dtype=str, keep_default_na=False)
    bad = table.loc[table.modality == modality].iloc[1]
    (copy / bad["path"]).write_bytes(b"this is not a decodable file")
    config, proc = AUDIO["wav2vec2-base"]
    reg = tiny_registry(tmp_path, {
        "vit": {"from": "vit-base-in21k", "config": VIT, "processor": VIT_PROC},
        "w2v": {"from": "wav2vec2-base", "config": config, "processor": proc}})
    out = tmp_path / "out.zarr"
    with pytest.raises(StimulusError, match=bad["stimulus_id"]) as err:
        extract_features(copy / "stimuli.tsv", copy, model, "none", out, models_yaml=reg,
                         device="cpu", batch_size=2)
    assert bad["path"].split("/")[-1] in str(err.value) and suffix in str(err.value)
    _no_store(out)
