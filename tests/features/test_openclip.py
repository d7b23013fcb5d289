"""CLIP image towers through open_clip: a small custom open_clip config, no weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import check_store, expected_ids, real_entry, run_twice, tiny_registry

CONFIG = {"embed_dim": 16,
          "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 3,
                         "head_width": 8},
          "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 16, "heads": 2,
                       "layers": 1}}


@pytest.mark.parametrize("real", ["openclip-vit-h-14", "openclip-vit-l-14"])
def test_open_clip_tower(dataset, extract, tmp_path, real):
    reg = tiny_registry(tmp_path, {"tiny": {"from": real, "config": CONFIG}})
    ds = run_twice(extract, tmp_path, "tiny", reg)
    check_store(ds, expected_ids(dataset[0], "image"), 4, 32)
    assert ds.attrs["backend"] == "open_clip"


def test_last_layer_is_the_towers_transformer_output(dataset, extract, tmp_path):
    from PIL import Image

    from brainalign.features.clip import build_open_clip

    reg = tiny_registry(tmp_path, {"tiny": {"from": "openclip-vit-h-14", "config": CONFIG}})
    ds = extract(tmp_path, "tiny", models_yaml=reg)
    model, preprocess = build_open_clip({"config": CONFIG, "seed": 0}, "tiny")
    tsv, root = dataset
    image = Image.open(root / "stimuli" / "img0.png").convert("RGB")
    v = model.visual.eval()
    with torch.no_grad():
        tokens = v.transformer(v._embeds(preprocess(image)[None]))
    np.testing.assert_allclose(ds.features.values[-1, 0], tokens[0].mean(0).numpy(),
                               rtol=1e-4, atol=1e-5)


def test_random_control_and_pinned_weights_are_expressible():
    control = real_entry("openclip-vit-h-14-random")
    assert control["init"] == "random" and control["arch"] == "ViT-H-14"
    assert real_entry("openclip-vit-h-14")["weights_file"]
