"""What the runner hands a family and what it gets back.

A family builder (:mod:`brainalign.features.families`) receives one
:class:`ExtractionRequest` (the registry entry and the run's settings) and returns an
:class:`Extractor`: the object that turns batches of decoded stimuli into pooled
per-layer features. External adapters (``family: remote``, ``backend: external``)
take the same request and return the same kind of object.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class ExtractionRequest:
    """One model x instruction to extract, as the runner resolved it.

    ``entry``: the registry entry (defaults filled, revision locked); ``device`` and
    ``dtype``: torch device and dtype; ``instruction``: the instruction code and
    ``instruction_text`` its text (None for models without instructions); ``mode``:
    ``prompt``/``response`` for instruction-following models, else ``none``.
    """

    name: str
    entry: dict[str, Any]
    device: Any = "cpu"
    dtype: Any = None
    instruction: str = "none"
    instruction_text: str | None = None
    mode: str = "none"
    max_new_tokens: int = 16
    allow_remote_code: bool = False


class Extractor(abc.ABC):
    """Turns batches of decoded stimuli into pooled features of every layer.

    ``input_kind`` names the stimulus rows and decoding (:func:`brainalign.features.
    inputs.decode`); ``rate`` (Hz, audio) and ``frames`` (per video clip) are the
    decoding settings; ``collator`` is a picklable callable (list of decoded stimuli
    -> model inputs) run in DataLoader worker processes, so preprocessing overlaps the
    forward pass; ``tokens`` counts the language-model tokens processed (None where a
    family does not count them).
    """

    input_kind: str
    collator: Callable[[list[Any]], Any]
    rate: int = 16000
    frames: int = 16
    tokens: int | None = None

    def __init__(self, entry: dict[str, Any], device: Any = None, dtype: Any = None):
        self.entry, self.device, self.dtype = entry, device, dtype
        self.input_kind = entry.get("input", "")

    @abc.abstractmethod
    def forward(self, batch: Any) -> tuple[np.ndarray, list[str] | None]:
        """``(features[layer, stimulus, unit] float32, generated texts or None)`` of a batch."""

    @abc.abstractmethod
    def attrs(self) -> dict[str, Any]:
        """What the features store records (prompt template, preprocessing, ...)."""
