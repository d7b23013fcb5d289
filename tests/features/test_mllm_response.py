"""Response mode: greedy answers, features pooled over the generated tokens only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainalign.features.extractors import to_device
from tiny_mllms import tiny_entry

from brainalign.features.inputs import decode, read_table, select_stimuli
from brainalign.features.interface import ExtractionRequest
from brainalign.features.runner import build_extractor

NEVER = 10**6  # a token id no tiny model can produce


def _extractor(arch: str, mode: str = "response", max_new_tokens: int = 4):
    return build_extractor(ExtractionRequest(arch, tiny_entry(arch), torch.device("cpu"),
                                             torch.float32, instruction_text="Describe it.",
                                             mode=mode, max_new_tokens=max_new_tokens))


def _batch(ex, dataset, n: int = 2) -> dict:
    tsv, root = dataset
    stimuli = select_stimuli(read_table(tsv), ex.input_kind)[:n]
    return ex.collator([decode(s, root, ex.input_kind, rate=ex.rate, frames=ex.frames)
                        for s in stimuli])


@pytest.mark.parametrize("arch", ["llava", "instructblip", "idefics", "qwen2_5_vl", "qwen2_audio"])
def test_matches_states_computed_while_decoding(arch, dataset):
    """Pooled features == mean of the KV-cached decoding states of the answer tokens."""
    ex = _extractor(arch, max_new_tokens=4)
    ex.eos_ids = {NEVER}  # every generated token counts
    batch = _batch(ex, dataset)
    feats, texts = ex.forward(batch)
    with torch.inference_mode():
        inputs = to_device(batch, ex.device, ex.dtype)
        gen = ex.model.generate(**inputs, do_sample=False, max_new_tokens=5, min_new_tokens=5,
                                output_hidden_states=True, return_dict_in_generate=True,
                                pad_token_id=ex.pad_id)
    steps = gen.hidden_states  # step s > 0 is the state of answer token s - 1
    assert len(steps) == 5
    manual = np.stack([
        torch.stack([steps[s][layer][:, -1] for s in range(1, 5)], dim=1).mean(dim=1).numpy()
        for layer in range(len(steps[0]))
    ])
    assert feats.shape == manual.shape
    np.testing.assert_allclose(feats, manual, rtol=1e-4, atol=1e-4)
    tok = ex.processor.tokenizer
    answer = gen.sequences[:, -5:-1]
    assert texts == [tok.decode(a, skip_special_tokens=True).strip() for a in answer.tolist()]


def _with_answer(ex, monkeypatch, answer: list[list[int]]):
    monkeypatch.setattr(ex, "generate", lambda inputs: torch.tensor(answer))


def test_pools_generated_tokens_only(dataset, monkeypatch):
    ex = _extractor("llava")
    eos = next(iter(ex.eos_ids))
    batch = _batch(ex, dataset)
    runs = {}
    for name, answer in {
        "a": [[40, 41, 42, eos], [50, 51, eos, 0]],
        "a_tail": [[40, 41, 42, eos, 77, 78], [50, 51, eos, 0, 79, 80]],  # after EOS: ignored
        "b": [[40, 41, 43, eos], [50, 51, eos, 0]],  # first answer differs in one token
    }.items():
        _with_answer(ex, monkeypatch, answer)
        runs[name] = ex.forward(batch)
    np.testing.assert_allclose(runs["a"][0], runs["a_tail"][0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(runs["a"][0][:, 0], runs["b"][0][:, 0])  # answer changed
    np.testing.assert_allclose(runs["a"][0][:, 1], runs["b"][0][:, 1], rtol=1e-5, atol=1e-5)
    tok = ex.processor.tokenizer
    assert runs["a"][1] == [tok.decode([40, 41, 42]).strip(), tok.decode([50, 51]).strip()]

    # manual computation: one forward pass, mean over the answer positions
    with torch.inference_mode():
        inputs = to_device(batch, ex.device, ex.dtype)
        ids = torch.cat([inputs["input_ids"][:1], torch.tensor([[40, 41, 42]])], dim=1)
        mask = torch.ones_like(ids)
        out = ex.model(input_ids=ids, attention_mask=mask,
                       pixel_values=inputs["pixel_values"][:1], output_hidden_states=True)
    manual = np.stack([h[0, -3:].mean(dim=0).numpy() for h in out.hidden_states])
    np.testing.assert_allclose(runs["a"][0][:, 0], manual, rtol=1e-4, atol=1e-4)


def test_empty_answer_is_stored_as_empty_text(dataset, monkeypatch):
    ex = _extractor("llava")
    eos = next(iter(ex.eos_ids))
    _with_answer(ex, monkeypatch, [[eos, 0], [40, eos]])
    feats, texts = ex.forward(_batch(ex, dataset))
    assert texts[0] == "" and texts[1] != ""
    assert np.isfinite(feats).all()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown feature mode 'answer'"):
        _extractor("llava", mode="answer")


@pytest.mark.parametrize("arch", ["llava", "qwen2_5_vl", "idefics2"])
def test_placeholder_tokens_are_never_generated(arch, dataset):
    """A model that would answer with its image placeholder still yields valid features."""
    ex = _extractor(arch, max_new_tokens=3)
    cfg = ex.model.config
    image_id = getattr(cfg, "image_token_index", None) or cfg.image_token_id
    assert image_id in ex.suppress
    with torch.no_grad():  # make the placeholder the model's favourite answer
        ex.model.lm_head.weight[image_id] = ex.model.lm_head.weight.abs().max() * 100
        if getattr(ex.model.lm_head, "bias", None) is not None:
            ex.model.lm_head.bias[image_id] = 1e4
    batch = _batch(ex, dataset)
    answer = ex.generate(to_device(batch, ex.device, ex.dtype))
    assert not (answer == image_id).any()
    feats, _ = ex.forward(batch)
    assert np.isfinite(feats).all()


def _left_padded(ex, batch: dict, n_pad: int = 3) -> dict:
    """The same batch with ``n_pad`` extra pad tokens on the left of every prompt."""
    out = dict(batch)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    out["input_ids"] = torch.cat([torch.full((ids.shape[0], n_pad), ex.pad_id), ids], dim=1)
    out["attention_mask"] = torch.cat([torch.zeros((ids.shape[0], n_pad), dtype=mask.dtype), mask], 1)
    return out


@pytest.mark.parametrize("arch", ["llava", "qwen2_5_vl", "qwen2_audio", "idefics2"])
@pytest.mark.parametrize("mode", ["prompt", "response"])
def test_left_padding_does_not_change_features(arch, mode, dataset):
    """A stimulus batched with longer prompts (so left-padded) gets the same features.

    Pads are excluded from pooling and from attention; rotary positions are
    relative, so the shifted numbering of a padded row changes nothing.
    """
    ex = _extractor(arch, mode=mode, max_new_tokens=3)
    batch = _batch(ex, dataset)
    plain, plain_texts = ex.forward(batch)
    padded, padded_texts = ex.forward(_left_padded(ex, batch))
    np.testing.assert_allclose(padded, plain, rtol=1e-4, atol=1e-4)
    assert padded_texts == plain_texts
