"""CNeuroMod run keys, movie segments and their train/test split, and the ``cneuromod`` options."""

from __future__ import annotations

import re
from dataclasses import dataclass

from brainalign.datasets.base import kind_settings

RUN_KEY = re.compile(r"(?:^|_)ses-(?P<session>[0-9]+)_task-(?P<segment>[A-Za-z0-9]+?)(?:_run-(?P<repeat>[0-9]+))?(?:_|$)")


class CNeuroModError(ValueError):
    """Configuration or data of a CNeuroMod dataset is not usable."""


def settings(block: dict) -> dict:
    """A dataset's ``cneuromod`` block with the schema's defaults filled in, checked."""
    cfg = kind_settings("cneuromod", block, CNeuroModError)
    overlap = set(cfg["train"]) & set(cfg["test"])
    if overlap:
        raise CNeuroModError(f"cneuromod: {sorted(overlap)} listed in both train and test")
    return cfg


@dataclass(frozen=True)
class RunKey:
    session: str
    segment: str  # s01e02a, bourne01, life01
    repeat: int  # 1 unless the segment was shown more than once


def parse_run_key(key: str) -> RunKey:
    """Parse ``ses-001_task-s01e02a`` or ``ses-003_task-life01_run-2`` (also within file names)."""
    m = RUN_KEY.search(key)
    if not m:
        raise CNeuroModError(
            f"run key {key!r} does not look like 'ses-NNN_task-SEGMENT[_run-N]'"
        )
    return RunKey(m["session"], m["segment"], int(m["repeat"] or 1))


def segment_group(segment: str, task: str) -> str:
    """Movie name (``bourne01`` -> ``bourne``) or season (``s01e02a`` -> ``s01``)."""
    if task == "friends":
        m = re.match(r"(s\d+)e\d+[a-z]?$", segment)
    else:
        m = re.match(r"([a-z]+)\d*$", segment)
    if not m:
        raise CNeuroModError(f"segment {segment!r} is not a {task} segment name")
    return m.group(1)


def split_of(segment: str, cfg: dict) -> str | None:
    """``train``/``test`` for a segment, or None when the study does not use it."""
    group = segment_group(segment, cfg["task"])
    for split in ("test", "train"):
        if segment in cfg[split] or group in cfg[split]:
            return split
    return None
