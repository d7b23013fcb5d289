"""Every MLLM architecture (image, video, audio) runs through extract_features on CPU.

Each is a tiny randomly initialised instance of the real transformers class, with a
processor built locally (tests/features/tiny_mllms.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tiny_mllms import BUILDERS, tiny_entry, write_tiny_registry

from brainalign.stores import json_attr

FIRST_CODE = {"image": "IC", "video": "AR1", "audio": "AU1"}
ROWS = {"image": "image", "video": "clip", "audio": "audio"}
ARCHS = sorted(BUILDERS, key=lambda a: (tiny_entry(a)["family"], a))


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory):
    return write_tiny_registry(str(tmp_path_factory.mktemp("reg") / "models.yaml"))


def _n_states(entry: dict) -> int:
    cfg = entry["config"]
    return cfg.get("text_config", cfg)["num_hidden_layers"] + 1


@pytest.mark.parametrize("arch", ARCHS, ids=[f"{tiny_entry(a)['family']}-{a}" for a in ARCHS])
def test_prompt_and_response_modes(arch, dataset, extract, tmp_path, tiny_yaml):
    entry = tiny_entry(arch)
    kind = entry["input"]
    code = FIRST_CODE[kind]
    table = pd.read_csv(dataset[0], sep="\t", dtype=str, keep_default_na=False)
    ids = table.loc[table.modality == ROWS[kind], "stimulus_id"].tolist()

    ds = extract(tmp_path / "a", f"{arch}-tiny", code, mode="prompt", models_yaml=tiny_yaml)
    feats = ds.features.values
    assert feats.shape == (_n_states(entry), len(ids), entry["config"].get(
        "text_config", entry["config"])["hidden_size"])
    assert ds.stimulus_id.values.tolist() == ids
    assert list(ds.layer.values) == list(range(feats.shape[0]))  # one entry per layer
    assert np.isfinite(feats).all()
    assert (feats[-1].std(axis=0) > 0).any(), "features do not depend on the stimulus"
    assert ds.attrs["mode"] == "prompt" and "generated_text" not in ds
    text = ds.attrs["instruction_text"]
    assert text in ds.attrs["prompt"]
    template = entry.get("prompt_template") or entry["processor"]["chat_template"]
    assert ds.attrs["prompt_template"] == template  # recorded verbatim

    again = extract(tmp_path / "b", f"{arch}-tiny", code, mode="prompt", models_yaml=tiny_yaml)
    np.testing.assert_array_equal(again.features.values, feats)

    resp = extract(tmp_path / "c", f"{arch}-tiny", code, mode="response", max_new_tokens=3,
                   models_yaml=tiny_yaml)
    assert resp.features.shape == feats.shape
    assert np.isfinite(resp.features.values).all()
    assert resp.generated_text.shape == (len(ids),)
    assert all(isinstance(t, str) for t in resp.generated_text.values)
    assert resp.attrs["max_new_tokens"] == 3
    assert json_attr(resp, "generation")["do_sample"] is False
    assert not np.allclose(resp.features.values, feats)
