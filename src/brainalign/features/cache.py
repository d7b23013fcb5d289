"""The content key of a features store, and one feature cache shared by studies.

The key (:func:`cache_key` over the parts the runner gathers) covers the registry
entry and the model's resolved hub revision (:func:`resolved_revision`), the stimulus
content (:func:`stimuli_digest`), the instruction and every extraction parameter, and
the package versions (:func:`package_versions`). An output whose key is unchanged is
not extracted again.

A finished features store is published as ``<cache>/<cache_key>.zarr``. A later
extraction with the same key, in any study or results folder, links the cached files
into its output (hard links; a copy across file systems) instead of running the model.
Any change of an input gives another key, so a rerun extracts again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainalign.features.registry import audio_context_s

if TYPE_CHECKING:
    from brainalign.features.inputs import Stimulus
    from brainalign.features.interface import ExtractionRequest

log = logging.getLogger(__name__)

HASH_PREFIX_BYTES = 1 << 16


def package_versions() -> dict[str, str]:
    """Versions of the packages that change extracted features."""
    import numpy as np
    import torch
    import transformers

    import brainalign

    out = {"torch": torch.__version__, "transformers": transformers.__version__,
           "brainalign": brainalign.__version__, "numpy": np.__version__}
    for mod in ("open_clip", "imagebind"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional packages
            pass
    return out


def stimuli_digest(stimuli: list[Stimulus], root: Path) -> str:
    """Hash of the selected stimulus rows and of their files (size + leading bytes)."""
    h = hashlib.sha256()
    seen: set[str] = set()
    for s in stimuli:
        row = [s.stimulus_id, s.run, s.onset, s.duration, s.modality, s.paths, s.text, s.context]
        row += [s.audio_paths] if s.audio_paths else []
        row += [s.context_s, s.context_paths] if s.context_s else []
        h.update(json.dumps(row).encode())
        for p in s.paths + s.audio_paths:
            if p in seen:
                continue
            seen.add(p)
            f = root / p
            if f.exists():
                h.update(str(f.stat().st_size).encode())
                with open(f, "rb") as fh:
                    h.update(fh.read(HASH_PREFIX_BYTES))
            else:
                h.update(b"missing")
    return h.hexdigest()


def resolved_revision(entry: dict[str, Any]) -> str:
    """Commit of the locally cached hub snapshot of ``entry`` ("" when not cached or not a hub model).

    Pins what a moving revision such as ``main`` meant for this run, so a changed
    snapshot changes the cache key.
    """
    if not entry.get("hub_id") or entry.get("local_path"):
        return ""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(entry["hub_id"], "config.json",
                                       revision=entry.get("revision") or "main")
    except Exception:  # noqa: BLE001 - best effort; the entry's revision is keyed anyway
        return ""
    return Path(found).parent.name if isinstance(found, str) else ""


def cache_key(parts: dict[str, Any]) -> str:
    """sha256 over a canonical JSON of everything that changes the output."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def existing_key(path: str | os.PathLike) -> str | None:
    """cache_key of a finished store at ``path`` (None when absent or unreadable)."""
    try:
        return json.loads((Path(path) / ".zattrs").read_text()).get("cache_key")
    except (OSError, ValueError):
        return None


def cached_store(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"{key}.zarr"


def _link_tree(src: Path, dst: Path) -> None:
    """``dst`` becomes a tree of hard links to ``src``'s files (copies across devices)."""
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link)


def _place(src: Path, dst: Path) -> None:
    """Link ``src`` into a sibling of ``dst``, then swap it in (no half-written ``dst``)."""
    tmp = dst.parent / f".{dst.name}.linking"
    shutil.rmtree(tmp, ignore_errors=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    _link_tree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def fetch(cache_dir: str | os.PathLike, key: str, output: str | os.PathLike) -> bool:
    """Link the cached store of ``key`` to ``output``; False when the cache lacks it."""
    store = cached_store(cache_dir, key)
    if existing_key(store) != key:
        return False
    _place(store, Path(output))
    log.info("%s: linked from the feature cache %s", output, store)
    return True


def publish(cache_dir: str | os.PathLike, key: str, output: str | os.PathLike) -> Path:
    """Add the finished store ``output`` (whose cache_key is ``key``) to the cache."""
    store = cached_store(cache_dir, key)
    if existing_key(Path(output)) != key:
        raise ValueError(f"{output}: its cache_key is not {key}; not added to the cache")
    if existing_key(store) != key:
        _place(Path(output), store)
    return store


def key_parts(request: ExtractionRequest, stimuli: list[Stimulus], root: Path,
              context_words: int) -> dict[str, Any]:
    """Everything that changes the store of ``request`` over ``stimuli`` (see :func:`cache_key`)."""
    entry = request.entry
    parts = {
        "model": request.name, "entry": {k: v for k, v in entry.items() if not k.startswith("_")},
        "instruction": request.instruction, "instruction_text": request.instruction_text,
        "mode": request.mode,
        "max_new_tokens": request.max_new_tokens if request.mode == "response" else None,
        "context_words": context_words if entry["input"] == "text" else None,
        "dtype": str(request.dtype), "stimuli": stimuli_digest(stimuli, root),
        "versions": package_versions(), "resolved_revision": resolved_revision(entry),
    }
    context_s = audio_context_s(entry)
    if context_s:  # keyed only when set, so stores without context keep their keys
        parts["context_s"] = float(context_s)
    return parts
