"""Feature extraction: model x instruction x layer features for every stimulus.

The public entry point is :func:`extract` (one model x instruction for a stimulus
table, into a ``features`` store); :class:`Registry` reads the model and
instruction registries. Importing this package does not import torch: the
extraction modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brainalign.features.registry import Registry, load_instructions, load_registry

if TYPE_CHECKING:
    from brainalign.features.runner import extract, extract_features

__all__ = ["Registry", "extract", "extract_features", "load_instructions", "load_registry"]


def __getattr__(name: str) -> Any:
    if name in ("extract", "extract_features"):
        from brainalign.features import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'brainalign.features' has no attribute {name!r}")
