"""MERLOT Reserve (JAX/Flax) through its own code, rowanz/merlot_reserve.

Written against github.com/rowanz/merlot_reserve at ``c73420a`` (``mreserve/modeling.py``:
``PretrainedMerlotReserve.from_pretrained``; ``mreserve/preprocess.py``:
``preprocess_image_to_patches``; ``mreserve/lowercase_encoder.py``: ``get_encoder``,
``PADDING``, ``MASK``; usage as in ``demo/demo_video.py``). Runs only in
``envs/merlot-reserve.yaml``.

Upstream exposes no per-layer states: ``TransformerEncoder`` returns only its final
layer (after ``final_ln``), and the model's public methods return one representation
per stream. Each stream therefore has exactly one layer:

* ``vision``: ``get_imgseq_only`` -- the last vision-transformer layer after the 2x2
  attention pooling (``seq_attnpool``), mean-pooled over pooled patches and frames;
* ``language``: ``embed_text_spans_only`` -- the text-span encoder's CLS projection
  (unit-normalised), for the word with its preceding context (last 15 tokens);
* ``joint``: ``embed_preencoded_noaudio`` -- the last joint-transformer layer, projected
  by the model's head and unit-normalised, at the transcript token positions, mean-pooled.
  Frames enter as ``get_imgseq_only`` encodings. The runner's ``video`` input gives frames
  only, so each frame segment then carries one ``<|MASK|>`` token (the model's masked-span
  query, as in the upstream demo); a stimulus given as ``{"frames": ..., "text": ...}``
  has its transcript tokens split over the segments in order.

At most 8 frames (segments) per stimulus, as upstream ``preprocess_video`` allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

UPSTREAM = "github.com/rowanz/merlot_reserve@c73420a54f5e7d1f9a5b62846d73cd8bc9f6898b"
STREAMS = ("vision", "language", "joint")
MAX_SEGMENTS = 8      # preprocess_video: "at most 8 segments"
MAX_TOKENS = 160      # preprocess_video pads/truncates tokens to 160
SPAN_LENGTH = 15      # get_label_space: spans padded to 15 (SpanTransformer max_len 16)
DEFAULT_GRID = (12, 20)  # from_pretrained: the pretraining resolution, checkpoint ckpts/base
EXPOSED = {
    "vision": "vision_encoder last layer, seq_attnpool (get_imgseq_only)",
    "language": "span_encoder CLS projection, unit-normalised (embed_text_spans_only)",
    "joint": "joint_transformer last layer -> head, unit-normalised (embed_preencoded_noaudio)",
}


def segment_tokens(n_segments: int, transcript: list[int], mask_id: int) -> list[list[int]]:
    """Token ids of each frame segment: the transcript split in order, else one MASK each."""
    if not transcript:
        return [[mask_id] for _ in range(n_segments)]
    return [list(map(int, c)) for c in np.array_split(np.asarray(transcript, dtype=np.int64),
                                                      n_segments)]


def pack_tokens(segments: list[list[int]], pad_id: int = 0,
                max_len: int = MAX_TOKENS) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens, subseg_idxs)`` of fixed length, as upstream ``preprocess_video`` packs text.

    Segment ``i``'s tokens get sub-segment index ``3 * i``; the sequence is cut at
    ``max_len`` and padded with ``pad_id`` / ``-1``.
    """
    tokens, subseg = [], []
    for i, seg in enumerate(segments):
        tokens.extend(int(t) for t in seg)
        subseg.extend([3 * i] * len(seg))
    tokens, subseg = tokens[:max_len], subseg[:max_len]
    n = max_len - len(tokens)
    return (np.asarray(tokens + [pad_id] * n, dtype=np.int32),
            np.asarray(subseg + [-1] * n, dtype=np.int32))


def span_ids(ids: list[int], pad_id: int = 0, length: int = SPAN_LENGTH) -> np.ndarray:
    """A text span for the span encoder: the last ``length`` ids, right-padded with ``pad_id``."""
    ids = [int(i) for i in ids][-length:] if ids else []
    return np.asarray(ids + [pad_id] * (length - len(ids)), dtype=np.int32)


def mean_valid(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean of ``x`` (L x H) over rows where ``valid`` (L) is true."""
    valid = np.asarray(valid, dtype=bool)
    if not valid.any():
        raise ValueError("pooling mask selects no position")
    return np.asarray(x, dtype=np.float32)[valid].mean(axis=0)


def span_text(raw: dict[str, str]) -> str:
    """A word stimulus with its preceding context, as one string."""
    return f"{raw['context']} {raw['text']}" if raw.get("context") else raw["text"]


class MerlotCollator:
    """Picklable: decoded stimuli -> plain arrays/strings (encoding runs in ``forward``)."""

    def __init__(self, stream: str, frames: int):
        self.stream, self.frames = stream, frames

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        if self.stream == "language":
            return {"texts": [span_text(r) for r in raws]}
        clips, texts = [], []
        for r in raws:
            frames, text = (r["frames"], r.get("text", "")) if isinstance(r, dict) else (r, "")
            clips.append(np.stack([np.asarray(f, dtype=np.uint8) for f in frames])[: self.frames])
            texts.append(text)
        return {"frames": clips, "texts": texts}


class MerlotReserveExtractor:
    """One stream of MERLOT Reserve; features have one layer (see the module docstring)."""

    def __init__(self, model: Any, entry: dict[str, Any], stream: str, grid: tuple[int, int],
                 patchify, encoder: Any, pad_id: int, mask_id: int):
        if stream not in STREAMS:
            raise ValueError(f"unknown MERLOT Reserve stream {stream!r}; allowed: {list(STREAMS)}")
        self.model, self.entry, self.stream, self.grid = model, entry, stream, tuple(grid)
        self.patchify, self.encoder = patchify, encoder
        self.pad_id, self.mask_id = int(pad_id), int(mask_id)
        self.input_kind = "text" if stream == "language" else "video"
        self.frames = min(int(entry.get("frames") or MAX_SEGMENTS), MAX_SEGMENTS)
        self.collator = MerlotCollator(stream, self.frames)

    def _images(self, frames: np.ndarray) -> np.ndarray:
        """Vision encodings (segments x pooled patches x H) of one clip's frames."""
        patches = np.stack([self.patchify(f, output_grid_size=self.grid) for f in frames])
        return np.asarray(self.model.get_imgseq_only(patches), dtype=np.float32)

    def _one(self, frames: np.ndarray, text: str) -> np.ndarray:
        enc = self._images(frames)
        if self.stream == "vision":
            return enc.reshape(-1, enc.shape[-1]).mean(axis=0)
        transcript = self.encoder.encode(text).ids if text else []
        tokens, subseg = pack_tokens(segment_tokens(len(frames), transcript, self.mask_id),
                                     pad_id=self.pad_id)
        out = np.asarray(self.model.embed_preencoded_noaudio(enc, tokens, subseg))
        return mean_valid(out, tokens != self.pad_id)

    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, None]:
        if self.stream == "language":
            spans = np.stack([span_ids(self.encoder.encode(t).ids, self.pad_id)
                              for t in batch["texts"]])
            feats = np.asarray(self.model.embed_text_spans_only(spans), dtype=np.float32)
        else:
            feats = np.stack([self._one(f, t) for f, t in zip(batch["frames"], batch["texts"])])
        return feats[None].astype(np.float32), None

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": "none",
            "preprocessing": {"class": "mreserve.preprocess.preprocess_image_to_patches",
                              "image_grid_size": list(self.grid),
                              "model_size": self.entry.get("model_size", "base"),
                              "span_length": SPAN_LENGTH, "max_tokens": MAX_TOKENS},
            "upstream_code": UPSTREAM,
            "layers_exposed": EXPOSED[self.stream],
            "sampling_rate": 0,
            "frames": self.frames if self.input_kind == "video" else 0,
        }


def build_extractor(entry: dict[str, Any], name: str, device, dtype) -> MerlotReserveExtractor:
    """Load the pretrained model (``from_pretrained``, checkpoint from GCS) for ``entry['stream']``.

    ``device``/``dtype`` are torch settings of the runner; JAX places and types the
    model itself (float32 off TPU, as upstream decides).
    """
    from mreserve.lowercase_encoder import MASK, PADDING, get_encoder
    from mreserve.modeling import PretrainedMerlotReserve
    from mreserve.preprocess import preprocess_image_to_patches

    stream = entry.get("stream", "joint")
    grid = tuple(entry.get("image_grid_size") or DEFAULT_GRID)
    model = PretrainedMerlotReserve.from_pretrained(
        model_name=entry.get("model_size", "base"), image_grid_size=grid,
        cache_dir=entry.get("cache_dir"))
    return MerlotReserveExtractor(model, entry, stream, grid, preprocess_image_to_patches,
                                  get_encoder(), PADDING, MASK)
