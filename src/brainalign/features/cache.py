"""One feature cache shared by studies, keyed by content.

A finished features store is published as ``<cache>/<cache_key>.zarr``, where the key
(:func:`brainalign.features.runner.cache_key`) covers the registry entry and the
model's resolved hub revision, the stimulus content (:func:`~brainalign.features.runner.
stimuli_digest`), the instruction and every extraction parameter, and the package
versions. A later extraction with the same key, in any study or results folder, links
the cached files into its output (hard links; a copy across file systems) instead of
running the model. Any change of an input gives another key, so a rerun extracts again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


def cached_store(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"{key}.zarr"


def _key_of(store: Path) -> str | None:
    try:
        return json.loads((store / ".zattrs").read_text()).get("cache_key")
    except (OSError, ValueError):
        return None


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
    if _key_of(store) != key:
        return False
    _place(store, Path(output))
    log.info("%s: linked from the feature cache %s", output, store)
    return True


def publish(cache_dir: str | os.PathLike, key: str, output: str | os.PathLike) -> Path:
    """Add the finished store ``output`` (whose cache_key is ``key``) to the cache."""
    store = cached_store(cache_dir, key)
    if _key_of(Path(output)) != key:
        raise ValueError(f"{output}: its cache_key is not {key}; not added to the cache")
    if _key_of(store) != key:
        _place(Path(output), store)
    return store
