"""mPLUG-Owl (``MAGAer13/mplug-owl-llama-7b``) through its own code, X-PLUG/mPLUG-Owl.

Written against github.com/X-PLUG/mPLUG-Owl at ``21ff9b0`` (``mPLUG-Owl/mplug_owl``:
``modeling_mplug_owl.MplugOwlForConditionalGeneration``, ``processing_mplug_owl.
MplugOwlProcessor`` / ``MplugOwlImageProcessor``; loading as in ``pipeline/interface.py``
and ``serve/model_worker.py``). Runs only in the ``mplug-owl`` environment (envs/requirements/mplug-owl.txt).

The upstream ``forward`` is a training forward (it needs labels and masks and does not
return hidden states), and ``generate`` builds the language model's input embeddings
internally. This adapter therefore builds the same embeddings as upstream ``generate``
(:func:`splice_media`: each run of negative placeholder ids in ``input_ids`` starts the
visual-abstractor queries of one image) and runs ``model.language_model`` (LLaMA) on
them with ``output_hidden_states``:

* ``prompt`` mode: every layer's hidden states (embeddings + each decoder layer) mean-
  pooled over all prompt positions (image queries included);
* ``response`` mode: greedy ``model.generate``, then one pass over prompt + answer,
  pooled over the answer positions before the first EOS (as ``brainalign.features.mllm``).

The prompt is mPLUG-Owl's own conversation template (:data:`TEMPLATE`).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from brainalign.features.extractors import processor_config, select_layers, to_device
from brainalign.features.interface import ExtractionRequest, Extractor
from brainalign.features.mllm import answer_mask, extend_inputs
from brainalign.features.pooling import pool

UPSTREAM = "github.com/X-PLUG/mPLUG-Owl@21ff9b0bd301fa8d7be107a5ed85b34278eca64f"
SYSTEM = ("The following is a conversation between a curious human and AI assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
TEMPLATE = SYSTEM + "\nHuman: <image>\nHuman: {instruction}\nAI: "


def build_prompt(instruction: str) -> str:
    """mPLUG-Owl's single-image conversation prompt for ``instruction``."""
    return TEMPLATE.format(instruction=instruction)


def media_starts(ids: torch.Tensor | list[int]) -> list[int]:
    """Start of each run of negative (media placeholder) ids, as upstream ``get_media_indices``."""
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    return [i for i, v in enumerate(ids) if v < 0 and (i == 0 or ids[i - 1] != v)]


def left_align(input_ids: torch.Tensor, attention_mask: torch.Tensor,
               pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Move right padding (what the mPLUG-Owl processor emits) to the left.

    Batched generation appends after the last position, so real tokens must end there.
    """
    mask = attention_mask.bool()
    ids_out = torch.full_like(input_ids, pad_id)
    mask_out = torch.zeros_like(attention_mask)
    t = input_ids.shape[1]
    for b in range(input_ids.shape[0]):
        real = input_ids[b][mask[b]]
        ids_out[b, t - real.numel():] = real
        mask_out[b, t - real.numel():] = 1
    return ids_out, mask_out


def answer_tokens(seqs: torch.Tensor, bos_id: int | None) -> torch.Tensor:
    """Generated tokens of ``model.generate``.

    Upstream generates from ``inputs_embeds``, so the prompt is not in the output; some
    transformers versions (4.28, pinned in the environment) start it with a BOS column.
    """
    if bos_id is not None and seqs.shape[1] > 0 and bool((seqs[:, 0] == bos_id).all()):
        return seqs[:, 1:]
    return seqs


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only (left padding gets 0), as LLaMA generation does."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def splice_media(text_embeds: torch.Tensor, attention_mask: torch.Tensor, starts: list[list[int]],
                 image_embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Language-model inputs: image queries written over their placeholder positions.

    Mirrors the embedding step of upstream ``MplugOwlForConditionalGeneration.generate``:
    for the ``i``-th image of a row starting at ``pos``, positions ``pos .. pos + Q - 1``
    take that image's ``Q`` query embeddings (attention 1); the sequence length is kept.
    """
    rows, masks, img = [], [], 0
    q = image_embeds.shape[1]
    for b in range(text_embeds.shape[0]):
        parts, part_mask, start = [], [], 0
        for i, pos in enumerate(starts[b]):
            if pos > start:
                parts.append(text_embeds[b, start:pos])
                part_mask.append(attention_mask[b, start:pos])
            parts.append(image_embeds[img + i].to(text_embeds.dtype))
            part_mask.append(torch.ones(q, device=text_embeds.device, dtype=attention_mask.dtype))
            start = pos + q
        if start < text_embeds.shape[1]:
            parts.append(text_embeds[b, start:])
            part_mask.append(attention_mask[b, start:])
        img += len(starts[b])
        rows.append(torch.cat(parts, dim=0))
        masks.append(torch.cat(part_mask, dim=0))
    return torch.stack(rows), torch.stack(masks)


class MplugOwlCollator:
    """Picklable: images -> prompt ids (left-aligned) + pixel values (runs in workers)."""

    def __init__(self, processor: Any, prompt: str, pad_id: int):
        self.processor, self.prompt, self.pad_id = processor, prompt, pad_id

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        out = self.processor(text=[self.prompt] * len(raws), images=raws, return_tensors="pt")
        ids, mask = left_align(torch.as_tensor(out["input_ids"]),
                               torch.as_tensor(out["attention_mask"]).long(), self.pad_id)
        return {"input_ids": ids, "attention_mask": mask,
                "pixel_values": torch.as_tensor(out["pixel_values"])}


class MplugOwlExtractor(Extractor):
    """Prompt / response features of mPLUG-Owl's language model."""

    input_kind = "image"

    def __init__(self, model: Any, processor: Any, entry: dict[str, Any], device, dtype,
                 instruction: str, mode: str, max_new_tokens: int = 16):
        if mode not in ("prompt", "response"):
            raise ValueError(f"unknown feature mode {mode!r}; allowed: prompt, response")
        self.model, self.processor, self.entry = model, processor, entry
        self.device, self.dtype, self.mode = device, dtype, mode
        self.max_new_tokens = int(max_new_tokens)
        self.tokenizer = processor.tokenizer
        self.prompt = build_prompt(instruction)
        tok = self.tokenizer
        self.eos_id = int(entry.get("eos_token_id", tok.eos_token_id))
        self.eos_ids = {self.eos_id}
        self.pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        self.bos_id = tok.bos_token_id
        self.collator = MplugOwlCollator(processor, self.prompt, self.pad_id)
        lm_params = inspect.signature(model.language_model.forward).parameters
        self._positions = "position_ids" in lm_params
        self.tokens = 0

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input embeddings of the language model, built as upstream ``generate`` does."""
        m = self.model
        starts = [media_starts(row) for row in input_ids]
        ids = input_ids.clone()
        ids[ids < 0] = 0  # placeholder ids are overwritten by image queries
        text = m.get_input_embeddings()(ids)
        body = getattr(m.language_model, "transformer", None)  # BLOOM variants, as upstream
        if body is not None and hasattr(body, "word_embeddings_layernorm"):
            text = body.word_embeddings_layernorm(text)
        pixel_values = pixel_values.to(m.vision_model.embeddings.cls_token.data.dtype)
        image = m.vision_model(pixel_values, return_dict=True).last_hidden_state
        queries = m.query_tokens.expand(image.shape[0], -1, -1)
        image_att = torch.ones(image.shape[:-1], dtype=torch.long, device=image.device)
        q = m.abstractor(query_embeds=queries, encoder_hidden_states=image,
                         encoder_attention_mask=image_att, return_dict=True)["last_hidden_state"]
        return splice_media(text, attention_mask, starts, q)

    def _pooled(self, inputs: dict[str, Any], mask: torch.Tensor) -> np.ndarray:
        """One language-model pass; pool each kept layer over the last ``mask.shape[1]`` tokens."""
        embeds, att = self.embed(inputs["input_ids"], inputs["attention_mask"],
                                 inputs["pixel_values"])
        kw: dict[str, Any] = {"position_ids": position_ids(att)} if self._positions else {}
        out = self.model.language_model(inputs_embeds=embeds, attention_mask=att, use_cache=False,
                                        output_hidden_states=True, return_dict=True, **kw)
        states = out.hidden_states
        keep = select_layers(len(states), self.entry.get("layers", "all"))
        how, n = self.entry.get("pooling", "mean"), mask.shape[1]
        return torch.stack([pool(states[i][:, -n:], mask, how) for i in keep]).float().cpu().numpy()

    def generate(self, inputs: dict[str, Any]) -> torch.Tensor:
        """Greedy answers (batch x new tokens) from upstream ``generate``."""
        seqs = self.model.generate(
            pixel_values=inputs["pixel_values"], input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"], do_sample=False, num_beams=1,
            max_new_tokens=self.max_new_tokens, use_cache=True, pad_token_id=self.pad_id,
            eos_token_id=self.eos_id)
        if not isinstance(seqs, torch.Tensor):
            seqs = seqs.sequences
        return answer_tokens(seqs, self.bos_id)

    @torch.inference_mode()
    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, list[str] | None]:
        inputs = to_device(batch, self.device, self.dtype)
        if self.mode == "prompt":
            mask = inputs["attention_mask"].bool()
            self.tokens += int(mask.sum())
            return self._pooled(inputs, mask), None
        new = self.generate(inputs)
        valid, empty = answer_mask(new, self.eos_ids)
        full = extend_inputs(inputs, new, valid)
        self.tokens += int(full["attention_mask"].sum())
        feats = self._pooled(full, valid)
        texts = [self.tokenizer.decode([] if empty[b] else new[b][valid[b]].tolist(),
                                       skip_special_tokens=True).strip()
                 for b in range(new.shape[0])]
        return feats, texts

    def attrs(self) -> dict[str, Any]:
        return {
            "prompt_template": TEMPLATE,
            "prompt": self.prompt,
            "preprocessing": processor_config(self.processor),
            "upstream_code": UPSTREAM,
            "max_new_tokens": self.max_new_tokens if self.mode == "response" else 0,
            "response_pooling": "answer positions before the first EOS, one forward pass"
            if self.mode == "response" else "none",
            "generation": {"do_sample": False, "num_beams": 1,
                           "max_new_tokens": self.max_new_tokens,
                           "eos_token_id": sorted(self.eos_ids)} if self.mode == "response" else {},
            "sampling_rate": 0,
            "frames": 0,
        }


def build_extractor(request: ExtractionRequest) -> MplugOwlExtractor:
    """Load mPLUG-Owl from the request's entry (hub id + pinned revision) and wrap it.

    The feature mode and instruction come from the request (``mode``,
    ``instruction_text``, ``max_new_tokens``).
    """
    from mplug_owl.modeling_mplug_owl import MplugOwlForConditionalGeneration
    from mplug_owl.processing_mplug_owl import MplugOwlImageProcessor, MplugOwlProcessor
    from transformers import AutoTokenizer

    entry, device, dtype = request.entry, request.device, request.dtype
    instruction = request.instruction_text
    if not instruction:
        raise ValueError(f"model {request.name!r}: no instruction text was passed to the adapter "
                         "(request.instruction_text)")
    hub, rev = entry.get("local_path") or entry["hub_id"], entry.get("revision")
    model = MplugOwlForConditionalGeneration.from_pretrained(hub, revision=rev, torch_dtype=dtype)
    image_processor = MplugOwlImageProcessor.from_pretrained(hub, revision=rev)
    tokenizer = AutoTokenizer.from_pretrained(hub, revision=rev)
    processor = MplugOwlProcessor(image_processor, tokenizer)
    model = model.to(device).eval()
    return MplugOwlExtractor(model, processor, entry, device, dtype, instruction, request.mode,
                             request.max_new_tokens)
