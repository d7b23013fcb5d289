"""The family registry, the Extractor interface and the public ``brainalign.features.extract``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr
from conftest import INSTRUCTIONS_YAML, MODELS_YAML

from brainalign.features import extract
from brainalign.features.families import FAMILY_BUILDERS, build_extractor
from brainalign.features.interface import ExtractionRequest, Extractor
from brainalign.features.registry import FAMILIES, RegistryError, check_entry, get_model, load_registry


def test_unknown_family_names_the_known_ones():
    request = ExtractionRequest("m", {"family": "hologram", "input": "image"})
    with pytest.raises(RegistryError) as err:
        build_extractor(request)
    message = str(err.value)
    assert "model 'm' has family 'hologram'" in message
    for family in ("image", "clip", "imagebind", "tvlt", "mllm_image", "remote"):
        assert family in message
    with pytest.raises(RegistryError, match=r"family='hologram'; allowed: \['image'"):
        check_entry("m", {"family": "hologram", "input": "image", "instruction_set": None,
                          "hub_id": "x"})


def test_every_family_the_registry_allows_has_a_builder():
    assert FAMILIES == tuple(FAMILY_BUILDERS)
    used = {e["family"] for e in load_registry(MODELS_YAML).values()}
    assert used <= set(FAMILY_BUILDERS)


def test_a_built_extractor_implements_the_interface():
    entry = get_model(load_registry(MODELS_YAML), "vit-tiny")
    ex = build_extractor(ExtractionRequest("vit-tiny", entry, torch.device("cpu"), torch.float32))
    assert isinstance(ex, Extractor) and ex.input_kind == "image" and ex.tokens is None
    feats, texts = ex.forward(ex.collator([np.zeros((32, 32, 3), np.uint8)] * 2))
    assert feats.shape == (5, 2, 48) and texts is None


def test_importing_the_package_does_not_import_torch():
    code = "import sys, brainalign.config, brainalign.features; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_extract_writes_and_opens_the_store(dataset, tmp_path, monkeypatch):
    tsv, _ = dataset  # the stimulus paths are relative to the table's folder
    ds = extract(tsv, "minilm", tmp_path / "minilm.zarr", models_yaml=MODELS_YAML,
                 instructions_yaml=INSTRUCTIONS_YAML, device="cpu", batch_size=8)
    assert isinstance(ds, xr.Dataset) and ds.features.dims == ("layer", "stimulus", "unit")
    words = [s for s in ds.stimulus_id.values if "_w" in s]
    assert ds.features.shape == (7, 16, 384) and len(words) == 16
    assert ds.attrs["model"] == "minilm" and ds.attrs["instruction"] == "none"

    import brainalign.features.runner as runner

    monkeypatch.setattr(runner, "build_extractor", lambda request: pytest.fail("extracted again"))
    again = extract(tsv, "minilm", tmp_path / "minilm.zarr", models_yaml=MODELS_YAML,
                    instructions_yaml=INSTRUCTIONS_YAML, device="cpu")
    np.testing.assert_array_equal(again.features.values, ds.features.values)


def test_encoder_batches_cross_into_worker_processes(dataset, tmp_path):
    tsv, _ = dataset
    kw = dict(models_yaml=MODELS_YAML, instructions_yaml=INSTRUCTIONS_YAML, device="cpu")
    inline = extract(tsv, "wav2vec2-tiny", tmp_path / "a.zarr", num_workers=0, batch_size=4, **kw)
    workers = extract(tsv, "wav2vec2-tiny", tmp_path / "b.zarr", num_workers=1, batch_size=3, **kw)
    np.testing.assert_allclose(workers.features.values, inline.features.values, rtol=1e-5, atol=1e-5)
