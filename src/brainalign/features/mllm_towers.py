"""Modality towers of multimodal LLMs: the ``vision`` and ``audio`` streams.

A tower stream reads out every hidden state of the MLLM's own vision or audio
encoder (embeddings + each block) in one forward pass of the tower alone; the
language model is never run and the tower never sees the instruction, so these
entries take no instruction (``instruction_set: null``). Stimuli go through the
model's full processor, so the tower gets exactly the pixels / mel features it
gets in the joint stream.

Pooling is the mean over every token the tower outputs per stimulus: patches
(and a class token where the tower has one) for images; patches of all frames
for video; real (unpadded) time frames for audio.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from brainalign.features.extractors import processor_config, select_layers, to_device
from brainalign.features.interface import Extractor
from brainalign.features.mllm import MLLMCollator, render_prompt

TOWER_STREAMS = {"vision": ("image", "video"), "audio": ("audio",)}
TOWER_PATHS = {
    "video": ("video_tower", "model.video_tower"),  # Video-LLaVA: its own tower for videos
    "image": ("vision_tower", "model.vision_tower", "vision_model", "model.vision_model",
              "visual", "model.visual"),
    "audio": ("audio_tower", "model.audio_tower"),
}
SUPPORTED = {  # tower class -> readout
    "CLIPVisionModel": "vit", "SiglipVisionModel": "vit", "Blip2VisionModel": "vit",
    "InstructBlipVisionModel": "vit", "InstructBlipVideoVisionModel": "vit",
    "IdeficsVisionTransformer": "vit", "Idefics2VisionTransformer": "idefics2",
    "Idefics3VisionTransformer": "idefics2", "Qwen2_5_VisionTransformerPretrainedModel": "qwen_vl",
    "Qwen2AudioEncoder": "qwen_audio", "Qwen2_5OmniAudioEncoder": "omni_audio",
}


def _attr_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def find_tower(model: torch.nn.Module, stream: str, input_kind: str,
               path: str | None = None) -> torch.nn.Module:
    """The ``stream`` tower of ``model`` (``path``: an explicit attribute path)."""
    if stream not in TOWER_STREAMS:
        raise ValueError(f"unknown tower stream {stream!r}; allowed: {sorted(TOWER_STREAMS)}")
    if input_kind not in TOWER_STREAMS[stream]:
        raise ValueError(f"stream {stream!r} does not read {input_kind!r} input; it takes "
                         f"{' or '.join(TOWER_STREAMS[stream])}")
    paths = (path,) if path else (TOWER_PATHS["video"] if input_kind == "video" else ()) + \
        TOWER_PATHS["audio" if stream == "audio" else "image"]
    for p in paths:
        tower = _attr_path(model, p)
        if isinstance(tower, torch.nn.Module):
            return tower
    raise ValueError(f"{type(model).__name__} has no {stream} tower at {', '.join(paths)}")


def _states_vit(tower, batch: dict[str, Any]) -> tuple[list[torch.Tensor], Callable]:
    """CLIP/SigLIP/BLIP/IDEFICS-style towers; 5-D pixels are frames (or images) per stimulus."""
    pixels = batch.get("pixel_values_videos", batch.get("pixel_values"))
    if pixels is None:
        raise ValueError("the processor gave no pixel_values for the vision tower")
    n = pixels.shape[0]
    flat = pixels.reshape(-1, *pixels.shape[-3:])
    states = tower(pixel_values=flat, output_hidden_states=True).hidden_states
    return list(states), lambda s: s.reshape(n, -1, s.shape[-1]).mean(dim=1)


def _states_idefics2(tower, batch: dict[str, Any]) -> tuple[list[torch.Tensor], Callable]:
    """Idefics2/3: real images only, real patches only (as the model computes them)."""
    pixels = batch["pixel_values"]
    n, per = pixels.shape[:2]
    flat = pixels.reshape(n * per, *pixels.shape[2:])
    pmask = batch.get("pixel_attention_mask")
    pmask = torch.ones(flat.shape[0], *flat.shape[-2:], dtype=torch.bool, device=flat.device) \
        if pmask is None else pmask.reshape(n * per, *pmask.shape[2:]).bool()
    real = (flat != 0.0).flatten(1).any(dim=1)  # all-zero images pad the batch
    real[:: per] |= ~real.reshape(n, per).any(dim=1)  # keep one image per stimulus
    size = tower.config.patch_size
    patches = pmask.unfold(1, size, size).unfold(2, size, size).sum(dim=(-1, -2)) > 0
    states = tower(pixel_values=flat[real], patch_attention_mask=patches[real],
                   output_hidden_states=True).hidden_states
    owner = torch.arange(n, device=flat.device).repeat_interleave(per)[real]
    tokens = patches[real].flatten(1).float()  # (images, patches)

    def reduce(s: torch.Tensor) -> torch.Tensor:
        w = torch.zeros(n, s.shape[0], device=s.device, dtype=s.dtype)
        w[owner, torch.arange(s.shape[0], device=s.device)] = 1.0
        w = w[:, :, None] * tokens.to(s.dtype)[None]  # (stim, images, patches)
        return torch.einsum("nip,ipd->nd", w, s) / w.sum(dim=(1, 2))[:, None]

    return list(states), reduce


def _hooked(first: torch.nn.Module, blocks: Any, run: Callable[[], Any]) -> list[torch.Tensor]:
    """Run ``run``; collect ``first``'s output (a block's input) and every block's output."""
    states: list[torch.Tensor] = []
    out = lambda m, i, o: states.append(o[0] if isinstance(o, tuple) else o)  # noqa: E731
    hooks = [first.register_forward_pre_hook(lambda m, i: states.append(i[0]))
             if first is blocks[0] else first.register_forward_hook(out)]
    hooks += [b.register_forward_hook(out) for b in blocks]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return states


def _states_qwen_vl(tower, batch: dict[str, Any]) -> tuple[list[torch.Tensor], Callable]:
    """Qwen2.5-VL: patch embeddings + every block, tokens of all stimuli in one sequence."""
    if "pixel_values_videos" in batch:
        pixels, grid = batch["pixel_values_videos"], batch["video_grid_thw"]
    else:
        pixels, grid = batch["pixel_values"], batch["image_grid_thw"]
    states = _hooked(tower.patch_embed, tower.blocks, lambda: tower(pixels, grid_thw=grid))
    sizes = grid.prod(dim=-1).tolist()  # tokens per stimulus (window order stays within one)
    return states, lambda s: torch.stack([part.mean(dim=0) for part in s.split(sizes)])


def _states_omni_audio(tower, batch: dict[str, Any]) -> tuple[list[torch.Tensor], Callable]:
    """Qwen2.5-Omni audio encoder: unpadded frames of all stimuli in one sequence."""
    fmask = batch["feature_attention_mask"]
    lengths = fmask.sum(-1)
    feats = batch["input_features"].permute(0, 2, 1)[fmask.bool()].permute(1, 0)
    frames, _ = tower._get_feat_extract_output_lengths(lengths)
    states = _hooked(tower.layers[0], tower.layers,
                     lambda: tower(feats, feature_lens=lengths, aftercnn_lens=frames))
    sizes = frames.tolist()
    return states, lambda s: torch.stack([part.mean(dim=0) for part in s.split(sizes)])


def _states_qwen_audio(tower, batch: dict[str, Any]) -> tuple[list[torch.Tensor], Callable]:
    """Qwen2-Audio encoder with the model's own padding mask; mean over real frames."""
    feats, fmask = batch["input_features"], batch["feature_attention_mask"]
    frames, pooled = tower._get_feat_extract_output_lengths(fmask.sum(-1))
    n, _, n_mel = feats.shape
    steps = (n_mel - 2) // 2 + 1
    pad = torch.arange(steps, device=feats.device)[None, :] >= frames[:, None]
    attn = torch.zeros(n, 1, steps, steps, dtype=feats.dtype, device=feats.device)
    attn.masked_fill_(pad[:, None, None, :], float("-inf"))
    states = tower(feats, attention_mask=attn, output_hidden_states=True).hidden_states

    def reduce(s: torch.Tensor) -> torch.Tensor:
        lengths = frames if s.shape[1] == steps else pooled  # the last state is avg-pooled
        mask = (torch.arange(s.shape[1], device=s.device)[None, :] < lengths[:, None]).to(s.dtype)
        return (s * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)

    return list(states), reduce


READOUTS = {"vit": _states_vit, "idefics2": _states_idefics2, "qwen_vl": _states_qwen_vl,
            "qwen_audio": _states_qwen_audio, "omni_audio": _states_omni_audio}


def tower_states(tower: torch.nn.Module,
                 batch: dict[str, Any]) -> tuple[list[torch.Tensor], Callable]:
    """``(hidden states, reduce)``: the tower's states and how to pool one to (stimulus, unit)."""
    kind = SUPPORTED.get(type(tower).__name__)
    if kind is None:
        raise ValueError(f"no tower readout for {type(tower).__name__}; "
                         f"supported: {', '.join(sorted(SUPPORTED))}")
    return READOUTS[kind](tower, batch)


class TowerExtractor(Extractor):
    """Vision or audio tower of an MLLM: one forward pass of the tower, no instruction."""

    def __init__(self, model, processor, entry: dict[str, Any], device, dtype, name: str = ""):
        super().__init__(entry, device, dtype)
        self.processor, self.stream = processor, entry["stream"]
        self.tower = find_tower(model, self.stream, self.input_kind, entry.get("tower"))
        if type(self.tower).__name__ not in SUPPORTED:
            raise ValueError(f"model {name!r}: no {self.stream} readout for its "
                             f"tower {type(self.tower).__name__}; supported: "
                             f"{', '.join(sorted(SUPPORTED))}")
        self.tower.to(device).eval()  # the language model stays where it was loaded
        tok = getattr(processor, "tokenizer", processor)
        if getattr(tok, "pad_token", "x") is None:
            tok.pad_token = tok.eos_token
        fe = getattr(processor, "feature_extractor", None)
        self.rate = int(entry.get("sampling_rate") or getattr(fe, "sampling_rate", 0) or 16000)
        self.frames = int(entry.get("frames") or 16)
        # the processor needs a prompt to place the media; its text tokens are not used
        _, prompt = render_prompt(processor, entry, "", name)
        self.collator = MLLMCollator(processor, self.input_kind, prompt, self.rate,
                                     entry.get("processor_arg"),
                                     entry.get("processor_kwargs"))

    @torch.inference_mode()
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, None]:
        inputs = to_device(batch, self.device, self.dtype)
        states, reduce = tower_states(self.tower, inputs)
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        return torch.stack([reduce(states[i]) for i in keep]).float().cpu().numpy(), None

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": "none",
            "stream": self.stream,
            "tower": type(self.tower).__name__,
            "tower_pooling": "mean over the tower's tokens (all frames, real audio frames)",
            "preprocessing": processor_config(self.processor),
            "sampling_rate": self.rate if self.input_kind == "audio" else 0,
            "frames": self.frames if self.input_kind == "video" else 0,
        }
