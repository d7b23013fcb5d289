"""Encoders of transformers (image, video, audio, text) and helpers every family shares.

Every family implements :class:`brainalign.features.interface.Extractor`; the encoder
families' batches are :class:`EncoderBatch` (model inputs plus what pooling needs)
or, for audio in context, :class:`GroupedBatch`.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from brainalign.features.interface import Extractor
from brainalign.features.pooling import pool


@dataclass
class EncoderBatch:
    """Model inputs of a batch and what pooling needs besides them.

    ``pool_mask``: tokens to pool (text: the word's own tokens); ``n_samples``: real
    samples of each audio input (padding excluded); ``window_samples``: samples of each
    row's own window at the end of an audio input in context.
    """

    inputs: dict[str, Any]
    pool_mask: torch.Tensor | None = None
    n_samples: torch.Tensor | None = None
    window_samples: torch.Tensor | None = None

    def pin_memory(self) -> EncoderBatch:
        """Page-locked copy of the tensors (DataLoader ``pin_memory``)."""
        def pin(v: Any) -> Any:
            return v.pin_memory() if isinstance(v, torch.Tensor) else v

        return EncoderBatch({k: pin(v) for k, v in self.inputs.items()}, pin(self.pool_mask),
                            pin(self.n_samples), pin(self.window_samples))


@dataclass
class GroupedBatch:
    """Sub-batches of equal input length: ``(positions in the batch, sub-batch)`` each."""

    groups: list[tuple[list[int], EncoderBatch]] = field(default_factory=list)
    size: int = 0

    def pin_memory(self) -> GroupedBatch:
        return GroupedBatch([(idx, sub.pin_memory()) for idx, sub in self.groups], self.size)


def select_layers(n_states: int, layers: Any) -> list[int]:
    """Indices of hidden states to keep (``all`` or a list; negatives count from the end)."""
    if layers in (None, "all"):
        return list(range(n_states))
    out = []
    for i in layers:
        j = int(i) + n_states if int(i) < 0 else int(i)
        if not 0 <= j < n_states:
            raise ValueError(f"layer {i} out of range: the model has {n_states} hidden states")
        out.append(j)
    return out


def to_device(batch: dict[str, Any], device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """Move tensors to ``device``; floating inputs (pixels, audio) take the model dtype."""
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device)
        out[k] = v
    return out


def processor_config(processor: Any) -> dict[str, Any]:
    """A JSON-able description of a processor's preprocessing settings."""
    out: dict[str, Any] = {"class": type(processor).__name__}
    for attr in ("image_processor", "feature_extractor", "video_processor", "tokenizer"):
        sub = getattr(processor, attr, None)
        if sub is not None and sub is not processor:
            out[attr] = processor_config(sub)
    if hasattr(processor, "to_dict") and not hasattr(processor, "vocab_size"):
        try:
            out["settings"] = {k: v for k, v in processor.to_dict().items() if not k.startswith("_")}
        except Exception:  # noqa: BLE001 - description only
            pass
    if hasattr(processor, "name_or_path"):
        out["name_or_path"] = str(processor.name_or_path)
        out["vocab_size"] = len(processor)
    return out


class Collator:
    """Picklable batch builder for encoder families (runs in worker processes)."""

    def __init__(self, processor: Any, input_kind: str, rate: int, text_max_length: int = 512,
                 call_kwargs: dict[str, Any] | None = None):
        self.processor = processor
        self.input_kind = input_kind
        self.rate = rate
        self.text_max_length = text_max_length
        self.call_kwargs = dict(call_kwargs or {})  # registry ``processor_kwargs``

    def __call__(self, raws: list[Any]) -> EncoderBatch | GroupedBatch:
        p, kw = self.processor, self.call_kwargs
        if self.input_kind == "image":
            return EncoderBatch(dict(p(images=raws, return_tensors="pt", **kw)))
        if self.input_kind == "video":
            return EncoderBatch(dict(p(raws, return_tensors="pt", **kw)))
        if self.input_kind == "audio":
            if raws and isinstance(raws[0], dict):
                return self._audio_in_context(raws)
            kw = {"padding": True, **kw}  # e.g. Whisper needs padding: max_length (30 s)
            return EncoderBatch(dict(p(raws, sampling_rate=self.rate, return_tensors="pt", **kw)),
                                n_samples=torch.tensor([len(r) for r in raws]))
        return self._text(raws)

    def _audio_in_context(self, raws: list[dict[str, Any]]) -> GroupedBatch:
        """Audio with context: one unpadded sub-batch per input length.

        Inputs of equal length need no padding, so each stimulus' features do not
        depend on which others share its batch (shorter inputs occur at run starts).
        """
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(raws):
            groups.setdefault(len(r["audio"]), []).append(i)
        out = []
        for idx in groups.values():
            sub = self([raws[i]["audio"] for i in idx])
            window = torch.tensor([int(raws[i]["window_samples"]) for i in idx])
            out.append((idx, replace(sub, window_samples=window)))
        return GroupedBatch(out, len(raws))

    def _text(self, raws: list[dict[str, str]]) -> EncoderBatch:
        tok = self.processor
        texts, spans = [], []
        for r in raws:
            if r["context"]:
                s = f"{r['context']} {r['text']}"
                spans.append((len(r["context"]) + 1, len(s)))
            else:
                s = r["text"]
                spans.append(None)
            texts.append(s)
        enc = tok(
            texts, return_tensors="pt", padding=True, truncation=True,
            max_length=self.text_max_length, return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        offsets = enc.pop("offset_mapping")
        special = enc.pop("special_tokens_mask").bool()
        mask = enc["attention_mask"].bool() & ~special
        for i, span in enumerate(spans):
            if span is not None:  # a word in context: pool over that word's own tokens
                s, e = offsets[i, :, 0], offsets[i, :, 1]
                mask[i] &= (e > span[0]) & (s < span[1]) & (e > s)
            if not mask[i].any():  # empty text: fall back to all real tokens
                mask[i] = enc["attention_mask"][i].bool()
        return EncoderBatch(dict(enc), pool_mask=mask)


class EncoderExtractor(Extractor):
    """Image, video, audio and text encoders from transformers (one forward pass)."""

    def __init__(self, model, processor, entry: dict[str, Any], device, dtype):
        super().__init__(entry, device, dtype)
        self.model, self.processor = model, processor
        fe = getattr(processor, "feature_extractor", processor)
        self.rate = int(entry.get("sampling_rate") or getattr(fe, "sampling_rate", 16000) or 16000)
        cfg = getattr(model, "config", None)
        self.frames = int(entry.get("frames") or getattr(cfg, "num_frames", 16) or 16)
        self.submodule = entry.get("submodule")
        tok = processor if self.input_kind == "text" else None
        if tok is not None:
            tok.truncation_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
        max_len = int(getattr(cfg, "max_position_embeddings", 512) or 512)
        if getattr(cfg, "n_positions", None):
            max_len = int(cfg.n_positions)
        self.collator = Collator(processor, self.input_kind, self.rate, min(max_len, 512),
                                 entry.get("processor_kwargs"))
        # BERT-style tokenizers emit token_type_ids that decoder LMs do not take
        self._drop = () if "token_type_ids" in inspect.signature(self._net().forward).parameters \
            else ("token_type_ids",)

    def _net(self):
        return getattr(self.model, self.submodule) if self.submodule else self.model

    def _frames_mask(self, batch: EncoderBatch, n_tokens: int) -> torch.Tensor | None:
        """Mask of real (unpadded) time frames of an audio encoder's output.

        With ``window_samples`` (audio in context) only the frames of the current
        window, the last ``window / input`` fraction of the real frames, are kept.
        """
        n, window = batch.n_samples, batch.window_samples
        if n is None:
            return None
        if "input_features" in batch.inputs and hasattr(self.model.config, "max_source_positions"):
            hop = getattr(getattr(self.processor, "feature_extractor", self.processor), "hop_length", 160)
            lengths = torch.tensor([math.ceil(int(x) / hop / 2) for x in n])
        elif hasattr(self.model, "_get_feat_extract_output_lengths"):
            lengths = self.model._get_feat_extract_output_lengths(n)
        else:
            if window is not None:
                raise ValueError(
                    "context_s: cannot map seconds to output frames of "
                    f"{type(self.model).__name__}; "
                    "it needs an encoder with time-ordered frames (e.g. Wav2Vec2, HuBERT, Whisper)"
                )
            return None
        lengths = lengths.clamp(min=1, max=n_tokens)
        pos = torch.arange(n_tokens)[None, :]
        mask = pos < lengths[:, None]
        if window is not None:
            frac = window.double() / n.double().clamp(min=1)
            k = (lengths.double() * frac).round().long().clamp(min=1)
            k = torch.minimum(k, lengths)
            mask &= pos >= (lengths - k)[:, None]
        return mask

    @torch.inference_mode()
    def forward(self, batch: EncoderBatch | GroupedBatch) -> tuple[np.ndarray, None]:
        if isinstance(batch, GroupedBatch):  # audio in context: sub-batches of equal input length
            out: np.ndarray | None = None
            for idx, sub in batch.groups:
                feats, _ = self.forward(sub)
                if out is None:
                    out = np.empty((feats.shape[0], batch.size, feats.shape[2]), np.float32)
                out[:, idx] = feats
            return out, None
        inputs = to_device({k: v for k, v in batch.inputs.items() if k not in self._drop},
                           self.device, self.dtype)
        out = self._net()(**inputs, output_hidden_states=True)
        states = out.hidden_states
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        mask = batch.pool_mask
        if mask is None and batch.n_samples is not None:
            mask = self._frames_mask(batch, states[0].shape[1])
        pooled = [pool(states[i], mask, self.entry.get("pooling", "mean")) for i in keep]
        return torch.stack(pooled).float().cpu().numpy(), None

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": "none",
            "preprocessing": processor_config(self.processor),
            "sampling_rate": self.rate if self.input_kind == "audio" else 0,
            "frames": self.frames if self.input_kind == "video" else 0,
        }
