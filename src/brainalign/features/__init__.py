"""Feature extraction: model x instruction x layer features for every stimulus."""

from brainalign.features.registry import load_instructions, load_registry
from brainalign.features.runner import extract_features

__all__ = ["extract_features", "load_instructions", "load_registry"]
