"""The extraction job: one model x instruction over a dataset's stimuli into a ``features`` store.

:func:`extract_features` resolves the request (registry entry, instruction text,
device, dtype), selects the stimuli, computes the store's content key
(:mod:`brainalign.features.cache`) and returns at once when the output or the shared
feature cache already holds that key. Otherwise it builds the family's extractor
(:mod:`brainalign.features.families`), runs the batches (:mod:`brainalign.features.
batching`) into a partial store next to the output (``.{name}.partial``, so an
interrupted job resumes where it stopped) and writes the final store atomically with
:func:`brainalign.stores.write_store`.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from brainalign.features import cache as features_cache
from brainalign.features.batching import run_batches, throughput
from brainalign.features.cache import cache_key, existing_key, key_parts, package_versions
from brainalign.features.families import build_extractor
from brainalign.features.inputs import Stimulus, read_table, select_stimuli
from brainalign.features.interface import ExtractionRequest, Extractor
from brainalign.features.lock import apply_lock
from brainalign.features.partial_store import PartialStore
from brainalign.features.registry import (
    MLLM_FAMILIES,
    Registry,
    audio_context_s,
    is_tower,
    resolve_instruction,
)
from brainalign.features.resources import resolve_device, resolve_dtype, resolve_workers
from brainalign.stores import provenance, write_store

log = logging.getLogger(__name__)

__all__ = ["build_extractor", "extract", "extract_features", "resolve_request"]


def takes_instruction(entry: dict[str, Any]) -> bool:
    """Whether the entry's model reads an instruction (prompt/response features)."""
    if entry["family"] in MLLM_FAMILIES:
        return not is_tower(entry)  # towers: no prompt
    return entry["family"] == "remote" and entry.get("instruction_set") is not None


def resolve_request(model: str, instruction: str, models_yaml: str | os.PathLike,
                    instructions_yaml: str | os.PathLike, device: str = "auto",
                    dtype: str = "auto", mode: str = "response", max_new_tokens: int = 16,
                    allow_remote_code: bool = False) -> ExtractionRequest:
    """The request of one job: locked registry entry, instruction text, device and dtype."""
    registry = Registry.read(models_yaml, instructions_yaml)
    entry = apply_lock(registry.entry(model), model, models_yaml)
    text = resolve_instruction(entry, model, instruction, registry.instructions)
    if takes_instruction(entry) and mode not in ("prompt", "response"):
        raise ValueError(f"unknown feature mode {mode!r}; allowed: prompt, response")
    dev = resolve_device(device)
    return ExtractionRequest(
        name=model, entry=entry, device=dev, dtype=resolve_dtype(dtype, dev, entry.get("dtype", "auto")),
        instruction=instruction, instruction_text=text,
        mode=mode if takes_instruction(entry) else "none", max_new_tokens=max_new_tokens,
        allow_remote_code=allow_remote_code)


def stimuli_for(stimuli_tsv: str | os.PathLike, entry: dict[str, Any],
                context_words: int) -> list[Stimulus]:
    """The rows of the stimulus table the entry's model consumes."""
    stimuli = select_stimuli(read_table(stimuli_tsv), entry["input"], context_words=context_words,
                             context_s=audio_context_s(entry))
    if not stimuli:
        raise ValueError(f"{stimuli_tsv}: no stimuli for input kind {entry['input']!r}")
    return stimuli


def extract_features(
    stimuli_tsv: str | os.PathLike,
    stimuli_root: str | os.PathLike,
    model: str,
    instruction: str,
    output: str | os.PathLike,
    models_yaml: str | os.PathLike = "config/models.yaml",
    instructions_yaml: str | os.PathLike = "config/instructions.yaml",
    device: str = "auto",
    batch_size: int = 16,
    mode: str = "response",
    max_new_tokens: int = 16,
    context_words: int = 20,
    num_workers: int | str = "auto",
    dtype: str = "auto",
    allow_remote_code: bool = False,
    chunk_size: int = 256,
    feature_cache: str | os.PathLike | None = None,
) -> Path:
    """Extract all layers of ``model`` (under ``instruction``) for a dataset's stimuli.

    Writes ``output`` (schema ``features``: layer x stimulus x unit) and returns it.
    ``num_workers``: DataLoader processes that decode and preprocess stimuli
    (``auto``: several on GPU, none on CPU where they would compete with the model).
    ``feature_cache``: folder shared by studies (:mod:`brainalign.features.cache`): a
    store with the same cache key is linked from there instead of extracted, and a new
    store is added to it.
    """
    output, root = Path(output), Path(stimuli_root)
    request = resolve_request(model, instruction, models_yaml, instructions_yaml, device, dtype,
                              mode, max_new_tokens, allow_remote_code)
    stimuli = stimuli_for(stimuli_tsv, request.entry, context_words)
    parts = key_parts(request, stimuli, root, context_words)
    key = cache_key(parts)
    if existing_key(output) == key:
        log.info("%s is up to date (cache key %s); nothing to do", output, key[:12])
        return output
    if feature_cache and features_cache.fetch(feature_cache, key, output):
        return output
    extractor = build_extractor(request)
    partial_path = output.parent / f".{output.name}.partial"
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = PartialStore(partial_path, key, len(stimuli), max(1, int(chunk_size)))
    stats = _run(extractor, request, stimuli, root, partial, batch_size, num_workers)
    ds = features_dataset(request, stimuli, partial, key=key, context_words=context_words,
                          resolved=parts["resolved_revision"], stats=stats,
                          family_attrs=extractor.attrs())
    encoding = {"features": {"chunks": (1, min(len(stimuli), 4096), ds.sizes["unit"])}}
    write_store(ds, output, "features", encoding=encoding)
    shutil.rmtree(partial_path, ignore_errors=True)
    if feature_cache:
        features_cache.publish(feature_cache, key, output)
    log.info("wrote %s: %d layers x %d stimuli x %d units in %.1f s (%.2f stimuli/s)",
             output, ds.sizes["layer"], len(stimuli), ds.sizes["unit"], stats["seconds"],
             stats["stimuli"] / max(stats["seconds"], 1e-9))
    return output


def _run(extractor: Extractor, request: ExtractionRequest, stimuli: list[Stimulus], root: Path,
         partial: PartialStore, batch_size: int, num_workers: int | str) -> dict[str, Any]:
    dev = request.device
    if torch.cuda.is_available() and dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    stats = run_batches(extractor, stimuli, root, partial, batch_size,
                        resolve_workers(num_workers, dev),
                        desc=f"{request.name}/{request.instruction}")
    if not partial.done().all():
        raise RuntimeError(f"extraction of {request.name}/{request.instruction} did not finish "
                           "all stimuli")
    return stats


def features_dataset(request: ExtractionRequest, stimuli: list[Stimulus], partial: PartialStore, *,
                     key: str, context_words: int, resolved: str, stats: dict[str, Any],
                     family_attrs: dict[str, Any]) -> xr.Dataset:
    """The ``features`` store of a finished extraction (layer x stimulus x unit) with provenance."""
    feats, entry = partial.features(), request.entry
    coords = {
        "layer": ("layer", np.asarray(layer_ids(entry, feats.shape[0]), dtype=np.int64)),
        "stimulus_id": ("stimulus", [s.stimulus_id for s in stimuli]),
        "run": ("stimulus", [s.run for s in stimuli]),
        "onset": ("stimulus", np.asarray([s.onset for s in stimuli], dtype=np.float64)),
        "duration": ("stimulus", np.asarray([s.duration for s in stimuli], dtype=np.float64)),
        "modality": ("stimulus", [s.modality for s in stimuli]),
    }
    data_vars: dict[str, Any] = {"features": (("layer", "stimulus", "unit"), feats)}
    if request.mode == "response":
        texts = partial.texts() or [""] * len(stimuli)
        data_vars["generated_text"] = ("stimulus", np.asarray(texts, dtype=str))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs = provenance(
        model=request.name, family=entry["family"], input=entry["input"],
        hub_id=entry.get("hub_id") or entry.get("local_path") or "none",
        revision=entry.get("revision") or "none", init=entry.get("init", "pretrained"),
        resolved_revision=resolved or "none", instruction=request.instruction,
        instruction_text=request.instruction_text or "none", mode=request.mode,
        pooling=entry.get("pooling", "mean"), dtype=str(request.dtype).replace("torch.", ""),
        device=str(request.device), cache_key=key, versions=package_versions(),
        context_words=context_words if entry["input"] == "text" else 0,
        context_s=float(audio_context_s(entry) or 0),
        batch_size=stats["batch_size"], throughput=throughput(stats, request.device), **family_attrs,
    )
    if not np.isfinite(feats).all():
        raise RuntimeError(f"{request.name}/{request.instruction}: non-finite feature values; "
                           "store not written")
    return ds


def layer_ids(entry: dict[str, Any], n_layers: int) -> list[int]:
    """Layer coordinate: the registry's layer list where it has one per stored layer."""
    layers = entry.get("layers", "all")
    if layers in (None, "all") or not isinstance(layers, list) or len(layers) != n_layers:
        return list(range(n_layers))
    return [int(x) for x in layers]


def extract(
    stimuli_tsv: str | os.PathLike,
    model: str,
    output: str | os.PathLike,
    instruction: str = "none",
    *,
    stimuli_root: str | os.PathLike | None = None,
    models_yaml: str | os.PathLike = "config/models.yaml",
    instructions_yaml: str | os.PathLike = "config/instructions.yaml",
    **options: Any,
) -> xr.Dataset:
    """Extract the features of one model x instruction for a stimulus table, and open them.

    ``stimuli_tsv``: a stimulus table (docs/data_model.md) whose ``path`` column is
    relative to ``stimuli_root`` (default: the table's folder); ``model``: a name in the
    model registry ``models_yaml``; ``instruction``: a code of the model's instruction
    set in ``instructions_yaml`` (``none`` for models without instructions). Writes
    the ``features`` store ``output`` (every layer x stimulus x unit; nothing is
    recomputed when ``output`` already holds the same inputs) and returns it opened
    with :func:`brainalign.stores.read_store`. ``options`` are the keyword arguments
    of :func:`extract_features` (``device``, ``batch_size``, ``mode``, ``dtype``,
    ``feature_cache``, ...).

    >>> ds = extract("results/demo-images/stimuli.tsv", "minilm", "minilm.zarr")  # doctest: +SKIP
    >>> ds.features.dims
    ('layer', 'stimulus', 'unit')
    """
    from brainalign.stores import read_store

    root = Path(stimuli_tsv).parent if stimuli_root is None else stimuli_root
    path = extract_features(stimuli_tsv, root, model, instruction, output, models_yaml,
                            instructions_yaml, **options)
    return read_store(path, "features")
