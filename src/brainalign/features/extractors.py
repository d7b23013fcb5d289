"""Family extractors: turn a batch of decoded stimuli into pooled per-layer features.

Every extractor exposes the same small interface used by the runner:

* ``collator``: a picklable callable (list of decoded stimuli -> model inputs) that
  runs in DataLoader worker processes, so preprocessing overlaps the forward pass;
* ``forward(batch)`` -> ``(features[layer, batch, unit] float32 numpy, texts|None)``;
* ``attrs()``: what the store records (prompt template, preprocessing, ...).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import torch

from brainalign.features.pooling import pool


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

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        p, kw = self.processor, self.call_kwargs
        if self.input_kind == "image":
            return dict(p(images=raws, return_tensors="pt", **kw))
        if self.input_kind == "video":
            return dict(p(raws, return_tensors="pt", **kw))
        if self.input_kind == "audio":
            if raws and isinstance(raws[0], dict):
                return self._audio_in_context(raws)
            kw = {"padding": True, **kw}  # e.g. Whisper needs padding: max_length (30 s)
            batch = dict(p(raws, sampling_rate=self.rate, return_tensors="pt", **kw))
            batch["_n_samples"] = torch.tensor([len(r) for r in raws])
            return batch
        return self._text(raws)

    def _audio_in_context(self, raws: list[dict[str, Any]]) -> dict[str, Any]:
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
            sub["_window_samples"] = torch.tensor([int(raws[i]["window_samples"]) for i in idx])
            out.append((idx, sub))
        return {"_groups": out, "_size": len(raws)}

    def _text(self, raws: list[dict[str, str]]) -> dict[str, Any]:
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
        enc = dict(enc)
        enc["_pool_mask"] = mask
        return enc


class EncoderExtractor:
    """Image, video, audio and text encoders from transformers (one forward pass)."""

    def __init__(self, model, processor, entry: dict[str, Any], device, dtype):
        self.model, self.processor, self.entry = model, processor, entry
        self.device, self.dtype = device, dtype
        self.input_kind = entry["input"]
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

    def _frames_mask(self, batch: dict[str, Any], n_tokens: int) -> torch.Tensor | None:
        """Mask of real (unpadded) time frames of an audio encoder's output.

        With ``_window_samples`` (audio in context) only the frames of the current
        window, the last ``window / input`` fraction of the real frames, are kept.
        """
        n = batch.get("_n_samples")
        if n is None:
            return None
        window = batch.get("_window_samples")
        if "input_features" in batch and hasattr(self.model.config, "max_source_positions"):
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
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, None]:
        if "_groups" in batch:  # audio in context: sub-batches of equal input length
            out: np.ndarray | None = None
            for idx, sub in batch["_groups"]:
                feats, _ = self.forward(sub)
                if out is None:
                    out = np.empty((feats.shape[0], batch["_size"], feats.shape[2]), np.float32)
                out[:, idx] = feats
            return out, None
        batch = dict(batch)
        mask = batch.pop("_pool_mask", None)
        n_samples = batch.pop("_n_samples", None)
        window = batch.pop("_window_samples", None)
        inputs = to_device({k: v for k, v in batch.items() if k not in self._drop},
                           self.device, self.dtype)
        out = self._net()(**inputs, output_hidden_states=True)
        states = out.hidden_states
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        if mask is None and n_samples is not None:
            extra = {"_n_samples": n_samples}
            if window is not None:
                extra["_window_samples"] = window
            mask = self._frames_mask({**batch, **extra}, states[0].shape[1])
        pooled = [pool(states[i], mask, self.entry.get("pooling", "mean")) for i in keep]
        return torch.stack(pooled).float().cpu().numpy(), None

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": "none",
            "preprocessing": processor_config(self.processor),
            "sampling_rate": self.rate if self.input_kind == "audio" else 0,
            "frames": self.frames if self.input_kind == "video" else 0,
        }
