"""The four demo models run end to end through extract_features on CPU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest



@pytest.mark.parametrize(
    "model,n_layers,n_units,modality",
    [("minilm", 7, 384, "word"), ("vit-tiny", 5, 48, "image"), ("wav2vec2-tiny", 3, 32, "audio")],
)
def test_encoder_models(dataset, extract, tmp_path, model, n_layers, n_units, modality):
    ds = extract(tmp_path, model)
    table = pd.read_csv(dataset[0], sep="\t", dtype=str, keep_default_na=False)
    expected = table.loc[table.modality == modality, "stimulus_id"].tolist()
    assert ds.features.shape == (n_layers, len(expected), n_units)
    assert sorted(ds.stimulus_id.values.tolist()) == sorted(expected)
    assert list(ds.layer.values) == list(range(n_layers))
    assert np.isfinite(ds.features.values).all()
    assert ds.attrs["model"] == model and ds.attrs["mode"] == "none"
    assert len(ds.attrs["cache_key"]) == 64
    # deterministic: a second run into another store gives identical values
    again = extract(tmp_path / "again", model, batch_size=2)
    np.testing.assert_allclose(again.features.values, ds.features.values, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["prompt", "response"])
def test_llava_tiny(extract, tmp_path, mode):
    ds = extract(tmp_path, "llava-tiny", "IC", mode=mode, max_new_tokens=4)
    assert ds.features.shape == (4, 5, 32)
    assert np.isfinite(ds.features.values).all()
    assert ds.attrs["mode"] == mode
    assert ds.attrs["instruction_text"] == "Generate some text to describe the image."
    assert "USER: <image>" in ds.attrs["prompt"]
    assert "{% for message in messages %}" in ds.attrs["prompt_template"]
    if mode == "response":
        assert "generated_text" in ds
        assert all(isinstance(t, str) for t in ds.generated_text.values)
    else:
        assert "generated_text" not in ds
