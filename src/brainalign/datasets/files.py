"""File helpers shared by the dataset kinds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (no second copy of large stimulus sets); copy across file systems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def load_npy(path: Path, what: str, error: type[Exception]) -> np.ndarray:
    """An .npy array (pickles refused); missing or unreadable files raise ``error`` naming ``what`` and the file."""
    if not path.exists():
        raise error(f"{what} not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise error(f"cannot read {what} {path} (truncated or not .npy?): {err}") from err
