"""Kimi-Audio adapter with a stand-in for upstream ``KimiAudio`` (the package is not installed).

The stand-in has upstream's interface (``prompt_manager.get_prompt`` reading a wav path,
``_generate_loop``, ``alm.forward`` over two token streams, ``alm.model.layers``) and
records what it receives, so the tests check the prompt, the audio handed over, the
second pass over prompt + answer and the pooling. They do not test the model itself.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from brainalign.features.interface import ExtractionRequest
from brainalign.features.remote import remote_extractor

ka = importlib.import_module("brainalign.features.adapters.kimi_audio_adapter")

H, N_LAYERS, OFFSET, BLANK, EOS = 6, 2, 100, 7, 8


class _History:
    def __init__(self, n):
        self.n = n
        self.continuous_feature = [torch.ones(1, 3, 4)]

    def to_tensor(self):
        audio = torch.arange(self.n)[None] + OFFSET  # audio-stream ids
        text = torch.full((1, self.n), BLANK)
        return audio, text, torch.zeros(1, self.n, dtype=torch.bool)


class _PromptManager:
    def __init__(self):
        self.calls = []

    def get_prompt(self, chats, output_type):
        path = chats[1]["content"]
        rate, wav = wavfile.read(path)  # read while the file exists, as upstream does
        self.calls.append((chats, output_type, rate, wav))
        return _History(4 + len(chats[0]["content"].split()))


class _Alm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(200, H)
        self.model = torch.nn.Module()
        self.model.layers = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(H, H), torch.nn.Tanh()) for _ in range(N_LAYERS))
        self.calls = []

    def forward(self, input_ids, text_input_ids, whisper_input_feature, is_continuous_mask,
                position_ids, return_dict):
        self.calls.append(dict(audio=input_ids.clone(), text=text_input_ids.clone(),
                               cont=is_continuous_mask.clone(), pos=position_ids.clone(),
                               feats=whisper_input_feature))
        x = self.embed(input_ids) + self.embed(text_input_ids)
        for layer in self.model.layers:
            x = layer(x)
        return x, x, None


class _Kimi:
    kimia_token_offset = OFFSET

    def __init__(self, answer):
        self.alm, self.prompt_manager, self.answer = _Alm(), _PromptManager(), answer
        self.extra_tokens = types.SimpleNamespace(kimia_text_blank=BLANK, kimia_text_eos=EOS)
        self.loops = []

    def _generate_loop(self, **kw):
        self.loops.append(kw)
        return [], list(self.answer)

    def detokenize_text(self, ids):
        return " ".join(f"t{i}" for i in ids)


def _extractor(mode, answer=(11, 12, 150, 13)):
    return ka.KimiAudioExtractor(_Kimi(answer), {"layers": "all"}, "cpu",
                                 "Describe this audio in detail.", mode, max_new_tokens=5)


CLIP = (np.sin(np.arange(1600) / 10.0) * 0.5).astype(np.float32)


def _manual(alm, audio, text):
    with torch.no_grad():
        x = alm.embed(audio) + alm.embed(text)
        states = [x]
        for layer in alm.model.layers:
            x = layer(x)
            states.append(x)
    return states


def test_chat_puts_the_instruction_before_the_audio():
    assert ka.chat("Say.", "a.wav") == [
        {"role": "user", "message_type": "text", "content": "Say."},
        {"role": "user", "message_type": "audio", "content": "a.wav"}]


def test_prompt_mode_hands_over_the_clip_and_pools_every_layer():
    ex = _extractor("prompt")
    feats, texts = ex.forward(ex.collator([CLIP, CLIP * 0.5]))
    assert texts is None and feats.shape == (N_LAYERS + 1, 2, H)
    chats, output_type, rate, wav = ex.kimi.prompt_manager.calls[0]
    assert output_type == "text" and rate == ka.RATE and np.array_equal(wav, CLIP)
    assert chats[0]["content"] == "Describe this audio in detail."
    call = ex.kimi.alm.calls[0]
    assert call["pos"].tolist() == [list(range(call["audio"].shape[1]))]
    states = _manual(ex.kimi.alm, call["audio"], call["text"])
    assert np.allclose(feats[:, 0], [s[0].mean(0).numpy() for s in states], atol=1e-6)
    assert not np.allclose(feats[0], feats[1])  # embeddings vs layer 1


def test_response_mode_feeds_the_answer_back_and_pools_its_positions():
    ex = _extractor("response")
    feats, texts = ex.forward(ex.collator([CLIP]))
    assert texts == ["t11 t12 t13"]  # audio-range ids (>= offset) dropped, as upstream
    assert ex.kimi.loops[0]["max_new_tokens"] == 5 and ex.kimi.loops[0]["output_type"] == "text"
    prompt, full = ex.kimi.alm.calls[-1]["audio"].shape[1] - 3, ex.kimi.alm.calls[-1]
    assert full["text"][0, prompt:].tolist() == [11, 12, 13]
    assert full["audio"][0, prompt:].tolist() == [BLANK] * 3
    assert not full["cont"][0, prompt:].any()
    states = _manual(ex.kimi.alm, full["audio"], full["text"])
    assert np.allclose(feats[:, 0], [s[0, -3:].mean(0).numpy() for s in states], atol=1e-6)


def test_an_empty_answer_pools_its_end_of_text_position():
    ex = _extractor("response", answer=())
    feats, texts = ex.forward(ex.collator([CLIP]))
    assert texts == [""] and ex.kimi.alm.calls[-1]["text"][0, -1].item() == EOS
    assert feats.shape == (N_LAYERS + 1, 1, H)


def test_build_extractor_fetches_the_pinned_snapshot(monkeypatch):
    fetched = []
    hub = types.ModuleType("huggingface_hub")
    hub.snapshot_download = lambda repo, revision: fetched.append((repo, revision)) or "/snap"
    kimia = {"kimia_infer": {}, "kimia_infer.api": {},
             "kimia_infer.api.kimia": {"KimiAudio": lambda model_path, load_detokenizer:
                                       fetched.append((model_path, load_detokenizer)) or _Kimi(())}}
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    for name, attrs in kimia.items():
        mod = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(mod, k, v)
        monkeypatch.setitem(sys.modules, name, mod)
    entry = {"backend": "external", "adapter": "kimi_audio_adapter:build_extractor",
             "hub_id": "moonshotai/Kimi-Audio-7B-Instruct", "revision": "c" * 40,
             "code_revision": "d" * 40}
    request = ExtractionRequest("kimi-audio-7b", entry, "cpu", torch.float32,
                                instruction_text="Describe this audio in detail.", mode="prompt",
                                allow_remote_code=True)
    ex = remote_extractor(request)
    assert fetched == [("moonshotai/Kimi-Audio-7B-Instruct", "c" * 40), ("/snap", False)]
    assert ex.mode == "prompt" and ex.input_kind == "audio" and ex.rate == 16000
    with pytest.raises(ValueError, match="instruction"):
        ka.build_extractor(replace(request, name="k", instruction_text=None))
