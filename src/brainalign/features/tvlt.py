"""TVLT (textless vision-language transformer): video, audio and joint feature sets.

TVLT has one transformer shared by both modalities. Its video and audio patch
embeddings are concatenated after a CLS token and encoded together. Which
modalities go in follows the registry ``input`` (``video``, ``audio`` or
``audiovisual``). Which tokens are pooled follows ``stream``: ``video``, ``audio``
or ``joint`` (all non-CLS tokens). The default stream matches the input. A
unimodal input is encoded alone, as the original TVLT allows; transformers'
``TvltModel.forward`` needs both modalities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from brainalign.features.extractors import processor_config, select_layers, to_device
from brainalign.features.interface import Extractor
from brainalign.features.pooling import pool

STREAMS = ("video", "audio", "joint")
DEFAULT_STREAM = {"video": "video", "audio": "audio", "audiovisual": "joint"}


class TvltCollator:
    """Picklable: decoded clips/audio -> ``pixel_values``/``audio_values`` and masks."""

    def __init__(self, processor: Any, input_kind: str, rate: int):
        self.processor, self.input_kind, self.rate = processor, input_kind, rate

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.input_kind == "audiovisual":
            videos, audios = [r["frames"] for r in raws], [r["audio"] for r in raws]
        elif self.input_kind == "video":
            videos, audios = raws, None
        else:
            videos, audios = None, raws
        if videos is not None:
            out.update(self.processor.image_processor(videos, return_tensors="pt"))
        if audios is not None:
            out.update(self.processor.feature_extractor(audios, sampling_rate=self.rate,
                                                        return_tensors="pt"))
        return out


class TvltExtractor(Extractor):
    """All hidden states of TVLT's encoder, pooled over one stream's tokens."""

    def __init__(self, model, processor, entry: dict[str, Any], device, dtype):
        super().__init__(entry, device, dtype)
        self.model, self.processor = model, processor
        if self.input_kind not in DEFAULT_STREAM:
            raise ValueError(f"TVLT takes input video, audio or audiovisual, not {self.input_kind!r}")
        self.stream = entry.get("stream") or DEFAULT_STREAM[self.input_kind]
        if self.stream not in STREAMS:
            raise ValueError(f"unknown TVLT stream {self.stream!r}; allowed: {list(STREAMS)}")
        fed = {"video": ("video",), "audio": ("audio",), "audiovisual": ("video", "audio")}
        if self.stream != "joint" and self.stream not in fed[self.input_kind]:
            raise ValueError(f"TVLT stream {self.stream!r} needs that modality in the input "
                             f"(input is {self.input_kind!r})")
        self.rate = int(entry.get("sampling_rate") or processor.feature_extractor.sampling_rate)
        self.frames = int(entry.get("frames") or model.config.num_frames)
        self.collator = TvltCollator(processor, self.input_kind, self.rate)

    @torch.inference_mode()
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, None]:
        m = self.model
        inputs = to_device(dict(batch), self.device, self.dtype)
        b = next(v for v in inputs.values() if isinstance(v, torch.Tensor)).shape[0]
        parts = [m.cls_embedding.repeat(b, 1, 1)]
        masks = [torch.ones(b, 1, device=self.device)]
        spans: dict[str, tuple[int, int]] = {}
        for key, embed, kind in (("pixel", m.pixel_embeddings, "video"),
                                 ("audio", m.audio_embeddings, "audio")):
            values = inputs.get(f"{key}_values")
            if values is None:
                continue
            emb, _ = embed(values, inputs.get(f"{key}_mask"))
            mask = inputs.get(f"{key}_mask")
            if mask is None:
                mask = torch.ones(emb.shape[:2], device=self.device)
            start = sum(p.shape[1] for p in parts)
            spans[kind] = (start, start + emb.shape[1])
            parts.append(emb)
            masks.append(mask.to(emb.dtype))
        x, mask = torch.cat(parts, 1), torch.cat(masks, 1)
        ext = m.get_extended_attention_mask(mask, x.shape)
        states = m.encoder(x, attention_mask=ext, output_hidden_states=True,
                           return_dict=True).hidden_states
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        select = torch.zeros_like(mask, dtype=torch.bool)
        if self.stream == "joint":
            select[:, 1:] = True
        else:
            s, e = spans[self.stream]
            select[:, s:e] = True
        select &= mask.bool()
        how = self.entry.get("pooling", "mean")
        pooled = [pool(states[i], select if how != "cls" else None, how) for i in keep]
        return torch.stack(pooled).float().cpu().numpy(), None

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": "none",
            "preprocessing": processor_config(self.processor),
            "stream": self.stream,
            "sampling_rate": self.rate if self.input_kind != "video" else 0,
            "frames": self.frames if self.input_kind != "audio" else 0,
        }
