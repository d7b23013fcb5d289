"""ViT and CLIP (transformers) image towers: tiny random instances of the registry entries."""

from __future__ import annotations

import pytest
from tiny_models import check_store, expected_ids, real_entry, run_twice, tiny_registry

VIT = {"model_type": "vit", "image_size": 32, "patch_size": 8, "hidden_size": 32,
       "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 64,
       "initializer_range": 0.5}
CLIP = {"model_type": "clip_vision_model", "image_size": 32, "patch_size": 8, "hidden_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
        "projection_dim": 16, "initializer_factor": 5.0}
VIT_PROC = {"class": "ViTImageProcessor", "size": {"height": 32, "width": 32}}
CLIP_PROC = {"class": "CLIPImageProcessor", "size": {"shortest_edge": 32},
             "crop_size": {"height": 32, "width": 32}}


@pytest.mark.parametrize("real,config,processor,n_layers,pooling", [
    ("vit-base-in21k", VIT, VIT_PROC, 4, None),
    ("vit-huge-in21k", VIT, VIT_PROC, 4, "cls"),
    ("clip-vit-l-14", CLIP, CLIP_PROC, 3, None),
])
def test_image_tower(dataset, extract, tmp_path, real, config, processor, n_layers, pooling):
    spec = {"from": real, "config": config, "processor": processor}
    if pooling:
        spec["pooling"] = pooling
    reg = tiny_registry(tmp_path, {"tiny": spec})
    ds = run_twice(extract, tmp_path, "tiny", reg)
    check_store(ds, expected_ids(dataset[0], "image"), n_layers, 32)
    assert ds.attrs["family"] == real_entry(real)["family"]
    assert ds.attrs["pooling"] == (pooling or "mean")


def test_random_init_control_is_expressible():
    entry = real_entry("vit-huge-in21k-random")
    assert entry["init"] == "random" and entry["hub_id"] == real_entry("vit-huge-in21k")["hub_id"]
