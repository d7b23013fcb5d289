"""Dataset kinds: each turns one source of data into a stimulus table and brain stores.

Every kind implements :class:`~brainalign.datasets.base.DatasetKind` (prepare the
stimuli, prepare one subject's brain store, name the raw files a job reads) in its
own subpackage; :data:`KINDS` maps the config's ``kind`` names to them. Shared
pieces: :mod:`.datalad_source` and :mod:`.s3_source` (downloads), :mod:`.store_ceilings`
(noise ceilings as stores keep them), :mod:`.files` (file helpers).
"""

from __future__ import annotations

from brainalign.datasets.algonauts2023 import Algonauts2023
from brainalign.datasets.base import BrainJob, DatasetKind, StimuliJob, kind_settings, raw_folder
from brainalign.datasets.cneuromod import CNeuroMod
from brainalign.datasets.custom import Custom
from brainalign.datasets.nsd import NSD
from brainalign.datasets.synthetic import Synthetic

KINDS: dict[str, DatasetKind] = {k.name: k for k in (Synthetic(), NSD(), Algonauts2023(), CNeuroMod(), Custom())}


def kind(name: str) -> DatasetKind:
    """The implementation of dataset kind ``name``."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown dataset kind {name!r}; known: {', '.join(KINDS)}") from None


__all__ = ["KINDS", "BrainJob", "DatasetKind", "StimuliJob", "kind", "kind_settings", "raw_folder"]
