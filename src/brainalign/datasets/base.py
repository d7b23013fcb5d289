"""What every dataset kind does: the :class:`DatasetKind` interface, its job records and option defaults.

A kind turns one source of data into the two things the rest of the workflow
reads: the stimulus table (with its files) and one ``brain`` store per subject
(built with :func:`brainalign.stores.brain_dataset`). The workflow's rules call a
kind only through this interface (``workflow/scripts/dataset_stimuli.py`` and
``dataset_brain.py``); :data:`brainalign.datasets.KINDS` maps each kind name of
the config schema to its implementation.

Defaults of a kind's options live in one place, its JSON schema
(``brainalign/schemas/dataset.<kind>.schema.yaml``); :func:`kind_settings` fills
them in the way config validation does.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from brainalign.config import DefaultingValidator, load_schema

InputFiles = dict[str, str | list[str]]


@dataclass(frozen=True)
class StimuliJob:
    """One dataset's stimulus job: write the table ``table`` and the files under ``files``.

    ``inputs`` and ``outputs`` hold the rule's other named files (e.g. ``manifest``
    in, ``truth`` out).
    """

    raw_dir: str
    block: dict
    subjects: Sequence[str]
    table: str
    files: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BrainJob:
    """One subject's brain-store job: write the store ``out``.

    ``inputs`` holds the rule's named input files: ``stimuli`` (the stimulus table)
    and what the kind asks for in :meth:`DatasetKind.rule_inputs`.
    """

    raw_dir: str
    block: dict
    subject: str
    subjects: Sequence[str]
    out: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


class DatasetKind(ABC):
    """A source of data (``kind`` in the config): stimuli, brain stores and the raw files they read."""

    name: ClassVar[str]

    @abstractmethod
    def prepare_stimuli(self, job: StimuliJob) -> None:
        """Write the stimulus table and its files."""

    @abstractmethod
    def prepare_brain(self, job: BrainJob) -> None:
        """Write one subject's ``brain`` store."""

    def rule_inputs(
        self, raw_dir: str, block: dict, subjects: Sequence[str], subject: str | None = None
    ) -> InputFiles:
        """Files outside the results folder that a job reads, by input name.

        ``subject=None``: the stimulus job; else that subject's brain job. Replacing
        one of them reruns the job. Most kinds read nothing but what earlier rules wrote.
        """
        return {}


def raw_folder(dataset: dict) -> str:
    """The ``raw_dir`` of a dataset's config entry, without a trailing slash (default ``data``)."""
    return str(dataset.get("raw_dir", "data")).rstrip("/") or "/"


def _problem(kind: str, err) -> str:
    where = ".".join([kind, *map(str, err.absolute_path)])
    if err.validator == "enum":
        return f"{where} is {err.instance!r}; allowed: {', '.join(map(str, err.validator_value))}"
    return f"{where}: {err.message}"


def kind_settings(kind: str, block: dict | None, error: type[Exception] = ValueError) -> dict:
    """A copy of the ``kind`` options ``block`` with its schema's defaults filled in.

    Values the schema refuses raise ``error`` naming the key and, for choices, the
    allowed values.
    """
    cfg = copy.deepcopy(dict(block or {}))
    problems = sorted(DefaultingValidator(load_schema(f"dataset.{kind}")).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if problems:
        raise error("; ".join(_problem(kind, e) for e in problems))
    return cfg
