"""Instruction-following multimodal LLMs: ``prompt`` and ``response`` feature modes.

``prompt``: one forward pass over stimulus + instruction; each layer's hidden states
are pooled over all (unpadded) tokens.

``response`` (the papers' method): batched greedy decoding with a KV cache
(``generate``), then each layer's hidden states are pooled over the generated
tokens only. Following the ``generate`` convention, the state of generated token
``t`` is the last-position state of decoding step ``t`` (the one that predicts
it). Tokens from the first end-of-sequence token on are excluded; an answer that
is empty (EOS first) falls back to the first step's state and is stored as "".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from brainalign.features.extractors import processor_config, select_layers, to_device
from brainalign.features.pooling import pool

PROCESSOR_ARG = {"image": "images", "video": "videos", "audio": "audio"}
CONTENT_TYPE = {"image": "image", "video": "video", "audio": "audio"}


def render_prompt(processor: Any, entry: dict[str, Any], instruction: str) -> tuple[str, str]:
    """Return ``(template, prompt)``: the chat template used (verbatim) and the prompt text."""
    kind = entry["input"]
    if entry.get("prompt_template"):
        template = entry["prompt_template"]
        return template, template.format(instruction=instruction)
    template = getattr(processor, "chat_template", None)
    if not template:
        raise ValueError(
            f"model {entry.get('_name')!r}: its processor has no chat template and the "
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

    def __init__(self, processor: Any, input_kind: str, prompt: str, rate: int, arg: str | None):
        self.processor, self.input_kind, self.prompt, self.rate = processor, input_kind, prompt, rate
        self.arg = arg or PROCESSOR_ARG[input_kind]

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {self.arg: raws}
        if self.input_kind == "audio":
            kwargs["sampling_rate"] = self.rate
        out = self.processor(
            text=[self.prompt] * len(raws), padding=True, return_tensors="pt", **kwargs
        )
        out = dict(out)
        out.pop("token_type_ids", None)  # BERT-style tokenizers; decoder LMs take none
        return out


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


class MLLMExtractor:
    """Image, video and audio MLLMs (LLaVA-, InstructBLIP-, IDEFICS-, Qwen-style)."""

    def __init__(self, model, processor, entry, device, dtype, instruction: str, mode: str,
                 max_new_tokens: int = 16):
        if mode not in ("prompt", "response"):
            raise ValueError(f"unknown feature mode {mode!r}; allowed: prompt, response")
        self.model, self.processor, self.entry = model, processor, entry
        self.device, self.dtype, self.mode = device, dtype, mode
        self.max_new_tokens = int(max_new_tokens)
        self.input_kind = entry["input"]
        tok = _tokenizer(processor)
        tok.padding_side = "left"  # batched generation appends after the prompt
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        fe = getattr(processor, "feature_extractor", None)
        self.rate = int(entry.get("sampling_rate") or getattr(fe, "sampling_rate", 16000) or 16000)
        self.frames = int(entry.get("frames") or 16)
        self.template, self.prompt = render_prompt(processor, entry, instruction)
        self.collator = MLLMCollator(processor, self.input_kind, self.prompt, self.rate,
                                     entry.get("processor_arg"))
        gen_cfg = getattr(model, "generation_config", None)
        eos = entry.get("eos_token_id", getattr(gen_cfg, "eos_token_id", None))
        if eos is None:
            eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else next(iter(self.eos_ids))

    @staticmethod
    def _lm_states(out: Any) -> tuple[torch.Tensor, ...]:
        if getattr(out, "hidden_states", None) is not None:
            return out.hidden_states
        lm = getattr(out, "language_model_outputs", None)
        if lm is not None and getattr(lm, "hidden_states", None) is not None:
            return lm.hidden_states
        raise RuntimeError("model output carries no hidden states")

    @torch.inference_mode()
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, list[str] | None]:
        inputs = to_device(batch, self.device, self.dtype)
        if self.mode == "prompt":
            return self._prompt(inputs), None
        return self._response(inputs)

    def _prompt(self, inputs: dict[str, Any]) -> np.ndarray:
        out = self.model(**inputs, output_hidden_states=True, use_cache=False)
        states = self._lm_states(out)
        mask = inputs.get("attention_mask")
        if mask is not None and mask.shape[1] != states[0].shape[1]:
            # e.g. InstructBLIP prepends query tokens to the language model's input
            extra = states[0].shape[1] - mask.shape[1]
            mask = torch.cat([mask.new_ones(mask.shape[0], extra), mask], dim=1)
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        pooled = [pool(states[i], mask, self.entry.get("pooling", "mean")) for i in keep]
        return torch.stack(pooled).float().cpu().numpy()

    def _response(self, inputs: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
        gen = self.model.generate(
            **inputs,
            do_sample=False,
            num_beams=1,
            max_new_tokens=self.max_new_tokens,
            min_new_tokens=0,
            use_cache=True,
            output_hidden_states=True,
            return_dict_in_generate=True,
            pad_token_id=self.pad_id,
            eos_token_id=sorted(self.eos_ids),
        )
        steps = gen.hidden_states  # steps x layers x (B, t, D)
        n_steps = len(steps)
        new_tokens = gen.sequences[:, -n_steps:]
        is_eos = torch.zeros_like(new_tokens, dtype=torch.bool)
        for e in self.eos_ids:
            is_eos |= new_tokens == e
        valid = torch.cumsum(is_eos.int(), dim=1) == 0  # before the first EOS
        empty = ~valid.any(dim=1)
        valid[empty, 0] = True
        keep = select_layers(len(steps[0]), self.entry.get("layers", "all"))
        pooled = []
        for li in keep:
            per_step = torch.stack([steps[s][li][:, -1, :] for s in range(n_steps)], dim=1)
            pooled.append(pool(per_step, valid, self.entry.get("pooling", "mean")))
        tok = _tokenizer(self.processor)
        texts = []
        for b in range(new_tokens.shape[0]):
            ids = new_tokens[b][valid[b]].tolist() if not empty[b] else []
            texts.append(tok.decode(ids, skip_special_tokens=True).strip())
        return torch.stack(pooled).float().cpu().numpy(), texts

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": self.template,
            "prompt": self.prompt,
            "preprocessing": processor_config(self.processor),
            "max_new_tokens": self.max_new_tokens if self.mode == "response" else 0,
            "sampling_rate": self.rate if self.input_kind == "audio" else 0,
            "frames": self.frames if self.input_kind == "video" else 0,
        }
