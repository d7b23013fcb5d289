"""Instruction-following multimodal LLMs: ``prompt`` and ``response`` feature modes.

``prompt``: one forward pass over stimulus + instruction; each layer's hidden states
are pooled over all (unpadded) tokens.

``response`` (the papers' method): batched greedy decoding with a KV cache
(``generate``) writes the answer; then one forward pass over prompt + answer
gives every layer's hidden states at the answer's own positions, which are pooled
over the generated tokens only (up to, not including, the first end-of-sequence
token). With causal attention these are exactly the states the decoder computed
for those tokens, including the last one, which ``generate`` never feeds back.
An empty answer (EOS first) is pooled over the EOS position and stored as "".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from brainalign.features.extractors import processor_config, select_layers, to_device
from brainalign.features.interface import Extractor
from brainalign.features.pooling import pool

PROCESSOR_ARG = {"image": "images", "video": "videos", "audio": "audio"}
CONTENT_TYPE = {"image": "image", "video": "video", "audio": "audio"}
MEDIA_SLOT = "{image}"  # in a prompt_template: where an interleaving processor puts the image


def render_prompt(processor: Any, entry: dict[str, Any], instruction: str,
                  name: str = "") -> tuple[str, str]:
    """Return ``(template, prompt)``: the chat template used (verbatim) and the prompt text.

    The model's processor supplies the chat template; a registry ``prompt_template``
    (``{instruction}``, optionally ``{image}``) is used for processors without one.
    """
    kind = entry["input"]
    if entry.get("prompt_template"):
        template = entry["prompt_template"]
        return template, template.replace(MEDIA_SLOT, "\x00").format(instruction=instruction) \
            .replace("\x00", MEDIA_SLOT)
    template = getattr(processor, "chat_template", None)
    if not template:
        raise ValueError(
            f"model {name!r}: its processor has no chat template and the "
            "registry entry sets no prompt_template"
        )
    messages = [
        {
            "role": "user",
            "content": [{"type": CONTENT_TYPE[kind]}, {"type": "text", "text": instruction}],
        }
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return template, prompt


class MLLMCollator:
    """Picklable: prompt + decoded stimuli -> processor tensors (runs in workers)."""

    def __init__(self, processor: Any, input_kind: str, prompt: str, rate: int, arg: str | None,
                 call_kwargs: dict[str, Any] | None = None):
        self.processor, self.input_kind, self.prompt, self.rate = processor, input_kind, prompt, rate
        self.arg = arg or PROCESSOR_ARG[input_kind]
        self.call_kwargs = dict(call_kwargs or {})

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"padding": True, "return_tensors": "pt", **self.call_kwargs}
        if self.input_kind == "video":
            raws = [np.stack(r) if isinstance(r, (list, tuple)) else r for r in raws]
        if MEDIA_SLOT in self.prompt:  # interleaved prompts (IDEFICS): [text, image, text]
            pre, post = self.prompt.split(MEDIA_SLOT, 1)
            out = self.processor(text=[[p for p in (pre, r, post) if not isinstance(p, str) or p]
                                       for r in raws], **kw)
        else:
            kw[self.arg] = raws
            if self.input_kind == "audio":
                kw["sampling_rate"] = self.rate
            out = self.processor(text=[self.prompt] * len(raws), **kw)
        out = dict(out)
        out.pop("token_type_ids", None)  # BERT-style tokenizers; decoder LMs take none
        return out


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def lm_states(out: Any) -> tuple[torch.Tensor, ...]:
    """Per-layer hidden states of the language model in a model output."""
    if getattr(out, "hidden_states", None) is not None:
        return out.hidden_states
    lm = getattr(out, "language_model_outputs", None)
    if lm is not None and getattr(lm, "hidden_states", None) is not None:
        return lm.hidden_states
    raise RuntimeError("model output carries no hidden states")


def answer_mask(new_tokens: torch.Tensor, eos_ids: set[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(valid, empty)``: generated positions before the first EOS; answers with none.

    An empty answer keeps its first position (the EOS) so it can still be pooled.
    """
    is_eos = torch.zeros_like(new_tokens, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= new_tokens == e
    valid = torch.cumsum(is_eos.int(), dim=1) == 0
    empty = ~valid.any(dim=1)
    valid[empty, 0] = True
    return valid, empty


PLACEHOLDER_ATTRS = ("image_token_index", "image_token_id", "video_token_index", "video_token_id",
                     "audio_token_index", "audio_token_id", "vision_start_token_id",
                     "vision_end_token_id", "audio_start_token_id", "audio_end_token_id")


def placeholder_ids(config: Any, tokenizer: Any) -> list[int]:
    """Ids of multimodal placeholder tokens (``<image>``, ``<|video_pad|>``, ...).

    They are kept out of answers: fed back in the pass over prompt + answer, a
    generated placeholder would be taken for a slot of image/video/audio features.
    """
    ids: set[int] = set()
    for cfg in (config, getattr(config, "text_config", None)):
        for attr in PLACEHOLDER_ATTRS:
            value = getattr(cfg, attr, None) if cfg is not None else None
            if isinstance(value, int) and value >= 0:
                ids.add(value)
    for attr in ("image_token", "video_token", "audio_token", "boi_token"):
        token = getattr(tokenizer, attr, None)
        if isinstance(token, str):
            tid = tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                ids.add(tid)
    for token in ("<image>", "<video>", "<fake_token_around_image>", "<global-img>"):
        tid = tokenizer.convert_tokens_to_ids(token) if token in tokenizer.get_vocab() else None
        if isinstance(tid, int):
            ids.add(tid)
    return sorted(ids)


def extend_inputs(inputs: dict[str, Any], new_tokens: torch.Tensor,
                  new_mask: torch.Tensor) -> dict[str, Any]:
    """Inputs of one forward pass over prompt + answer (prompt tensors kept as they are)."""
    out = dict(inputs)
    out["input_ids"] = torch.cat([inputs["input_ids"], new_tokens], dim=1)
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(inputs["input_ids"])
    out["attention_mask"] = torch.cat([mask, new_mask.to(mask.dtype)], dim=1)
    iam = inputs.get("image_attention_mask")  # IDEFICS: answer tokens see the prompt's images
    if iam is not None:
        out["image_attention_mask"] = torch.cat(
            [iam, iam[:, -1:].expand(-1, new_tokens.shape[1], -1)], dim=1)
    return out


class MLLMExtractor(Extractor):
    """Image, video and audio MLLMs (LLaVA-, InstructBLIP-, IDEFICS-, Qwen-style)."""

    def __init__(self, model, processor, entry, device, dtype, instruction: str, mode: str,
                 max_new_tokens: int = 16, name: str = ""):
        if mode not in ("prompt", "response"):
            raise ValueError(f"unknown feature mode {mode!r}; allowed: prompt, response")
        super().__init__(entry, device, dtype)
        self.model, self.processor, self.mode = model, processor, mode
        self.max_new_tokens = int(max_new_tokens)
        tok = _tokenizer(processor)
        tok.padding_side = "left"  # batched generation appends after the prompt
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        fe = getattr(processor, "feature_extractor", None)
        self.rate = int(entry.get("sampling_rate") or getattr(fe, "sampling_rate", 16000) or 16000)
        self.frames = int(entry.get("frames") or 16)
        self.template, self.prompt = render_prompt(processor, entry, instruction, name)
        self.collator = MLLMCollator(processor, self.input_kind, self.prompt, self.rate,
                                     entry.get("processor_arg"), entry.get("processor_kwargs"))
        gen_cfg = getattr(model, "generation_config", None)
        eos = entry.get("eos_token_id", getattr(gen_cfg, "eos_token_id", None))
        if eos is None:
            eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else next(iter(self.eos_ids))
        self.suppress = placeholder_ids(model.config, tok)
        self.tokens = 0  # prompt + answer tokens processed (for throughput reports)

    @torch.inference_mode()
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, list[str] | None]:
        inputs = to_device(batch, self.device, self.dtype)
        if self.mode == "prompt":
            return self._prompt(inputs), None
        return self._response(inputs)

    def _pooled(self, inputs: dict[str, Any], mask: torch.Tensor) -> np.ndarray:
        """Forward pass; pool each kept layer over the last ``mask.shape[1]`` positions."""
        out = self.model(**inputs, output_hidden_states=True, use_cache=False)
        states = lm_states(out)
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        how = self.entry.get("pooling", "mean")
        n = mask.shape[1]
        return torch.stack([pool(states[i][:, -n:], mask, how) for i in keep]).float().cpu().numpy()

    def _prompt(self, inputs: dict[str, Any]) -> np.ndarray:
        mask = inputs.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(inputs["input_ids"])
        self.tokens += int(mask.sum())
        # states longer than the mask (query tokens prepended to the LM input) are
        # covered: pooling runs over the last mask.shape[1] positions
        return self._pooled(inputs, mask.bool())

    def generate(self, inputs: dict[str, Any]) -> torch.Tensor:
        """Greedy answers (batch x new tokens), prompt removed."""
        seqs = self.model.generate(
            **inputs, do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens,
            min_new_tokens=0, use_cache=True, pad_token_id=self.pad_id,
            eos_token_id=sorted(self.eos_ids), suppress_tokens=self.suppress or None,
        )
        if not isinstance(seqs, torch.Tensor):
            seqs = seqs.sequences
        ids = inputs["input_ids"]
        n = ids.shape[1]
        if seqs.shape[1] > n and torch.equal(seqs[:, :n], ids):
            return seqs[:, n:]
        return seqs  # encoder-side prompts: generate returns the answer only

    def _response(self, inputs: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
        new_tokens = self.generate(inputs)
        valid, empty = answer_mask(new_tokens, self.eos_ids)
        full = extend_inputs(inputs, new_tokens, valid)
        self.tokens += int(full["attention_mask"].sum())
        feats = self._pooled(full, valid)
        tok = _tokenizer(self.processor)
        texts = []
        for b in range(new_tokens.shape[0]):
            ids = [] if empty[b] else new_tokens[b][valid[b]].tolist()
            texts.append(tok.decode(ids, skip_special_tokens=True).strip())
        return feats, texts

    def _generation(self) -> dict[str, Any]:
        """Decoding settings: ours, over the model's own generation config."""
        cfg = getattr(self.model, "generation_config", None)
        try:
            defaults = cfg.to_diff_dict() if cfg is not None else {}
        except Exception:  # noqa: BLE001 - description only
            defaults = {}
        return {"do_sample": False, "num_beams": 1, "max_new_tokens": self.max_new_tokens,
                "eos_token_id": sorted(self.eos_ids), "model_generation_config": defaults}

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": self.template,
            "prompt": self.prompt,
            "preprocessing": processor_config(self.processor),
            "max_new_tokens": self.max_new_tokens if self.mode == "response" else 0,
            "response_pooling": "answer positions before the first EOS, one forward pass"
            if self.mode == "response" else "none",
            "suppressed_tokens": self.suppress if self.mode == "response" else [],
            "generation": self._generation() if self.mode == "response" else {},
            "sampling_rate": self.rate if self.input_kind == "audio" else 0,
            "frames": self.frames if self.input_kind == "video" else 0,
        }
