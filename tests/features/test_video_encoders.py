"""VideoMAE, ViViT and TimeSformer: tiny random instances of the registry entries."""

from __future__ import annotations

import pytest
from tiny_models import check_store, expected_ids, run_twice, tiny_registry

SMALL = {"image_size": 32, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 64, "initializer_range": 0.5}
VIDEO_PROC = {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}
CASES = {
    "videomae-base": ({"model_type": "videomae", "num_frames": 4, "patch_size": 8,
                       "tubelet_size": 2, **SMALL}, "VideoMAEImageProcessor"),
    "videomae-large": ({"model_type": "videomae", "num_frames": 4, "patch_size": 8,
                        "tubelet_size": 2, **SMALL}, "VideoMAEImageProcessor"),
    "vivit-b": ({"model_type": "vivit", "num_frames": 4, "tubelet_size": [2, 8, 8], **SMALL},
                "VivitImageProcessor"),
    "timesformer-base": ({"model_type": "timesformer", "num_frames": 4, "patch_size": 8, **SMALL},
                         "VideoMAEImageProcessor"),
}


@pytest.mark.parametrize("real", sorted(CASES))
def test_video_encoder(dataset, extract, tmp_path, real):
    config, proc = CASES[real]
    reg = tiny_registry(tmp_path, {"tiny": {"from": real, "config": config, "frames": 4,
                                            "processor": {"class": proc, **VIDEO_PROC}}})
    ds = run_twice(extract, tmp_path, "tiny", reg)
    check_store(ds, expected_ids(dataset[0], "clip"), 3, 32)
    assert ds.attrs["frames"] == 4


def test_mean_frames_pooling_equals_mean(dataset, extract, tmp_path):
    """For video tokens (patches of frames) mean_frames is the mean over all of them."""
    config, proc = CASES["vivit-b"]
    base = {"from": "vivit-b", "config": config, "frames": 4,
            "processor": {"class": proc, **VIDEO_PROC}}
    reg = tiny_registry(tmp_path, {"m": base, "f": {**base, "pooling": "mean_frames"},
                                   "c": {**base, "pooling": "cls"}})
    m, f, c = (extract(tmp_path / k, k, models_yaml=reg).features.values for k in "mfc")
    assert (m == f).all()
    assert not (m == c).all()
