"""The family registry: a registry entry's ``family`` -> the builder of its extractor.

Each builder takes an :class:`~brainalign.features.interface.ExtractionRequest` and
returns an :class:`~brainalign.features.interface.Extractor`. Builders import their
family's module (and torch, transformers, open_clip, ...) only when called, so this
table can be read where those packages are absent (config validation). A new family
is one builder and one line in :data:`FAMILY_BUILDERS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from brainalign.features.interface import ExtractionRequest, Extractor


def _load(request: ExtractionRequest):
    from brainalign.features.loading import load_hf

    return load_hf(request.entry, request.name, request.dtype, request.allow_remote_code)


def _on_device(request: ExtractionRequest, extractor_class: type) -> Extractor:
    """``extractor_class(model, processor, entry, device, dtype)`` with the model on the device."""
    model, processor = _load(request)
    return extractor_class(model.to(request.device), processor, request.entry, request.device,
                           request.dtype)


def build_encoder(request: ExtractionRequest) -> Extractor:
    """Image, video, audio and text encoders of transformers (one forward pass)."""
    from brainalign.features.extractors import EncoderExtractor

    return _on_device(request, EncoderExtractor)


def build_clip(request: ExtractionRequest) -> Extractor:
    """CLIP image towers: open_clip (``backend: open_clip``) or transformers."""
    if request.entry.get("backend", "transformers") != "open_clip":
        return build_encoder(request)
    from brainalign.features.clip import OpenClipExtractor

    return OpenClipExtractor(request.entry, request.name, request.device, request.dtype)


def build_imagebind(request: ExtractionRequest) -> Extractor:
    from brainalign.features.imagebind import ImageBindExtractor

    return ImageBindExtractor(request.entry, request.name, request.device, request.dtype)


def build_tvlt(request: ExtractionRequest) -> Extractor:
    from brainalign.features.tvlt import TvltExtractor

    return _on_device(request, TvltExtractor)


def build_mllm(request: ExtractionRequest) -> Extractor:
    """Instruction-following models; a ``stream`` other than joint reads a modality tower."""
    from brainalign.features.registry import is_tower

    model, processor = _load(request)
    if is_tower(request.entry):  # only the tower goes to the device; the language model is not run
        from brainalign.features.mllm_towers import TowerExtractor

        return TowerExtractor(model, processor, request.entry, request.device, request.dtype,
                              name=request.name)
    from brainalign.features.mllm import MLLMExtractor

    return MLLMExtractor(model.to(request.device), processor, request.entry, request.device,
                         request.dtype, request.instruction_text, request.mode,
                         request.max_new_tokens, name=request.name)


def build_remote(request: ExtractionRequest) -> Extractor:
    """Models whose code is not in the installed libraries (:mod:`brainalign.features.remote`)."""
    from brainalign.features.remote import remote_extractor

    return remote_extractor(request)


FAMILY_BUILDERS: dict[str, Callable[[ExtractionRequest], Extractor]] = {
    "image": build_encoder,
    "video": build_encoder,
    "audio": build_encoder,
    "text": build_encoder,
    "clip": build_clip,
    "imagebind": build_imagebind,
    "tvlt": build_tvlt,
    "mllm_image": build_mllm,
    "mllm_video": build_mllm,
    "mllm_audio": build_mllm,
    "remote": build_remote,
}


def build_extractor(request: ExtractionRequest) -> Extractor:
    """Load the model of ``request`` and wrap it in its family's extractor."""
    family = request.entry.get("family")
    builder = FAMILY_BUILDERS.get(family)
    if builder is None:
        from brainalign.features.registry import RegistryError

        raise RegistryError(f"model {request.name!r} has family {family!r}; known families: "
                            f"{', '.join(FAMILY_BUILDERS)}")
    return builder(request)
