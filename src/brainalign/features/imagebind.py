"""ImageBind (cross-modal embedding model): vision, audio and concatenated feature sets.

``stream`` (default from ``input``): ``vision`` (image or video input), ``audio``,
or ``concat`` (audiovisual input: the vision and audio embeddings joined).
``readout: layers`` (default for vision/audio) gives every block of the modality
trunk, layer 0 = tokens entering the first block; ``readout: embedding`` gives
the model's output embedding as one layer (always so for ``concat``).

Preprocessing follows ``imagebind.data`` (CLIP normalisation at 224 px; audio at
16 kHz as 128-bin Kaldi log-mel spectrograms of 204 frames from 2 s clips,
normalised with ImageBind's mean/std). Deviations: one centre crop instead of
three spatial crops for video, and the video clip's ``frames`` are taken as
consecutive 2-frame clips of the TR window (embeddings averaged over clips, as
ImageBind averages over clips).

The package's ``imagebind/__init__`` imports torchaudio and pytorchvideo (for file
loading only); the model modules are loaded without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brainalign.features.extractors import select_layers
from brainalign.features.interface import Extractor
from brainalign.features.loading import ModelLoadError
from brainalign.features.melspec import fbank
from brainalign.features.pooling import pool

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
AUDIO_MEAN, AUDIO_STD = -4.268, 9.138
IMAGE_SIZE = 224
STREAMS = ("vision", "audio", "concat")
DEFAULT_STREAM = {"image": "vision", "video": "vision", "audio": "audio", "audiovisual": "concat"}


def imagebind_model_module() -> types.ModuleType:
    """``imagebind.models.imagebind_model`` without running ``imagebind/__init__``."""
    name = "imagebind.models.imagebind_model"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("imagebind")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "ImageBind is not installed: pip install --no-deps imagebind-unofficial==0.1.1 "
            "einops iopath"
        )
    if "imagebind" not in sys.modules:
        pkg = types.ModuleType("imagebind")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        sys.modules["imagebind"] = pkg
    return importlib.import_module(name)


def _weights_path(entry: dict[str, Any], name: str) -> Path:
    """Local checkpoint: ``local_path``, or ``weights_url`` cached under TORCH_HOME."""
    if entry.get("local_path"):
        from brainalign.features.registry import resolve_local_path

        path = Path(resolve_local_path(entry["local_path"]))
        if not path.exists():
            raise ModelLoadError(f"cannot load model {name!r}: ImageBind weights {path} not found")
        return path
    url = entry.get("weights_url")
    if not url:
        raise ModelLoadError(f"model {name!r}: pretrained ImageBind needs weights_url or local_path")
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    dest = folder / os.path.basename(url)
    if not dest.exists():
        if not entry.get("sha256"):
            raise ModelLoadError(
                f"model {name!r}: ImageBind weights {url} are not cached at {dest} and the registry "
                "entry pins no checksum; set sha256: <hash of the file> in config/models.yaml "
                "(downloads are checked against it) or place the file there yourself"
            )
        folder.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(dest), hash_prefix=entry.get("sha256"))
        except Exception as err:  # noqa: BLE001 - re-raised naming the model
            raise ModelLoadError(
                f"cannot load model {name!r}: ImageBind weights {url} are not cached at {dest} "
                f"and cannot be downloaded: {err}"
            ) from err
    return dest


def build_imagebind(entry: dict[str, Any], name: str) -> torch.nn.Module:
    """ImageBind from a size ``config`` (random), or the huge model (pretrained or random)."""
    ib = imagebind_model_module()
    torch.manual_seed(int(entry.get("seed", 0)))
    if entry.get("config"):
        return ib.ImageBindModel(**entry["config"])
    pretrained = entry.get("init", "pretrained") == "pretrained"
    path = _weights_path(entry, name) if pretrained else None  # fail before building
    model = ib.imagebind_huge(pretrained=False)
    if path is not None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as err:  # noqa: BLE001
            raise ModelLoadError(f"cannot load ImageBind weights {path} for {name!r}: {err}") from err
    return model


# --------------------------------------------------------------------------- preprocessing


def _image_tensor(image: Any) -> torch.Tensor:
    """PIL image or HWC uint8 array -> normalised (3, 224, 224)."""
    from torchvision.transforms import functional as F
    from torchvision.transforms import InterpolationMode

    if isinstance(image, np.ndarray):
        t = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)
    else:
        t = F.pil_to_tensor(image.convert("RGB"))
    t = F.resize(t, IMAGE_SIZE, interpolation=InterpolationMode.BICUBIC, antialias=True)
    t = F.center_crop(t, IMAGE_SIZE).float() / 255.0
    return F.normalize(t, CLIP_MEAN, CLIP_STD)


def vision_clips(raw: Any) -> torch.Tensor:
    """An image -> (1, 3, 224, 224); a list of frames -> (n // 2, 3, 2, 224, 224)."""
    if not isinstance(raw, list):
        return _image_tensor(raw).unsqueeze(0)
    frames = torch.stack([_image_tensor(f) for f in raw], dim=1)  # 3, T, H, W
    n = max(2, frames.shape[1] - frames.shape[1] % 2)
    if frames.shape[1] < n:
        frames = frames.repeat_interleave(2, dim=1)[:, :n]
    return torch.stack([frames[:, i : i + 2] for i in range(0, n, 2)])


def audio_clips(wave: np.ndarray, rate: int, clip_s: float = 2.0, n_clips: int = 3,
                mel_bins: int = 128, target_len: int = 204) -> torch.Tensor:
    """ImageBind audio input: (clips, 1, mel_bins, target_len) from a mono waveform."""
    x = torch.from_numpy(np.asarray(wave, dtype=np.float32))
    duration = len(x) / rate
    latest = max(duration - clip_s, 0.0)
    starts = sorted({latest / (n_clips - 1) * i if n_clips > 1 else 0.0 for i in range(n_clips)})
    out = []
    for s in starts:
        seg = x[int(s * rate) : int((s + clip_s) * rate)]
        seg = seg - seg.mean()
        mel = fbank(seg, rate, num_mel_bins=mel_bins).T  # mel_bins x frames
        pad = target_len - mel.shape[1]
        mel = torch.nn.functional.pad(mel, (0, pad)) if pad > 0 else mel[:, :target_len]
        out.append(((mel - AUDIO_MEAN) / AUDIO_STD).unsqueeze(0))
    return torch.stack(out)


class ImageBindCollator:
    """Picklable: decoded stimuli -> per-modality clip tensors and clip counts."""

    def __init__(self, input_kind: str, rate: int, mel_bins: int, target_len: int):
        self.input_kind, self.rate = input_kind, rate
        self.mel_bins, self.target_len = mel_bins, target_len

    def _audio(self, wave: np.ndarray) -> torch.Tensor:
        return audio_clips(wave, self.rate, mel_bins=self.mel_bins, target_len=self.target_len)

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        vision, audio = [], []
        for r in raws:
            if self.input_kind == "audiovisual":
                vision.append(vision_clips(r["frames"]))
                audio.append(self._audio(r["audio"]))
            elif self.input_kind == "audio":
                audio.append(self._audio(r))
            else:
                vision.append(vision_clips(r))
        out: dict[str, Any] = {}
        for key, clips in (("vision", vision), ("audio", audio)):
            if clips:
                out[key] = torch.cat(clips)
                out[f"{key}_counts"] = torch.tensor([c.shape[0] for c in clips])
        return out


# --------------------------------------------------------------------------- extractor


class ImageBindExtractor(Extractor):
    """Per-block trunk states (or output embeddings) of ImageBind's modality towers."""

    def __init__(self, entry: dict[str, Any], name: str, device, dtype):
        super().__init__(entry, device, dtype)
        if self.input_kind not in DEFAULT_STREAM:
            raise ValueError(f"model {name!r}: ImageBind takes image, video, audio or audiovisual")
        self.stream = entry.get("stream") or DEFAULT_STREAM[self.input_kind]
        if self.stream not in STREAMS or DEFAULT_STREAM[self.input_kind] != self.stream:
            raise ValueError(f"model {name!r}: stream {self.stream!r} does not match input "
                             f"{self.input_kind!r} (vision: image/video, audio: audio, "
                             "concat: audiovisual)")
        self.readout = "embedding" if self.stream == "concat" else entry.get("readout", "layers")
        if self.readout not in ("layers", "embedding"):
            raise ValueError(f"model {name!r}: readout must be 'layers' or 'embedding'")
        self.model = build_imagebind(entry, name).to(device=device, dtype=dtype).eval()
        self.rate = int(entry.get("sampling_rate") or 16000)
        self.frames = int(entry.get("frames") or 2)
        cfg = entry.get("config") or {}
        mel_bins = int(cfg.get("audio_num_mel_bins", 128))
        target_len = int(cfg.get("audio_target_len", 204))
        self.collator = ImageBindCollator(self.input_kind, self.rate, mel_bins, target_len)

    def _trunk_states(self, modality: str, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        pre = m.modality_preprocessors[modality](**{modality: x})
        trunk = m.modality_trunks[modality]
        tokens, mask = pre["trunk"]["tokens"], pre["trunk"].get("attn_mask")
        h = trunk.pre_transformer_layer(tokens)  # L x B x D
        states = [h.transpose(0, 1)]
        for blk in trunk.blocks:
            h = blk(h, attn_mask=mask)
            states.append(h.transpose(0, 1))
        if self.readout == "layers":
            return states
        out = trunk.post_transformer_layer(h)
        out = m.modality_heads[modality](out, **pre["head"])
        return [m.modality_postprocessors[modality](out)]

    def _per_stimulus(self, modality: str, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Per layer: (stimuli, units), pooled over tokens then averaged over clips."""
        x = batch[modality].to(self.device, dtype=self.dtype)
        counts = batch[f"{modality}_counts"].tolist()
        how = self.entry.get("pooling", "mean")
        states = self._trunk_states(modality, x)
        keep = range(len(states)) if self.readout == "embedding" else \
            select_layers(len(states), self.entry.get("layers", "all"))
        out = []
        for i in keep:
            pooled = pool(states[i], None, how)  # clips x units
            out.append(torch.stack([c.mean(0) for c in pooled.split(counts)]))
        return out

    @torch.inference_mode()
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, None]:
        if self.stream == "concat":
            v, a = self._per_stimulus("vision", batch), self._per_stimulus("audio", batch)
            layers = [torch.cat([v[-1], a[-1]], dim=1)]
        else:
            layers = self._per_stimulus(self.stream, batch)
        return torch.stack(layers).float().cpu().numpy(), None

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": "none",
            "preprocessing": "imagebind: CLIP-normalised 224 px centre crop; 2-frame video "
                             "clips; 2 s audio clips, 128-bin Kaldi log-mel, 204 frames",
            "stream": self.stream,
            "readout": self.readout,
            "sampling_rate": self.rate if self.input_kind in ("audio", "audiovisual") else 0,
            "frames": self.frames if self.input_kind in ("video", "audiovisual") else 0,
        }
