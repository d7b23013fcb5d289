"""MERLOT Reserve (JAX/Flax) through its own code, rowanz/merlot_reserve.

Written against github.com/rowanz/merlot_reserve at ``c73420a`` (``mreserve/modeling.py``:
``MerlotReserve`` and ``PretrainedMerlotReserve``; ``mreserve/preprocess.py``:
``preprocess_image_to_patches``; ``mreserve/lowercase_encoder.py``: ``get_encoder``,
``PADDING``, ``MASK``; ``mreserve/checkpoint.py``: ``load_checkpoint``; usage as in
``demo/demo_video.py`` and ``finetune/tvqa/tvqa_finetune.py``). Runs only in
the ``merlot-reserve`` environment; upstream code is used unchanged.

Streams (registry ``stream``):

* ``joint`` (input ``video_text``: the TR's frames and the words spoken in it): every
  hidden state of the joint transformer -- layer 0 is its input sequence (transcript
  token embeddings followed by the pooled vision-encoder tokens of the frames, as
  ``prepare_multimodal_inputs`` builds it), layers 1..12 the outputs of its
  ``layer_00``..``layer_11`` (before ``final_ln``), read with Flax
  ``capture_intermediates``; each layer is mean-pooled over the valid positions
  (``joint_pool: all``: tokens and frames; ``text``: the token positions only).
  ``condition`` ablates one input and changes nothing else:

  - ``vision_language``: frames and transcript;
  - ``language_only``: the frames are removed (``vision_ablation``: ``blank`` =
    black frames through the vision encoder, the default; ``zeros`` = zero vision
    encodings, as ``tvqa_finetune.py`` fills a missing image; ``drop`` = no vision
    tokens in the joint sequence);
  - ``vision_only``: the transcript is removed (``text_ablation``: ``mask`` = one
    ``<|MASK|>`` token per frame segment, the model's query for a missing span as
    in the upstream demo, the default; ``drop`` = no tokens).

  A TR in which nobody speaks has no transcript in any condition: its segments
  carry one ``<|MASK|>`` token each (``text_ablation: drop``: none).
  The words are split over the frame segments in order (``segment_tokens``).
* ``vision``: ``get_imgseq_only`` -- the vision encoder alone (last layer after the 2x2
  attention pooling), mean-pooled over pooled patches and frames; one layer.
* ``language``: ``embed_text_spans_only`` -- the text-span encoder alone (CLS
  projection) for a word with its preceding context; one layer.

``checkpoint``: ``pretrained`` (``PretrainedMerlotReserve.from_pretrained``,
``ckpts/{model_size}``) or a fine-tuned checkpoint fetched from ``weights_url``
(e.g. ``tvqa_ckpts/tvqa_finetune_base``), loaded with upstream ``load_checkpoint``
into the same ``MerlotReserve`` module; parameters the joint encoder does not use
(the TVQA answer head) are ignored.

At most 8 frames (segments) per stimulus, as upstream ``preprocess_video`` allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from brainalign.features.interface import ExtractionRequest, Extractor

UPSTREAM = "github.com/rowanz/merlot_reserve@c73420a54f5e7d1f9a5b62846d73cd8bc9f6898b"
STREAMS = ("vision", "language", "joint")
CONDITIONS = ("vision_language", "language_only", "vision_only")
VISION_ABLATIONS = ("blank", "zeros", "drop")
TEXT_ABLATIONS = ("mask", "drop")
JOINT_POOLS = ("all", "text")
MAX_SEGMENTS = 8      # preprocess_video: "at most 8 segments"
MAX_TOKENS = 160      # preprocess_video pads/truncates tokens to 160
SPAN_LENGTH = 15      # get_label_space: spans padded to 15 (SpanTransformer max_len 16)
DEFAULT_GRID = (12, 20)  # from_pretrained: the pretraining resolution, checkpoint ckpts/base
EXPOSED = {
    "vision": "vision_encoder last layer, seq_attnpool (get_imgseq_only)",
    "language": "span_encoder CLS projection, unit-normalised (embed_text_spans_only)",
    "joint": "joint_transformer input + every layer_NN output (capture_intermediates)",
}


def segment_tokens(n_segments: int, transcript: list[int], mask_id: int | None) -> list[list[int]]:
    """Token ids of each frame segment: the transcript split in order, else one MASK each.

    ``mask_id=None`` leaves segments without a transcript empty.
    """
    if not transcript:
        return [[] if mask_id is None else [mask_id] for _ in range(n_segments)]
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


def ablate(frames: np.ndarray, text: str, condition: str,
           vision_ablation: str = "blank") -> tuple[np.ndarray, str, str]:
    """The inputs of one condition: ``(frames, transcript, vision mode)``.

    Vision mode ``encode`` runs the vision encoder on ``frames``; ``zeros`` replaces its
    output by zeros; ``drop`` leaves the vision tokens out. Only the ablated input differs
    from ``vision_language``: the frame count and the text segmentation stay the same.
    """
    if condition == "vision_language":
        return frames, text, "encode"
    if condition == "vision_only":
        return frames, "", "encode"
    if condition == "language_only":
        if vision_ablation == "blank":
            return np.zeros_like(frames), text, "encode"
        return frames, text, vision_ablation
    raise ValueError(f"unknown MERLOT Reserve condition {condition!r}; allowed: {list(CONDITIONS)}")


def joint_hidden_states(module: Any, imgs, tokens, subseg, vision: str):
    """Run as ``method`` of ``MerlotReserve.apply``: the joint transformer's input sequence.

    Encodes the frames (``vision``: ``encode``/``zeros``/``drop``), builds the joint
    input with the module's own ``prepare_multimodal_inputs`` and runs
    ``joint_transformer`` on it, so ``capture_intermediates`` records its layers.
    """
    import jax.numpy as jnp

    vision_input = None
    if vision != "drop":
        enc = module.vision_encoder(imgs)["seq_attnpool"]
        if vision == "zeros":
            enc = jnp.zeros_like(enc)
        vision_input = enc.reshape((1, -1, enc.shape[-1]))
    mm_inputs = module.prepare_multimodal_inputs(
        tokens=tokens[None], token_segment_idx=subseg[None] // 3, vision_input=vision_input)
    module.joint_transformer(**mm_inputs)
    return mm_inputs["x"]


def _is_joint_layer(module: Any, method_name: str) -> bool:
    """``capture_intermediates`` filter: the ``__call__`` of every ``layer_NN`` module."""
    return method_name == "__call__" and str(getattr(module, "name", "")).startswith("layer_")


def joint_layers(module: Any, params: Any, imgs, tokens, subseg, vision: str,
                 jit: bool = True, compiled: dict | None = None) -> list[np.ndarray]:
    """Input + every layer output of the joint transformer (each 1 x sequence x H).

    ``compiled``: a dict keeping the jitted function per vision mode across calls.
    """
    import jax

    def run(p, i, t, s):
        return module.apply({"params": p}, i, t, s, vision, method=joint_hidden_states,
                            capture_intermediates=_is_joint_layer, mutable=["intermediates"])

    if jit:
        compiled = {} if compiled is None else compiled
        run = compiled.setdefault(vision, jax.jit(run))
    x, state = run(params, imgs, tokens, subseg)
    layers = state["intermediates"]["joint_transformer"]
    names = sorted(k for k in layers if str(k).startswith("layer_"))
    expected = getattr(module, "joint_num_layers", None) or len(names)
    if len(names) != int(expected):
        raise RuntimeError(f"captured {len(names)} joint layers, the model has {expected}")
    return [np.asarray(x, dtype=np.float32)] + [
        np.asarray(layers[k]["__call__"][0], dtype=np.float32) for k in names]


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


def _choice(entry: dict[str, Any], key: str, allowed: tuple, default: str) -> str:
    value = entry.get(key) or default
    if value not in allowed:
        raise ValueError(f"MERLOT Reserve entry: {key}={value!r}; allowed: {list(allowed)}")
    return value


class MerlotReserveExtractor(Extractor):
    """One stream of MERLOT Reserve (see the module docstring)."""

    def __init__(self, model: Any, entry: dict[str, Any], stream: str, grid: tuple[int, int],
                 patchify, encoder: Any, pad_id: int, mask_id: int):
        if stream not in STREAMS:
            raise ValueError(f"unknown MERLOT Reserve stream {stream!r}; allowed: {list(STREAMS)}")
        self.model, self.entry, self.stream, self.grid = model, entry, stream, tuple(grid)
        self.patchify, self.encoder = patchify, encoder
        self.pad_id, self.mask_id = int(pad_id), int(mask_id)
        self.condition = _choice(entry, "condition", CONDITIONS, "vision_language")
        self.vision_ablation = _choice(entry, "vision_ablation", VISION_ABLATIONS, "blank")
        self.text_ablation = _choice(entry, "text_ablation", TEXT_ABLATIONS, "mask")
        self.joint_pool = _choice(entry, "joint_pool", JOINT_POOLS, "all")
        self.jit = bool(entry.get("jit", True))
        self._compiled: dict[str, Any] = {}
        self.input_kind = {"language": "text", "vision": "video", "joint": "video_text"}[stream]
        self.frames = min(int(entry.get("frames") or MAX_SEGMENTS), MAX_SEGMENTS)
        self.collator = MerlotCollator(stream, self.frames)

    def _patches(self, frames: np.ndarray) -> np.ndarray:
        return np.stack([self.patchify(f, output_grid_size=self.grid) for f in frames])

    def _vision(self, frames: np.ndarray) -> np.ndarray:
        enc = np.asarray(self.model.get_imgseq_only(self._patches(frames)), dtype=np.float32)
        return enc.reshape(-1, enc.shape[-1]).mean(axis=0)

    def _joint(self, frames: np.ndarray, text: str) -> np.ndarray:
        """Every joint layer (layers x H) of one TR under this extractor's condition."""
        frames, text, vision = ablate(frames, text, self.condition, self.vision_ablation)
        transcript = self.encoder.encode(text).ids if text else []
        mask_id = self.mask_id if self.text_ablation == "mask" else None
        tokens, subseg = pack_tokens(segment_tokens(len(frames), transcript, mask_id),
                                     pad_id=self.pad_id)
        states = joint_layers(self.model.model, self.model.params, self._patches(frames),
                              tokens, subseg, vision, jit=self.jit, compiled=self._compiled)
        n_vis = states[0].shape[1] - len(tokens)
        valid = np.concatenate([tokens != self.pad_id, np.full(n_vis, self.joint_pool == "all")])
        return np.stack([mean_valid(h[0], valid) for h in states])

    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, None]:
        if self.stream == "language":
            spans = np.stack([span_ids(self.encoder.encode(t).ids, self.pad_id)
                              for t in batch["texts"]])
            feats = np.asarray(self.model.embed_text_spans_only(spans), dtype=np.float32)[None]
        elif self.stream == "vision":
            feats = np.stack([self._vision(f) for f in batch["frames"]])[None]
        else:  # layers x stimuli x H
            feats = np.stack([self._joint(f, t) for f, t in zip(batch["frames"], batch["texts"])],
                             axis=1)
        return feats.astype(np.float32), None

    def attrs(self) -> dict[str, Any]:
        joint = self.stream == "joint"
        return {
            "prompt_template": "none",
            "preprocessing": {"class": "mreserve.preprocess.preprocess_image_to_patches",
                              "image_grid_size": list(self.grid),
                              "model_size": self.entry.get("model_size", "base"),
                              "checkpoint": self.entry.get("checkpoint", "pretrained"),
                              "span_length": SPAN_LENGTH, "max_tokens": MAX_TOKENS},
            "condition": self.condition if joint else "none",
            "vision_ablation": self.vision_ablation if joint else "none",
            "text_ablation": self.text_ablation if joint else "none",
            "joint_pool": self.joint_pool if joint else "none",
            "upstream_code": UPSTREAM,
            "layers_exposed": EXPOSED[self.stream],
            "sampling_rate": 0,
            "frames": self.frames if self.input_kind != "text" else 0,
        }


def _download(url: str, path: str) -> None:
    """Fetch a checkpoint file once (to a temporary name, renamed when complete)."""
    import os
    import urllib.request

    tmp = path + ".part"
    with urllib.request.urlopen(url) as src, open(tmp, "wb") as dst:  # noqa: S310 - https URL from the registry
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            dst.write(chunk)
    os.replace(tmp, path)


def load_model(entry: dict[str, Any], grid: tuple[int, int]) -> Any:
    """A ``PretrainedMerlotReserve``: the pretrained checkpoint, or a fine-tuned one.

    A fine-tuned checkpoint (``checkpoint`` other than ``pretrained``) is fetched from
    ``weights_url`` into ``cache_dir`` and loaded into the ``MerlotReserve`` module built
    from the repository's ``pretrain/configs/{model_size}.yaml``, as ``from_pretrained``
    builds the pretrained one.
    """
    import os

    from mreserve.modeling import PretrainedMerlotReserve

    size = entry.get("model_size", "base")
    checkpoint = entry.get("checkpoint") or "pretrained"
    if checkpoint == "pretrained":
        return PretrainedMerlotReserve.from_pretrained(
            model_name=size, image_grid_size=grid, cache_dir=entry.get("cache_dir"))
    import mreserve
    import yaml
    from mreserve.checkpoint import load_checkpoint
    from mreserve.lowercase_encoder import get_encoder
    from mreserve.modeling import MerlotReserve

    cache = entry.get("cache_dir") or os.path.join(os.path.expanduser("~"), ".cache", "merlotreserve")
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, checkpoint)
    if not os.path.exists(path):
        _download(entry["weights_url"], path)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(mreserve.__file__)))
    with open(os.path.join(repo, "pretrain", "configs", f"{size}.yaml")) as fh:
        config = yaml.safe_load(fh)
    config["model"]["output_grid"] = list(grid)
    config["model"]["use_bfloat16"] = False
    return PretrainedMerlotReserve(model=MerlotReserve.from_config(config),
                                   params=load_checkpoint(path)["params"], encoder=get_encoder())


def build_extractor(request: ExtractionRequest) -> MerlotReserveExtractor:
    """Load the model of the request's entry (see :func:`load_model`) for its ``stream``.

    ``device``/``dtype`` are torch settings of the runner; JAX places and types the
    model itself (float32 off TPU, as upstream decides).
    """
    from mreserve.lowercase_encoder import MASK, PADDING, get_encoder
    from mreserve.preprocess import preprocess_image_to_patches

    entry = request.entry
    stream = entry.get("stream", "joint")
    grid = tuple(entry.get("image_grid_size") or DEFAULT_GRID)
    model = load_model(entry, grid)
    return MerlotReserveExtractor(model, entry, stream, grid, preprocess_image_to_patches,
                                  get_encoder(), PADDING, MASK)
