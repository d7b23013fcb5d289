"""TVLT (transformers' deprecated TvltModel): video, audio and joint feature sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import check_store, expected_ids, run_twice, tiny_registry

CONFIG = {"model_type": "tvlt", "image_size": 32, "image_patch_size": [16, 16],
          "audio_patch_size": [16, 16], "spectrogram_length": 64, "frequency_length": 32,
          "num_frames": 4, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
          "intermediate_size": 64, "decoder_hidden_size": 16, "decoder_num_hidden_layers": 1,
          "decoder_num_attention_heads": 2, "decoder_intermediate_size": 32,
          "initializer_range": 0.5}
PROCESSOR = {
    "class": "TvltProcessor",
    "image_processor": {"class": "TvltImageProcessor", "size": {"shortest_edge": 32},
                        "crop_size": {"height": 32, "width": 32}, "patch_size": [16, 16],
                        "num_frames": 4},
    "feature_extractor": {"class": "TvltFeatureExtractor", "spectrogram_length": 64,
                          "feature_size": 32, "patch_size": [16, 16], "sampling_rate": 16000,
                          "hop_length_to_sampling_rate": 100, "n_fft": 512},
}
CASES = {"tvlt-video": "clip", "tvlt-audio": "audio", "tvlt-joint": "clip"}


def _registry(folder, **extra):
    return tiny_registry(folder, {name: {"from": name, "config": CONFIG, "processor": PROCESSOR,
                                         "frames": 4, **extra} for name in CASES})


@pytest.mark.parametrize("name", sorted(CASES))
def test_tvlt_stream(dataset, extract, tmp_path, name):
    ds = run_twice(extract, tmp_path, name, _registry(tmp_path))
    check_store(ds, expected_ids(dataset[0], CASES[name]), 3, 32)
    assert ds.attrs["stream"] == name.split("-")[1]


def test_streams_differ(dataset, extract, tmp_path):
    reg = _registry(tmp_path)
    video, joint = (extract(tmp_path / n, n, models_yaml=reg).features.values
                    for n in ("tvlt-video", "tvlt-joint"))
    assert video.shape == joint.shape
    assert not np.allclose(video[1:], joint[1:])  # joint tokens also attend to audio


def test_joint_matches_tvlt_model_forward(dataset, extract, tmp_path):
    """The joint stream equals TvltModel's own forward pass, pooled over non-CLS tokens."""
    from brainalign.features.inputs import decode, read_table, select_stimuli
    from brainalign.features.loading import load_hf
    from brainalign.features.registry import get_model, load_registry
    from brainalign.features.tvlt import TvltCollator

    reg = _registry(tmp_path)
    ds = extract(tmp_path, "tvlt-joint", models_yaml=reg)
    tsv, root = dataset
    stim = select_stimuli(read_table(tsv), "audiovisual")[:2]
    model, proc = load_hf(get_model(load_registry(reg), "tvlt-joint"), "j", torch.float32, False)
    batch = TvltCollator(proc, "audiovisual", 16000)(
        [decode(s, root, "audiovisual", rate=16000, frames=4) for s in stim])
    with torch.no_grad():
        states = model(**batch, output_hidden_states=True).hidden_states
    mask = torch.cat([batch["pixel_mask"], batch["audio_mask"]], 1).bool()
    for layer in range(3):
        h = states[layer][:, 1:]
        expected = ((h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)).numpy()
        np.testing.assert_allclose(ds.features.values[layer, :2], expected, rtol=1e-4, atol=1e-5)


def test_stream_must_be_in_input(dataset, extract, tmp_path):
    reg = tiny_registry(tmp_path, {"bad": {"from": "tvlt-video", "config": CONFIG,
                                           "processor": PROCESSOR, "stream": "audio"}})
    with pytest.raises(ValueError, match="stream 'audio'"):
        extract(tmp_path, "bad", models_yaml=reg)
