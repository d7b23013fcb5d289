"""Wav2Vec2, AST, Whisper encoder and HuBERT: tiny random instances of the registry entries."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import check_store, expected_ids, run_twice, tiny_registry

W2V = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
       "intermediate_size": 64, "conv_dim": [16, 16], "conv_stride": [5, 4],
       "conv_kernel": [10, 8], "num_conv_pos_embeddings": 16,
       "num_conv_pos_embedding_groups": 4, "feat_extract_norm": "group",
       "initializer_range": 0.5}
W2V_PROC = {"class": "Wav2Vec2FeatureExtractor", "sampling_rate": 16000, "feature_size": 1,
            "padding_value": 0.0, "do_normalize": True, "return_attention_mask": False}
CASES = {
    "wav2vec2-base": ({"model_type": "wav2vec2", **W2V}, W2V_PROC),
    "hubert-base": ({"model_type": "hubert", **W2V}, W2V_PROC),
    "ast": ({"model_type": "audio-spectrogram-transformer", "hidden_size": 32,
             "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
             "patch_size": 16, "frequency_stride": 16, "time_stride": 16, "max_length": 160,
             "num_mel_bins": 32},
            {"class": "ASTFeatureExtractor", "num_mel_bins": 32, "max_length": 160}),
    "whisper-base-encoder": ({"model_type": "whisper", "d_model": 32, "encoder_layers": 2,
                              "decoder_layers": 1, "encoder_attention_heads": 4,
                              "decoder_attention_heads": 4, "encoder_ffn_dim": 64,
                              "decoder_ffn_dim": 64, "num_mel_bins": 80,
                              "max_source_positions": 100, "vocab_size": 64,
                              "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2,
                              "decoder_start_token_id": 3},
                             {"class": "WhisperFeatureExtractor", "feature_size": 80,
                              "chunk_length": 2}),
}


@pytest.mark.parametrize("real", sorted(CASES))
def test_audio_encoder(dataset, extract, tmp_path, real):
    config, proc = CASES[real]
    reg = tiny_registry(tmp_path, {"tiny": {"from": real, "config": config, "processor": proc}})
    ds = run_twice(extract, tmp_path, "tiny", reg)
    check_store(ds, expected_ids(dataset[0], "audio"), 3, 32)
    assert ds.attrs["sampling_rate"] == 16000


def test_whisper_pools_only_real_frames(dataset, extract, tmp_path):
    """Whisper pads every window to a fixed length; only the real frames enter the mean."""
    import math

    import torch
    from brainalign.features.inputs import load_audio
    from brainalign.features.loading import load_hf
    from brainalign.features.registry import get_model, load_registry

    config, proc = CASES["whisper-base-encoder"]
    reg = tiny_registry(tmp_path, {"w": {"from": "whisper-base-encoder", "config": config,
                                         "processor": proc}})
    ds = extract(tmp_path, "w", models_yaml=reg)
    tsv, root = dataset
    import pandas as pd

    row = pd.read_csv(tsv, sep="\t", dtype=str).query("modality == 'audio'").iloc[0]
    model, fe = load_hf(get_model(load_registry(reg), "w"), "w", torch.float32, False)
    wave = load_audio(root / row["path"], row["stimulus_id"], 16000)
    inputs = fe([wave], sampling_rate=16000, return_tensors="pt", padding="max_length")
    with torch.no_grad():
        states = model.encoder(**inputs, output_hidden_states=True).hidden_states
    n = math.ceil(len(wave) / fe.hop_length / 2)
    assert n < states[-1].shape[1]  # the window is padded
    assert ds.stimulus_id.values[0] == row["stimulus_id"]
    for layer in (0, len(states) - 1):
        expected = states[layer][0, :n].mean(0).numpy()
        np.testing.assert_allclose(ds.features.values[layer, 0], expected, rtol=1e-4, atol=1e-5)
        padded_mean = states[layer][0].mean(0).numpy()
        assert not np.allclose(ds.features.values[layer, 0], padded_mean, atol=1e-5)
