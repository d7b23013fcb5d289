"""Audio in context (``context_s``): each TR's audio follows the preceding audio of its run."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.io import wavfile
from test_audio_encoders import CASES
from tiny_models import MODELS_YAML, check_store, expected_ids, run_twice, tiny_registry

W2V_CONFIG, W2V_PROC = CASES["wav2vec2-base"]
INSTRUCTIONS_YAML = MODELS_YAML.parent / "instructions.yaml"


def _registry(folder, context_s):
    return tiny_registry(folder, {"w": {"from": "wav2vec2-base", "config": W2V_CONFIG,
                                        "processor": W2V_PROC, "context_s": context_s}})


def _audio_rows(tsv) -> pd.DataFrame:
    table = pd.read_csv(tsv, sep="\t", dtype=str)
    return table.query("modality == 'audio'").set_index("stimulus_id")


def _feature(ds, stimulus_id: str) -> np.ndarray:
    return ds.features.values[:, ds.stimulus_id.values.tolist().index(stimulus_id)]


def test_wav2vec2_base_takes_16_s_of_context():
    from tiny_models import real_entry

    assert real_entry("wav2vec2-base")["context_s"] == 16
    assert "context_s" not in real_entry("wav2vec2-tiny")


def test_select_stimuli_gathers_preceding_rows_of_the_same_run(dataset):
    from brainalign.features.inputs import read_table, select_stimuli

    table = read_table(dataset[0])
    by_id = {s.stimulus_id: s for s in select_stimuli(table, "audio", context_s=16)}
    assert by_id["run0_a0"].context_paths == []
    assert by_id["run1_a0"].context_paths == []  # nothing from run0 before run1's first TR
    assert by_id["run1_a2"].context_paths == ["stimuli/run1_a0.wav", "stimuli/run1_a1.wav"]
    # 3 s of input with 1.5 s windows: only the row just before
    short = {s.stimulus_id: s for s in select_stimuli(table, "audio", context_s=3)}
    assert short["run0_a2"].context_paths == ["stimuli/run0_a1.wav"]
    plain = select_stimuli(table, "audio")
    assert all(not s.context_paths and s.context_s == 0 for s in plain)


def test_context_shorter_than_a_window_is_rejected(dataset):
    from brainalign.features.inputs import StimulusError, read_table, select_stimuli

    with pytest.raises(StimulusError, match="shorter than audio row"):
        select_stimuli(read_table(dataset[0]), "audio", context_s=1.0)


@pytest.mark.parametrize("entry,match", [
    ({"family": "image", "input": "image", "context_s": 16}, "only audio encoders"),
    ({"family": "audio", "input": "audio", "context_s": -2}, "positive number"),
    ({"family": "audio", "input": "audio", "context_s": "16"}, "positive number"),
])
def test_registry_checks_context_s(entry, match):
    from brainalign.features.registry import RegistryError, check_entry

    with pytest.raises(RegistryError, match=match):
        check_entry("m", {"instruction_set": None, "config": {"model_type": "x"},
                          "init": "random", **entry})


def test_context_changes_features_only_when_preceding_audio_changes(dataset, tmp_path):
    """Replacing run0's first window changes run0_a1 with context, not without."""
    tsv, root = dataset
    alt = tmp_path / "alt"
    shutil.copytree(root, alt)
    rng = np.random.default_rng(7)
    rate, wave = wavfile.read(root / "stimuli/run0_a0.wav")
    wavfile.write(alt / "stimuli/run0_a0.wav", rate,
                  (rng.standard_normal(len(wave)) * 3000).astype(np.int16))

    from brainalign.features import extract_features
    from brainalign.stores import read_store

    def run(out, data_root, context_s):
        reg = _registry(out, context_s)
        store = out / "w.zarr"
        extract_features(data_root / "stimuli.tsv", data_root, "w", "none", store,
                         models_yaml=reg, instructions_yaml=INSTRUCTIONS_YAML, device="cpu",
                         batch_size=3)
        return read_store(store, "features")

    with_ctx = run(tmp_path / "c", root, 16)
    with_ctx_alt = run(tmp_path / "ca", alt, 16)
    plain = run(tmp_path / "p", root, None)
    plain_alt = run(tmp_path / "pa", alt, None)
    # without context the features of run0_a1 see only its own (unchanged) audio
    np.testing.assert_allclose(_feature(plain, "run0_a1"), _feature(plain_alt, "run0_a1"),
                               rtol=1e-5, atol=1e-6)
    # with context they see the changed preceding window
    assert not np.allclose(_feature(with_ctx, "run0_a1"), _feature(with_ctx_alt, "run0_a1"),
                           atol=1e-4)
    # and with context a TR differs from the same TR without context
    assert not np.allclose(_feature(with_ctx, "run0_a1"), _feature(plain, "run0_a1"), atol=1e-4)
    # other runs are untouched by run0's audio
    np.testing.assert_allclose(_feature(with_ctx, "run1_a2"), _feature(with_ctx_alt, "run1_a2"),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("context_s,before", [(16, ["run0_a0", "run0_a1"]), (3, ["run0_a1"])])
def test_pools_only_the_current_window(dataset, extract, tmp_path, context_s, before):
    """Features = mean over the last frames of a forward pass over context + window."""
    from brainalign.features.inputs import read_wav, resample
    from brainalign.features.loading import load_hf
    from brainalign.features.registry import get_model, load_registry

    tsv, root = dataset
    reg = _registry(tmp_path, context_s)
    ds = extract(tmp_path, "w", models_yaml=reg)
    rows = _audio_rows(tsv)
    model, fe = load_hf(get_model(load_registry(reg), "w"), "w", torch.float32, False)
    waves = [read_wav(root / rows.loc[i, "path"], i)[1] for i in before + ["run0_a2"]]
    joined = resample(np.concatenate(waves), 8000, 16000)  # the test wavs are at 8 kHz
    inputs = fe([joined], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        states = model(**inputs, output_hidden_states=True).hidden_states
    n = int(model._get_feat_extract_output_lengths(torch.tensor(len(joined))))
    assert n == states[0].shape[1]
    k = round(n * len(waves[-1]) / sum(len(w) for w in waves))
    assert 0 < k < n
    got = _feature(ds, "run0_a2")
    for layer in range(len(states)):
        expected = states[layer][0, n - k :].mean(0).numpy()
        np.testing.assert_allclose(got[layer], expected, rtol=1e-4, atol=1e-5)
        assert not np.allclose(got[layer], states[layer][0].mean(0).numpy(), atol=1e-4)


def test_first_tr_of_a_run_has_no_context(dataset, extract, tmp_path):
    """A run's first TR sees only its own window: same features as without context."""
    ctx = extract(tmp_path / "c", "w", models_yaml=_registry(tmp_path / "c", 16))
    plain = extract(tmp_path / "p", "w", models_yaml=_registry(tmp_path / "p", None))
    for sid in ("run0_a0", "run1_a0"):
        np.testing.assert_allclose(_feature(ctx, sid), _feature(plain, sid), rtol=1e-5, atol=1e-6)
    assert not np.allclose(_feature(ctx, "run1_a1"), _feature(plain, "run1_a1"), atol=1e-4)


def test_deterministic_store_and_cache_key(dataset, extract, tmp_path):
    reg = _registry(tmp_path, 16)
    ds = run_twice(extract, tmp_path, "w", reg)
    check_store(ds, expected_ids(dataset[0], "audio"), 3, 32)
    assert ds.attrs["context_s"] == 16.0
    assert ds.attrs["sampling_rate"] == 16000
    # batch composition does not change features (inputs of equal length share a forward)
    single = extract(tmp_path / "one", "w", models_yaml=reg, batch_size=1)
    np.testing.assert_allclose(single.features.values, ds.features.values, rtol=1e-5, atol=1e-6)
    plain = extract(tmp_path / "p", "w", models_yaml=_registry(tmp_path / "p", None))
    assert plain.attrs["context_s"] == 0.0
    assert plain.attrs["cache_key"] != ds.attrs["cache_key"]


def test_context_needs_time_ordered_frames(dataset, extract, tmp_path):
    """AST pools spectrogram patches: seconds cannot be mapped to its tokens."""
    config, proc = CASES["ast"]
    reg = tiny_registry(tmp_path, {"a": {"from": "ast", "config": config, "processor": proc,
                                         "context_s": 3}})
    with pytest.raises(ValueError, match="context_s"):
        extract(tmp_path, "a", models_yaml=reg)
