"""Tiny, randomly initialised instances of the real MLLM architectures (test fixtures).

Each builder returns a registry entry (``config`` block + a locally built
processor, :mod:`brainalign.features.local_processors`) for one transformers
architecture, with sizes small enough for a CPU test. Nothing is downloaded.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from brainalign.features.local_processors import (
    IDEFICS_TEMPLATE,
    LLAVA_TEMPLATE,
    QWEN_TEMPLATE,
    chat_template,
    token_ids,
)

# --------------------------------------------------------------------------- sizes

D = 32  # hidden size of every tiny language model
VOCAB = 384


def _llama(n_layers: int = 3, **kw: Any) -> dict[str, Any]:
    return {"model_type": "llama", "hidden_size": D, "intermediate_size": 64,
            "num_hidden_layers": n_layers, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": VOCAB, "max_position_embeddings": 2048, "initializer_range": 0.5,
            "pad_token_id": 258, "bos_token_id": 256, "eos_token_id": 257, **kw}


def _qwen2(n_layers: int = 3, **kw: Any) -> dict[str, Any]:
    return {**_llama(n_layers, **kw), "model_type": "qwen2"}


def _clip_vision(image_size: int = 32, patch: int = 8) -> dict[str, Any]:
    return {"model_type": "clip_vision_model", "hidden_size": D, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": image_size,
            "patch_size": patch, "projection_dim": D}


def _qformer() -> dict[str, Any]:
    return {"hidden_size": D, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 64, "encoder_hidden_size": D, "vocab_size": VOCAB,
            "max_position_embeddings": 128}


def _blip_vision() -> dict[str, Any]:
    return {"hidden_size": D, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "image_size": 32, "patch_size": 8}


def _clip_image_processor(size: int = 32) -> dict[str, Any]:
    return {"class": "CLIPImageProcessor", "size": {"shortest_edge": size},
            "crop_size": {"height": size, "width": size}}


def _tok(cls: str, specials: tuple[str, ...], **kw: Any) -> dict[str, Any]:
    return {"factory": "brainalign.features.local_processors:byte_tokenizer", "cls": cls,
            "specials": list(specials), **kw}


# --------------------------------------------------------------------------- builders


def _llava() -> dict[str, Any]:
    ids = token_ids(("<image>",))
    return {
        "family": "mllm_image", "input": "image", "model_class": "LlavaForConditionalGeneration",
        "config": {"model_type": "llava", "image_token_index": ids["<image>"],
                   "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
                   "vision_config": _clip_vision(), "text_config": _llama()},
        "processor": {"class": "LlavaProcessor", "image_processor": _clip_image_processor(),
                      "tokenizer": _tok("LlamaTokenizerFast", ("<image>",), add_bos=True),
                      "patch_size": 8, "num_additional_image_tokens": 1,
                      "vision_feature_select_strategy": "default",
                      "chat_template": LLAVA_TEMPLATE},
    }


def _instructblip(video: bool = False) -> dict[str, Any]:
    token = "<video>" if video else "<image>"
    ids = token_ids((token,))
    name = "instructblipvideo" if video else "instructblip"
    pre = {"class": "InstructBlipVideoVideoProcessor", "size": {"height": 32, "width": 32}} \
        if video else {"class": "BlipImageProcessor", "size": {"height": 32, "width": 32}}
    arg = "video_processor" if video else "image_processor"
    return {
        "family": "mllm_video" if video else "mllm_image", "input": "video" if video else "image",
        "model_class": "InstructBlipVideoForConditionalGeneration" if video
        else "InstructBlipForConditionalGeneration",
        "frames": 4,  # the InstructBLIPVideo processor expands 4 frames x query tokens
        "config": {"model_type": name, "num_query_tokens": 4,
                   f"{token[1:-1]}_token_index": ids[token],
                   "vision_config": _blip_vision(), "qformer_config": _qformer(),
                   "text_config": _llama()},
        "processor": {"class": "InstructBlipVideoProcessor" if video else "InstructBlipProcessor",
                      arg: pre, "num_query_tokens": 4,
                      "tokenizer": _tok("LlamaTokenizerFast", (token,), add_bos=True),
                      "qformer_tokenizer": _tok("PreTrainedTokenizerFast", ())},
        "prompt_template": "{instruction}",
        "processor_arg": "images",
    }


def _blip2() -> dict[str, Any]:
    ids = token_ids(("<image>",))
    return {
        "family": "mllm_image", "input": "image", "model_class": "Blip2ForConditionalGeneration",
        "config": {"model_type": "blip-2", "num_query_tokens": 4, "image_token_index": ids["<image>"],
                   "vision_config": _blip_vision(), "qformer_config": _qformer(),
                   "text_config": {"model_type": "opt", "hidden_size": D, "ffn_dim": 64,
                                   "num_hidden_layers": 3, "num_attention_heads": 4,
                                   "word_embed_proj_dim": D, "vocab_size": VOCAB,
                                   "max_position_embeddings": 2048, "pad_token_id": 258,
                                   "bos_token_id": 256, "eos_token_id": 257,
                                   "init_std": 0.5}},
        "processor": {"class": "Blip2Processor", "num_query_tokens": 4,
                      "image_processor": {"class": "BlipImageProcessor",
                                          "size": {"height": 32, "width": 32}},
                      "tokenizer": _tok("PreTrainedTokenizerFast", ("<image>",))},
        "prompt_template": "Question: {instruction} Answer:",
    }


def _idefics() -> dict[str, Any]:
    specials = ("<fake_token_around_image>", "<image>", "<end_of_utterance>")
    return {
        "family": "mllm_image", "input": "image", "model_class": "IdeficsForVisionText2Text",
        "config": {"model_type": "idefics", "vocab_size": VOCAB, "additional_vocab_size": 0,
                   "hidden_size": D, "intermediate_size": 64, "num_hidden_layers": 4,
                   "num_attention_heads": 4, "cross_layer_interval": 2, "initializer_range": 0.5,
                   "pad_token_id": 258, "bos_token_id": 256, "eos_token_id": 257,
                   "use_resampler": True, "max_position_embeddings": 2048,
                   "vision_config": {"embed_dim": D, "image_size": 32, "patch_size": 8,
                                     "num_hidden_layers": 2, "num_attention_heads": 4,
                                     "intermediate_size": 64},
                   "perceiver_config": {"resampler_n_latents": 4, "resampler_depth": 1,
                                        "resampler_n_heads": 2, "resampler_head_dim": 8,
                                        "qk_layer_norms_perceiver": False}},
        "processor": {"class": "IdeficsProcessor", "image_size": 32,
                      "image_processor": {"class": "IdeficsImageProcessor", "image_size": 32},
                      "tokenizer": _tok("LlamaTokenizerFast", specials, add_bos=True)},
        "prompt_template": "User:{image}{instruction}<end_of_utterance>\nAssistant:",
    }


def _idefics2() -> dict[str, Any]:
    specials = ("<fake_token_around_image>", "<image>", "<end_of_utterance>")
    ids = token_ids(specials)
    return {
        "family": "mllm_image", "input": "image", "model_class": "Idefics2ForConditionalGeneration",
        "config": {"model_type": "idefics2", "image_token_id": ids["<image>"],
                   "vision_config": {"hidden_size": D, "intermediate_size": 64,
                                     "num_hidden_layers": 2, "num_attention_heads": 4,
                                     "image_size": 32, "patch_size": 8},
                   "perceiver_config": {"hidden_size": D, "resampler_n_latents": 4,
                                        "resampler_depth": 1, "resampler_n_heads": 2,
                                        "resampler_head_dim": 8, "num_key_value_heads": 1},
                   "text_config": {**_llama(), "model_type": "mistral"}},
        "processor": {"class": "Idefics2Processor", "image_seq_len": 4,
                      "image_processor": {"class": "Idefics2ImageProcessor", "do_image_splitting": False,
                                          "size": {"shortest_edge": 32, "longest_edge": 32}},
                      "tokenizer": _tok("LlamaTokenizerFast", specials, add_bos=True),
                      "chat_template": IDEFICS_TEMPLATE},
    }


def _idefics3() -> dict[str, Any]:
    specials = ("<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>")
    ids = token_ids(specials)
    return {
        "family": "mllm_image", "input": "image", "model_class": "Idefics3ForConditionalGeneration",
        "config": {"model_type": "idefics3", "image_token_id": ids["<image>"], "scale_factor": 2,
                   "vision_config": {"hidden_size": D, "intermediate_size": 64,
                                     "num_hidden_layers": 2, "num_attention_heads": 4,
                                     "image_size": 32, "patch_size": 8},
                   "text_config": _llama()},
        "processor": {"class": "Idefics3Processor", "image_seq_len": 4,
                      "image_processor": {"class": "Idefics3ImageProcessor", "do_image_splitting": False,
                                          "size": {"longest_edge": 32},
                                          "max_image_size": {"longest_edge": 32}},
                      "tokenizer": _tok("LlamaTokenizerFast", specials, add_bos=True),
                      "chat_template": IDEFICS_TEMPLATE},
    }


def _video_llava() -> dict[str, Any]:
    specials = ("<image>", "<video>")
    ids = token_ids(specials)
    return {
        "family": "mllm_video", "input": "video", "model_class": "VideoLlavaForConditionalGeneration",
        "frames": 4,
        "config": {"model_type": "video_llava", "image_token_index": ids["<image>"],
                   "video_token_index": ids["<video>"], "vision_feature_layer": -2,
                   "vision_feature_select_strategy": "default",
                   "vision_config": _clip_vision(), "text_config": _llama()},
        "processor": {"class": "VideoLlavaProcessor",
                      "image_processor": {"class": "VideoLlavaImageProcessor",
                                          "size": {"shortest_edge": 32},
                                          "crop_size": {"height": 32, "width": 32}},
                      "video_processor": {"class": "VideoLlavaVideoProcessor",
                                          "size": {"shortest_edge": 32},
                                          "crop_size": {"height": 32, "width": 32}},
                      "tokenizer": _tok("LlamaTokenizerFast", specials, add_bos=True),
                      "patch_size": 8, "num_additional_image_tokens": 1,
                      "vision_feature_select_strategy": "default",
                      "chat_template": LLAVA_TEMPLATE},
    }


def _llava_next_video() -> dict[str, Any]:
    specials = ("<image>", "<video>")
    ids = token_ids(specials)
    return {
        "family": "mllm_video", "input": "video", "model_class": "LlavaNextVideoForConditionalGeneration",
        "frames": 4,
        "config": {"model_type": "llava_next_video", "image_token_index": ids["<image>"],
                   "video_token_index": ids["<video>"], "vision_feature_layer": -2,
                   "vision_feature_select_strategy": "default", "spatial_pool_stride": 2,
                   "image_grid_pinpoints": [[32, 32]],
                   "vision_config": _clip_vision(), "text_config": _llama()},
        "processor": {"class": "LlavaNextVideoProcessor",
                      "image_processor": {"class": "LlavaNextImageProcessor",
                                          "size": {"shortest_edge": 32},
                                          "crop_size": {"height": 32, "width": 32},
                                          "image_grid_pinpoints": [[32, 32]]},
                      "video_processor": {"class": "LlavaNextVideoVideoProcessor",
                                          "size": {"shortest_edge": 32},
                                          "crop_size": {"height": 32, "width": 32}},
                      "tokenizer": _tok("LlamaTokenizerFast", specials, add_bos=True),
                      "patch_size": 8, "num_additional_image_tokens": 1,
                      "vision_feature_select_strategy": "default",
                      "chat_template": LLAVA_TEMPLATE},
    }


def _llava_onevision() -> dict[str, Any]:
    specials = ("<image>", "<video>", "<|im_start|>", "<|im_end|>")
    ids = token_ids(specials)
    siglip = {"model_type": "siglip_vision_model", "hidden_size": D, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
    return {
        "family": "mllm_video", "input": "video", "model_class": "LlavaOnevisionForConditionalGeneration",
        "frames": 4,
        "config": {"model_type": "llava_onevision", "image_token_index": ids["<image>"],
                   "video_token_index": ids["<video>"], "vision_feature_layer": -1,
                   "vision_feature_select_strategy": "full", "image_grid_pinpoints": [[32, 32]],
                   "vision_config": siglip,
                   "text_config": _qwen2(eos_token_id=ids["<|im_end|>"])},
        "processor": {"class": "LlavaOnevisionProcessor", "num_image_tokens": 16,
                      "vision_feature_select_strategy": "full",
                      "image_processor": {"class": "LlavaOnevisionImageProcessor",
                                          "size": {"height": 32, "width": 32},
                                          "image_grid_pinpoints": [[32, 32]]},
                      "video_processor": {"class": "LlavaOnevisionVideoProcessor",
                                          "size": {"height": 32, "width": 32}},
                      "tokenizer": _tok("Qwen2TokenizerFast", specials),
                      "chat_template": chat_template(
                          "<|im_start|>user ", "<|im_end|>\n", "<|im_start|>assistant\n",
                          {"image": "<image>\n", "video": "<video>\n"})},
    }


QWEN_SPECIALS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>")


def _qwen_vision(out: int = D) -> dict[str, Any]:
    return {"depth": 2, "hidden_size": D, "intermediate_size": 64, "num_heads": 4,
            "patch_size": 8, "spatial_merge_size": 2, "temporal_patch_size": 2,
            "window_size": 32, "fullatt_block_indexes": [1], "out_hidden_size": out,
            "in_chans": 3, "in_channels": 3}


def _qwen_text(ids: dict[str, int]) -> dict[str, Any]:
    return {**_qwen2(eos_token_id=ids["<|im_end|>"]),
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]}}


def _qwen_image_processor() -> dict[str, Any]:
    return {"class": "Qwen2VLImageProcessor", "patch_size": 8, "merge_size": 2,
            "temporal_patch_size": 2, "min_pixels": 32 * 32, "max_pixels": 32 * 32}


def _qwen_video_processor() -> dict[str, Any]:
    return {"class": "Qwen2VLVideoProcessor", "patch_size": 8, "merge_size": 2,
            "temporal_patch_size": 2, "min_pixels": 32 * 32, "max_pixels": 32 * 32,
            "size": {"shortest_edge": 32 * 32, "longest_edge": 32 * 32}, "do_sample_frames": False}


def _qwen_tok() -> dict[str, Any]:
    return _tok("Qwen2TokenizerFast", QWEN_SPECIALS, eos="<|im_end|>",
                extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                                      "audio_token": "<|AUDIO|>", "vision_bos_token": "<|vision_start|>",
                                      "vision_eos_token": "<|vision_end|>",
                                      "audio_bos_token": "<|audio_bos|>",
                                      "audio_eos_token": "<|audio_eos|>"})


def _qwen2_5_vl() -> dict[str, Any]:
    ids = token_ids(QWEN_SPECIALS)
    text = _qwen_text(ids)
    return {
        "family": "mllm_video", "input": "video", "model_class": "Qwen2_5_VLForConditionalGeneration",
        "frames": 4,
        "config": {"model_type": "qwen2_5_vl", "image_token_id": ids["<|image_pad|>"],
                   "video_token_id": ids["<|video_pad|>"],
                   "vision_start_token_id": ids["<|vision_start|>"],
                   "vision_end_token_id": ids["<|vision_end|>"],
                   "vision_config": _qwen_vision(), "text_config": text},
        "processor": {"class": "Qwen2_5_VLProcessor", "image_processor": _qwen_image_processor(),
                      "video_processor": _qwen_video_processor(), "tokenizer": _qwen_tok(),
                      "chat_template": QWEN_TEMPLATE},
    }


def _whisper_fe() -> dict[str, Any]:
    return {"class": "WhisperFeatureExtractor", "feature_size": 16, "sampling_rate": 16000,
            "chunk_length": 2, "hop_length": 160, "n_fft": 400}


def _qwen2_audio() -> dict[str, Any]:
    ids = token_ids(QWEN_SPECIALS)
    return {
        "family": "mllm_audio", "input": "audio", "model_class": "Qwen2AudioForConditionalGeneration",
        "config": {"model_type": "qwen2_audio", "audio_token_index": ids["<|AUDIO|>"],
                   "audio_config": {"model_type": "qwen2_audio_encoder", "d_model": D,
                                    "encoder_layers": 2, "encoder_attention_heads": 4,
                                    "encoder_ffn_dim": 64, "num_mel_bins": 16,
                                    "max_source_positions": 100},
                   "text_config": _qwen2(eos_token_id=ids["<|im_end|>"])},
        "processor": {"class": "Qwen2AudioProcessor", "feature_extractor": _whisper_fe(),
                      "tokenizer": _qwen_tok(), "chat_template": QWEN_TEMPLATE},
        "processor_arg": "audio",
        "sampling_rate": 16000,
    }


def _qwen2_5_omni() -> dict[str, Any]:
    ids = token_ids(QWEN_SPECIALS)
    text = {**_qwen_text(ids), "model_type": "qwen2_5_omni_text",
            "rope_scaling": {"rope_type": "default", "type": "default", "mrope_section": [2, 1, 1]}}
    return {
        "family": "mllm_audio", "input": "audio",
        "model_class": "Qwen2_5OmniThinkerForConditionalGeneration",
        "config": {"config_class": "Qwen2_5OmniThinkerConfig", "audio_token_index": ids["<|AUDIO|>"],
                   "image_token_index": ids["<|image_pad|>"], "video_token_index": ids["<|video_pad|>"],
                   "audio_start_token_id": ids["<|audio_bos|>"],
                   "audio_end_token_id": ids["<|audio_eos|>"],
                   "vision_start_token_id": ids["<|vision_start|>"],
                   "vision_end_token_id": ids["<|vision_end|>"],
                   "audio_config": {"d_model": D, "encoder_layers": 2, "encoder_attention_heads": 4,
                                    "encoder_ffn_dim": 64, "num_mel_bins": 16,
                                    "max_source_positions": 100, "n_window": 50, "output_dim": D},
                   "vision_config": _qwen_vision(), "text_config": text},
        "processor": {"class": "Qwen2_5OmniProcessor", "image_processor": _qwen_image_processor(),
                      "video_processor": _qwen_video_processor(), "feature_extractor": _whisper_fe(),
                      "tokenizer": _qwen_tok(), "chat_template": QWEN_TEMPLATE},
        "processor_arg": "audio",
        "sampling_rate": 16000,
    }


BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "llava": _llava,
    "instructblip": _instructblip,
    "blip2": _blip2,
    "idefics": _idefics,
    "idefics2": _idefics2,
    "idefics3": _idefics3,
    "instructblipvideo": lambda: _instructblip(video=True),
    "video_llava": _video_llava,
    "llava_next_video": _llava_next_video,
    "llava_onevision": _llava_onevision,
    "qwen2_5_vl": _qwen2_5_vl,
    "qwen2_audio": _qwen2_audio,
    "qwen2_5_omni": _qwen2_5_omni,
}


def tiny_entry(arch: str, seed: int = 0, stream: str = "joint") -> dict[str, Any]:
    """Registry entry of a tiny random ``arch`` model (see :data:`BUILDERS`).

    ``stream``: ``joint`` (language model) or a tower (``vision``, ``audio``), which
    takes no instruction.
    """
    if arch not in BUILDERS:
        raise KeyError(f"no tiny builder for architecture {arch!r}; known: {sorted(BUILDERS)}")
    entry = copy.deepcopy(BUILDERS[arch]())
    entry.update(init="random", seed=seed, dtype="float32", pooling="mean", layers="all",
                 instruction_set=entry["input"])
    if stream != "joint":
        entry.update(stream=stream, instruction_set=None)
    return entry


def tiny_registry(archs: list[str] | None = None, suffix: str = "-tiny") -> dict[str, dict]:
    """``{arch + suffix: tiny entry}`` for ``archs`` (default: every architecture)."""
    return {f"{a}{suffix}": tiny_entry(a) for a in (archs or sorted(BUILDERS))}


def write_tiny_registry(path: str, archs: list[str] | None = None) -> str:
    """Write a model registry of tiny MLLMs (for tests and the CPU benchmark)."""
    import yaml

    with open(path, "w") as fh:
        yaml.safe_dump({"models": tiny_registry(archs)}, fh, sort_keys=False)
    return path
