"""Pinned model revisions: the lock file next to the registry, resolved from a local hub cache."""

from __future__ import annotations

import logging

import pytest
import yaml

from brainalign.features import lock
from brainalign.features.runner import extract_features
from brainalign.stores import read_store

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
HUB_ID = "brainalign-test/tiny-vit"


def hub_cache(root, commit: str, ref: str = "main"):
    """A local hub cache holding a tiny random ViT at ``commit``, ``ref`` pointing at it."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = root / f"models--{HUB_ID.replace('/', '--')}"
    snap = folder / "snapshots" / commit
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=32)
    ViTModel(config).save_pretrained(snap)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(snap)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / ref).write_text(commit)
    return root


@pytest.fixture
def registry(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc
    import transformers.utils.hub as th

    cache = str(hub_cache(tmp_path / "hub", COMMIT_A))
    for mod, attr in ((hc, "HF_HUB_CACHE"), (th, "TRANSFORMERS_CACHE")):
        monkeypatch.setattr(mod, attr, cache, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", cache)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / "config" / "models.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"models": {
        "hub-vit": {"family": "image", "input": "image", "instruction_set": None, "hub_id": HUB_ID,
                    "revision": "main", "init": "pretrained", "pooling": "mean"},
        "local-vit": {"family": "image", "input": "image", "instruction_set": None,
                      "init": "random", "config": {"model_type": "vit"}},
    }}))
    return path


def _no_network(hub_id, revision):
    raise AssertionError("asked the hub although the local cache has the revision")


def test_lock_resolves_from_the_local_hub_cache(registry):
    from brainalign.features.registry import load_registry

    locked = lock.resolve_lock(load_registry(registry), resolve=_no_network)
    assert locked == {"hub-vit": {"hub_id": HUB_ID, "revision": "main", "commit": COMMIT_A}}
    path = lock.write_lock(lock.lock_path(registry), locked)
    assert path.name == "models.lock.yaml" and lock.read_lock(path) == locked


def test_uncached_revision_asks_the_hub(registry):
    from brainalign.features.registry import load_registry

    reg = load_registry(registry)
    reg["hub-vit"]["revision"] = "v2"
    locked = lock.resolve_lock(reg, resolve=lambda h, r: COMMIT_B)
    assert locked["hub-vit"]["commit"] == COMMIT_B
    with pytest.raises(ValueError, match="not a commit"):
        lock.resolve_lock(reg, resolve=lambda h, r: "main")


def test_runs_use_the_locked_commit_and_warn_without_one(registry, dataset, tmp_path, caplog):
    tsv, root = dataset
    with caplog.at_level(logging.WARNING, logger="brainalign.features.lock"):
        unlocked = extract_features(tsv, root, "hub-vit", "none", tmp_path / "u.zarr",
                                    models_yaml=registry, device="cpu")
    assert "unpinned revision 'main'" in caplog.text
    assert read_store(unlocked, "features").attrs["revision"] == "main"
    assert lock.unpinned(yaml.safe_load(registry.read_text())["models"], ["hub-vit", "local-vit"],
                         registry) == ["hub-vit"]

    lock.write_lock(lock.lock_path(registry), {"hub-vit": {"hub_id": HUB_ID, "revision": "main",
                                                           "commit": COMMIT_A}})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="brainalign.features.lock"):
        locked = extract_features(tsv, root, "hub-vit", "none", tmp_path / "l.zarr",
                                  models_yaml=registry, device="cpu")
    ds = read_store(locked, "features")
    assert ds.attrs["revision"] == COMMIT_A and ds.attrs["resolved_revision"] == COMMIT_A
    assert "unpinned" not in caplog.text
    assert lock.unpinned(yaml.safe_load(registry.read_text())["models"], ["hub-vit"], registry) == []


def test_a_stale_lock_entry_does_not_pin(registry):
    entry = {"hub_id": HUB_ID, "revision": "v2"}
    stale = {"hub-vit": {"hub_id": HUB_ID, "revision": "main", "commit": COMMIT_A}}
    assert lock.locked_commit(entry, "hub-vit", stale) is None
    assert lock.locked_commit({**entry, "revision": COMMIT_B}, "hub-vit", {}) == COMMIT_B
