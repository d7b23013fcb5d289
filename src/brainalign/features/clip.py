"""CLIP image towers through open_clip (``backend: open_clip``).

Registry keys: ``arch`` (open_clip model name, e.g. ``ViT-H-14``), ``hub_id`` +
``revision`` + ``weights_file`` (the checkpoint file in that hub repository,
fetched with a pinned revision), or ``config`` (an open_clip model config dict:
``embed_dim``, ``vision_cfg``, ``text_cfg``) for a randomly initialised model.
``init: random`` with an ``arch`` builds that architecture untrained (control).

Layers: 0 = patch + position embeddings after ``ln_pre``, then one per residual
block of the vision transformer, all from one forward pass.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from brainalign.features.extractors import select_layers
from brainalign.features.interface import Extractor
from brainalign.features.loading import ModelLoadError
from brainalign.features.pooling import pool

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS_FILE = "open_clip_pytorch_model.bin"


def _fetch_weights(entry: dict[str, Any], name: str) -> str:
    """Local path of the pinned checkpoint file (Hugging Face cache or local_path)."""
    if entry.get("local_path"):
        from brainalign.features.registry import resolve_local_path

        return resolve_local_path(entry["local_path"])
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(entry["hub_id"], entry.get("weights_file", DEFAULT_WEIGHTS_FILE),
                               revision=entry.get("revision"))
    except Exception as err:  # noqa: BLE001 - re-raised naming the model
        raise ModelLoadError(
            f"cannot load model {name!r}: open_clip weights "
            f"{entry.get('weights_file', DEFAULT_WEIGHTS_FILE)!r} of {entry['hub_id']!r} "
            f"(revision {entry.get('revision')!r}) are not available: {err}. "
            "Offline runs need the file in the Hugging Face cache (HF_HOME) first."
        ) from err


def build_open_clip(entry: dict[str, Any], name: str) -> tuple[torch.nn.Module, Any]:
    """Return ``(model, preprocess)`` for an open_clip registry entry."""
    import open_clip

    torch.manual_seed(int(entry.get("seed", 0)))
    if entry.get("config"):
        cfg = dict(entry["config"])
        model = open_clip.CLIP(**cfg)
        size = cfg["vision_cfg"].get("image_size", 224)
        preprocess = open_clip.image_transform(size, is_train=False)
        return model, preprocess
    arch = entry.get("arch")
    if not arch:
        raise ModelLoadError(f"model {name!r}: open_clip entries need 'arch' or 'config'")
    weights = None if entry.get("init") == "random" else _fetch_weights(entry, name)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=weights)
    except (RuntimeError, ValueError, OSError) as err:
        raise ModelLoadError(f"cannot build open_clip model {name!r} ({arch}): {err}") from err
    return model, preprocess


class OpenClipCollator:
    """Picklable: PIL images -> ``pixel_values`` with open_clip's preprocessing."""

    def __init__(self, preprocess: Any):
        self.preprocess = preprocess

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        return {"pixel_values": torch.stack([self.preprocess(im) for im in raws])}


class OpenClipExtractor(Extractor):
    """Hidden states of every block of an open_clip vision tower."""

    def __init__(self, entry: dict[str, Any], name: str, device, dtype):
        if entry["input"] != "image":
            raise ValueError(f"model {name!r}: open_clip towers take input: image")
        super().__init__(entry, device, dtype)
        model, self.preprocess = build_open_clip(entry, name)
        self.visual = model.visual.to(device=device, dtype=dtype).eval()
        del model  # the text tower is not needed
        self.collator = OpenClipCollator(self.preprocess)

    @torch.inference_mode()
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, None]:
        v = self.visual
        x = v._embeds(batch["pixel_values"].to(self.device, dtype=self.dtype))
        states = [x]
        first = getattr(v.transformer, "batch_first", True)
        h = x if first else x.transpose(0, 1)
        for block in v.transformer.resblocks:
            h = block(h)
            states.append(h if first else h.transpose(0, 1))
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        how = self.entry.get("pooling", "mean")
        pooled = [pool(states[i], None, how) for i in keep]
        return torch.stack(pooled).float().cpu().numpy(), None

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": "none",
            "preprocessing": repr(self.preprocess),
            "backend": "open_clip",
            "arch": self.entry.get("arch") or "config",
            "weights_file": self.entry.get("weights_file", DEFAULT_WEIGHTS_FILE),
        }
