"""Build models and processors from registry entries (pretrained, random-init or tiny)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from brainalign.features.registry import (
    RegistryError,
    check_factories,
    check_remote_code,
    resolve_local_path,
)

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """A model or processor cannot be loaded (not cached offline, bad revision, ...)."""


DEFAULT_MODEL_CLASS = {
    "image": "AutoModel",
    "video": "AutoModel",
    "audio": "AutoModel",
    "text": "AutoModel",
    "clip": "CLIPVisionModel",
    "mllm_image": "AutoModelForImageTextToText",
    "mllm_video": "AutoModelForImageTextToText",
    "mllm_audio": "AutoModelForImageTextToText",
}


def _transformers_attr(name: str) -> Any:
    import transformers

    try:
        return getattr(transformers, name)
    except AttributeError as err:
        raise RegistryError(
            f"class {name!r} is not available in transformers {transformers.__version__}"
        ) from err


def source_of(entry: dict[str, Any]) -> str | None:
    """Hub id or resolved local folder an entry loads from (None for config-only)."""
    if entry.get("local_path"):
        return resolve_local_path(entry["local_path"])
    return entry.get("hub_id")


def build_component(spec: Any, default_source: str | None = None) -> Any:
    """Instantiate a processor/tokenizer described in the registry.

    A mapping with ``class`` becomes ``transformers.<class>(**kwargs)`` (nested
    mappings with ``class`` are built first); a mapping with ``path`` loads a
    tokenizer from a local folder (``pkg://`` allowed) and adds ``add_tokens``.
    """
    if isinstance(spec, dict) and "path" in spec and "class" not in spec:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(resolve_local_path(spec["path"]))
        if spec.get("add_tokens"):
            tok.add_special_tokens({"additional_special_tokens": list(spec["add_tokens"])})
        for key in ("eos_token", "pad_token", "bos_token"):
            if spec.get(key):
                setattr(tok, key, spec[key])
        if spec.get("padding_side"):
            tok.padding_side = spec["padding_side"]
        return tok
    if isinstance(spec, dict) and "factory" in spec:  # "package.module:function", allow-listed
        import importlib

        check_factories("(processor)", spec)
        module, _, func = spec["factory"].partition(":")
        kwargs = {k: build_component(v) for k, v in spec.items() if k != "factory"}
        return getattr(importlib.import_module(module), func)(**kwargs)
    if isinstance(spec, dict) and "class" in spec:
        kwargs = {k: build_component(v) for k, v in spec.items() if k != "class"}
        return _transformers_attr(spec["class"])(**kwargs)
    return spec


def _seeded(seed: int):
    torch.manual_seed(int(seed))


def load_hf(entry: dict[str, Any], name: str, torch_dtype: torch.dtype, allow_remote_code: bool):
    """Return ``(model, processor)`` for a transformers-backed entry."""
    family = entry["family"]
    cls_name = entry.get("model_class") or DEFAULT_MODEL_CLASS.get(family, "AutoModel")
    model_cls = _transformers_attr(cls_name)
    trust = bool(entry.get("trust_remote_code"))
    if trust:
        check_remote_code(name, entry, allow_remote_code, where="model registry")
    src = source_of(entry)
    revision = entry.get("revision") if entry.get("hub_id") and not entry.get("local_path") else None
    common = {"revision": revision, "trust_remote_code": trust} if src else {}
    try:
        if entry.get("config"):  # tiny / custom architecture built from its config class
            from transformers import AutoConfig

            cfg_kwargs = dict(entry["config"])
            if cfg_kwargs.get("config_class"):  # configs AutoConfig does not map
                config = _transformers_attr(cfg_kwargs.pop("config_class"))(**cfg_kwargs)
            else:
                config = AutoConfig.for_model(cfg_kwargs.pop("model_type"), **cfg_kwargs)
            _seeded(entry.get("seed", 0))
            build = model_cls.from_config if hasattr(model_cls, "from_config") else model_cls._from_config
            model = build(config, torch_dtype=torch_dtype)  # bf16 from the start on GPU
        elif entry.get("init") == "random":
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(src, **common)
            _seeded(entry.get("seed", 0))
            model = model_cls.from_config(config, torch_dtype=torch_dtype, trust_remote_code=trust) \
                if cls_name.startswith("Auto") else model_cls._from_config(config, torch_dtype=torch_dtype)
        else:
            model = model_cls.from_pretrained(src, torch_dtype=torch_dtype, **common)
        if entry.get("processor"):
            processor = build_component(entry["processor"])
        else:
            from transformers import AutoProcessor

            proc_cls = _transformers_attr(entry["processor_class"]) if entry.get("processor_class") \
                else AutoProcessor
            processor = proc_cls.from_pretrained(src, **common)
    except (OSError, ValueError) as err:
        where = src or "its config block"
        raise ModelLoadError(
            f"cannot load model {name!r} from {where!r} (revision {entry.get('revision')!r}): "
            f"{err}. Offline runs need the model in the Hugging Face cache (HF_HOME) first."
        ) from err
    model = model.to(dtype=torch_dtype)
    model.eval()
    return model, processor
