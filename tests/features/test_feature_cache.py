"""The content-keyed feature cache shared by studies (brainalign.features.cache)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.features import runner


def _refuse_model(*args, **kwargs):
    raise AssertionError("the model was loaded although the cache had the features")


def test_second_study_links_instead_of_extracting(extract, dataset, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = extract(tmp_path / "study-a", "vit-tiny", feature_cache=cache)
    stores = list(cache.glob("*.zarr"))
    assert len(stores) == 1 and stores[0].stem == first.attrs["cache_key"]

    monkeypatch.setattr(runner, "build_extractor", _refuse_model)
    second = extract(tmp_path / "study-c", "vit-tiny", feature_cache=cache)
    np.testing.assert_array_equal(second.features.values, first.features.values)
    assert second.attrs["cache_key"] == first.attrs["cache_key"]
    linked = tmp_path / "study-c" / "vit-tiny-none.zarr"
    for f in stores[0].rglob("*"):
        if f.is_file():
            assert os.path.samefile(f, linked / f.relative_to(stores[0])), f


def test_changed_stimuli_or_parameters_miss_the_cache(extract, dataset, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    extract(tmp_path / "a", "minilm", feature_cache=cache, context_words=20)
    monkeypatch.setattr(runner, "build_extractor", _refuse_model)
    with pytest.raises(AssertionError, match="model was loaded"):  # another parameter
        extract(tmp_path / "b", "minilm", feature_cache=cache, context_words=5)
    tsv, root = dataset
    table = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    fewer = root / "fewer.tsv"
    table.drop(index=table.index[table.modality == "word"][-1]).to_csv(fewer, sep="\t", index=False)
    with pytest.raises(AssertionError, match="model was loaded"):  # other stimuli
        runner.extract_features(fewer, root, "minilm", "none", tmp_path / "c.zarr",
                                models_yaml=Path(__file__).parents[2] / "config" / "models.yaml",
                                device="cpu", feature_cache=cache)
    assert len(list(cache.glob("*.zarr"))) == 1


def test_publish_refuses_a_store_with_another_key(tmp_path):
    from brainalign.features.cache import publish

    (tmp_path / "s.zarr").mkdir()
    (tmp_path / "s.zarr" / ".zattrs").write_text('{"cache_key": "abc"}')
    with pytest.raises(ValueError, match="not abc2"):
        publish(tmp_path / "cache", "abc2", tmp_path / "s.zarr")
