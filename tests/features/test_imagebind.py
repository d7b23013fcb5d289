"""ImageBind: the real architecture built with tiny sizes, vision/audio/concat streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import check_store, expected_ids, run_twice, tiny_registry

CONFIG = dict(video_frames=2, kernel_size=[2, 56, 56], audio_kernel_size=16, audio_stride=16,
              out_embed_dim=8, vision_embed_dim=16, vision_num_blocks=2, vision_num_heads=2,
              audio_embed_dim=16, audio_num_blocks=3, audio_num_heads=2, audio_num_mel_bins=32,
              audio_target_len=64, audio_drop_path=0.0, text_embed_dim=8, text_num_blocks=1,
              text_num_heads=1, depth_embed_dim=8, depth_kernel_size=56, depth_num_blocks=1,
              depth_num_heads=1, thermal_embed_dim=8, thermal_kernel_size=56,
              thermal_num_blocks=1, thermal_num_heads=1, imu_embed_dim=8, imu_kernel_size=8,
              imu_num_blocks=1, imu_num_heads=1, imu_drop_path=0.0)
# name -> (table rows, layers, units)
CASES = {"imagebind-vision": ("clip", 3, 16), "imagebind-audio": ("audio", 4, 16),
         "imagebind-concat": ("clip", 1, 16)}


def _registry(folder):
    return tiny_registry(folder, {n: {"from": n, "config": CONFIG} for n in CASES})


@pytest.mark.parametrize("name", sorted(CASES))
def test_imagebind_stream(dataset, extract, tmp_path, name):
    modality, n_layers, n_units = CASES[name]
    ds = run_twice(extract, tmp_path, name, _registry(tmp_path))
    check_store(ds, expected_ids(dataset[0], modality), n_layers, n_units)
    assert ds.attrs["stream"] == name.split("-")[1]


def test_embedding_readout_matches_model_forward(dataset, tmp_path):
    """readout: embedding of an image equals ImageBind's own forward output."""
    from PIL import Image

    from brainalign.features.imagebind import ImageBindExtractor, vision_clips

    tsv, root = dataset
    entry = {"input": "image", "config": CONFIG, "readout": "embedding"}
    ex = ImageBindExtractor(entry, "ib", torch.device("cpu"), torch.float32)
    image = Image.open(root / "stimuli" / "img1.png")
    feats, _ = ex.forward(ex.collator([image]))
    with torch.no_grad():
        ref = ex.model({"vision": vision_clips(image)})["vision"]
    assert feats.shape == (1, 1, 8)
    np.testing.assert_allclose(feats[0], ref.numpy(), rtol=1e-4, atol=1e-5)


def test_concat_is_vision_then_audio_embedding(dataset, extract, tmp_path):
    reg = _registry(tmp_path)
    concat = extract(tmp_path / "c", "imagebind-concat", models_yaml=reg).features.values[0]
    norms = np.linalg.norm(concat[:, :8], axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-4)  # vision embeddings are unit vectors
    np.testing.assert_allclose(np.linalg.norm(concat[:, 8:], axis=1), 20.0, rtol=1e-4)  # audio x20


def test_kaldi_fbank_properties():
    from brainalign.features.melspec import fbank, mel_banks

    rate = 16000
    t = torch.arange(rate) / rate
    tone = torch.sin(2 * torch.pi * 1000 * t)
    mel = fbank(tone, rate, num_mel_bins=64)
    assert mel.shape == (1 + (rate - 400) // 160, 64)
    peak = int(mel.mean(0).argmax())
    banks = mel_banks(64, 512, rate)
    assert int(banks[:, 1000 * 512 // rate].argmax()) in (peak - 1, peak, peak + 1)
    np.testing.assert_allclose(fbank(tone + 0.5, rate, 64), mel, atol=1e-2)  # DC removed
