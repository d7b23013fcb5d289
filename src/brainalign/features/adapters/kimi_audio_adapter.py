"""Kimi-Audio (``moonshotai/Kimi-Audio-7B-Instruct``) through its own code, MoonshotAI/Kimi-Audio.

Written against github.com/MoonshotAI/Kimi-Audio at ``2607d51`` (``kimia_infer/api/kimia.py``:
``KimiAudio`` with ``prompt_manager.get_prompt`` and ``_generate_loop``;
``kimia_infer/api/prompt_manager.py``: messages ``{"role", "message_type", "content"}``
with audio given as a wav path; usage as in the repository's README). Runs only in
the ``kimi-audio`` environment (CUDA: upstream places every tensor on the current CUDA device).

Kimi-Audio's language model reads two parallel streams (audio tokens with Whisper
features, and text tokens). Its hidden states are read with forward hooks on the decoder
layers of ``KimiAudio.alm`` (``alm.model.layers``, the Qwen2-style decoder; layer 0 is
the input of the first layer, i.e. the summed stream embeddings), one pass each:

* ``prompt`` mode: every hidden state mean-pooled over all prompt positions;
* ``response`` mode: greedy ``_generate_loop`` (``output_type="text"``; temperatures 0),
  then one pass over prompt + answer fed as the loop feeds it (text stream = answer
  tokens, audio stream = the text-blank token), pooled over the answer positions
  (an empty answer keeps its end-of-text position, as ``brainalign.features.mllm``).

The prompt is the instruction as a user text message followed by the audio clip, as the
upstream ASR example orders them (:func:`chat`).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from brainalign.features.interface import ExtractionRequest, Extractor

UPSTREAM = "github.com/MoonshotAI/Kimi-Audio@2607d515f5b7dffa1dcc7526f9f26feb48e356c4"
RATE = 16000  # prompt_manager: librosa.load(wav, sr=16000); GLM-4 voice tokenizer at 16 kHz


def chat(instruction: str, wav_path: str) -> list[dict[str, str]]:
    """Kimi-Audio messages: the instruction, then the audio (upstream README order)."""
    return [{"role": "user", "message_type": "text", "content": instruction},
            {"role": "user", "message_type": "audio", "content": wav_path}]


def extend_streams(audio_ids, text_ids, is_continuous, answer: list[int], blank_id: int):
    """The prompt streams followed by ``answer`` as the generation loop feeds it back.

    Text stream: the answer tokens; audio stream: ``blank_id`` at each answer position;
    continuous mask: false there.
    """
    import torch

    n = len(answer)
    new_text = torch.as_tensor([answer], dtype=text_ids.dtype, device=text_ids.device)
    new_audio = torch.full((1, n), int(blank_id), dtype=audio_ids.dtype, device=audio_ids.device)
    new_mask = torch.zeros((1, n), dtype=is_continuous.dtype, device=is_continuous.device)
    return (torch.cat([audio_ids, new_audio], 1), torch.cat([text_ids, new_text], 1),
            torch.cat([is_continuous, new_mask], 1))


def decoder_layers(alm: Any):
    """The decoder layers of Kimi-Audio's language model (``alm.model.layers``)."""
    layers = getattr(getattr(alm, "model", None), "layers", None)
    if layers is None or len(layers) == 0:
        raise RuntimeError("Kimi-Audio: no decoder layers at alm.model.layers; the upstream "
                           "model layout differs from the one this adapter was written for")
    return layers


class LayerRecorder:
    """Records the input of the first decoder layer and every layer's output (batch 1)."""

    def __init__(self, layers: Any):
        self.layers, self.states, self._handles = layers, [], []

    def __enter__(self) -> LayerRecorder:
        self.states = []

        def first(_module, args, kwargs):
            x = args[0] if args else kwargs["hidden_states"]
            self.states.append(x.detach())

        def each(_module, _args, output):
            self.states.append((output[0] if isinstance(output, tuple) else output).detach())

        self._handles = [self.layers[0].register_forward_pre_hook(first, with_kwargs=True)]
        self._handles += [layer.register_forward_hook(each) for layer in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()


class KimiAudioCollator:
    """Picklable: decoded clips (16 kHz float arrays) pass through (tokenising needs the GPU)."""

    def __call__(self, raws: list[Any]) -> dict[str, Any]:
        return {"audio": [np.asarray(r["audio"] if isinstance(r, dict) else r, dtype=np.float32)
                          for r in raws]}


class KimiAudioExtractor(Extractor):
    """Prompt / response features of Kimi-Audio's language model."""

    input_kind = "audio"
    rate = RATE

    def __init__(self, kimi: Any, entry: dict[str, Any], device, instruction: str, mode: str,
                 max_new_tokens: int = 16):
        if mode not in ("prompt", "response"):
            raise ValueError(f"unknown feature mode {mode!r}; allowed: prompt, response")
        self.kimi, self.entry, self.device, self.mode = kimi, entry, device, mode
        self.instruction, self.max_new_tokens = instruction, int(max_new_tokens)
        self.collator = KimiAudioCollator()
        self.tokens = 0

    def _prompt(self, wav: np.ndarray) -> tuple[Any, Any, Any, list[Any]]:
        """Both token streams, continuous mask and Whisper features of one clip's prompt."""
        from scipy.io import wavfile

        with tempfile.TemporaryDirectory() as tmp:  # the prompt manager reads a wav path
            path = os.path.join(tmp, "clip.wav")
            wavfile.write(path, RATE, np.clip(wav, -1.0, 1.0).astype(np.float32))
            history = self.kimi.prompt_manager.get_prompt(chat(self.instruction, path),
                                                          output_type="text")
        audio_ids, text_ids, is_cont = (t.to(self.device) for t in history.to_tensor())
        feats = [f.to(self.device) for f in history.continuous_feature]
        return audio_ids, text_ids, is_cont, feats

    def _states(self, audio_ids, text_ids, is_cont, feats, n_last: int) -> np.ndarray:
        """One pass; every kept hidden state mean-pooled over the last ``n_last`` positions."""
        import torch

        from brainalign.features.extractors import select_layers

        positions = torch.arange(audio_ids.shape[1], device=audio_ids.device)[None].long()
        with LayerRecorder(decoder_layers(self.kimi.alm)) as rec:
            self.kimi.alm.forward(input_ids=audio_ids, text_input_ids=text_ids,
                                  whisper_input_feature=feats, is_continuous_mask=is_cont,
                                  position_ids=positions, return_dict=False)
        keep = select_layers(len(rec.states), self.entry.get("layers", "all"))
        self.tokens += int(audio_ids.shape[1])
        return np.stack([rec.states[i][0, -n_last:].float().mean(0).cpu().numpy() for i in keep])

    def _one(self, wav: np.ndarray) -> tuple[np.ndarray, str | None]:
        audio_ids, text_ids, is_cont, feats = self._prompt(wav)
        if self.mode == "prompt":
            return self._states(audio_ids, text_ids, is_cont, feats, audio_ids.shape[1]), None
        _, answer = self.kimi._generate_loop(
            audio_input_ids=audio_ids, text_input_ids=text_ids, max_new_tokens=self.max_new_tokens,
            is_continuous_mask=is_cont, continous_feature=feats, output_type="text")
        offset = self.kimi.kimia_token_offset
        answer = [int(t) for t in answer if int(t) < offset]  # as upstream generate filters
        text = self.kimi.detokenize_text(answer) if answer else ""
        fed = answer or [int(self.kimi.extra_tokens.kimia_text_eos)]
        audio_ids, text_ids, is_cont = extend_streams(audio_ids, text_ids, is_cont, fed,
                                                      self.kimi.extra_tokens.kimia_text_blank)
        return self._states(audio_ids, text_ids, is_cont, feats, len(fed)), text.strip()

    def forward(self, batch: dict[str, Any]) -> tuple[np.ndarray, list[str] | None]:
        import torch

        with torch.inference_mode():
            outs = [self._one(wav) for wav in batch["audio"]]
        feats = np.stack([f for f, _ in outs], axis=1).astype(np.float32)
        return feats, None if self.mode == "prompt" else [t or "" for _, t in outs]

    def attrs(self) -> dict[str, Any]:
        response = self.mode == "response"
        return {
            "prompt_template": "user text message (instruction), then user audio message",
            "prompt": self.instruction,
            "preprocessing": {"class": "kimia_infer.api.prompt_manager.KimiAPromptManager",
                              "sampling_rate": RATE},
            "upstream_code": UPSTREAM,
            "max_new_tokens": self.max_new_tokens if response else 0,
            "response_pooling": "answer positions (text stream), one forward pass"
            if response else "none",
            "generation": {"output_type": "text", "text_temperature": 0.0,
                           "max_new_tokens": self.max_new_tokens} if response else {},
            "sampling_rate": RATE,
            "frames": 0,
        }


def build_extractor(request: ExtractionRequest) -> KimiAudioExtractor:
    """Load Kimi-Audio from the request's entry (hub id at its pinned revision) and wrap it.

    The hub snapshot is fetched at ``revision`` and handed to ``KimiAudio`` as a local
    path (upstream would otherwise fetch the newest snapshot); the audio detokenizer is
    not loaded (text output only). Upstream loads the model in bfloat16 on CUDA.
    """
    from huggingface_hub import snapshot_download
    from kimia_infer.api.kimia import KimiAudio

    entry, instruction = request.entry, request.instruction_text
    if not instruction:
        raise ValueError(f"model {request.name!r}: no instruction text was passed to the adapter "
                         "(request.instruction_text)")
    path = entry.get("local_path") or snapshot_download(entry["hub_id"], revision=entry["revision"])
    kimi = KimiAudio(model_path=path, load_detokenizer=False)
    return KimiAudioExtractor(kimi, entry, request.device, instruction, request.mode,
                              request.max_new_tokens)
