"""Names and paths that come from configs or data files, checked before they touch the disk.

Names (datasets, subjects, runs, stimulus ids) become parts of file names, so they
are restricted to a safe pattern; relative paths are checked, without following
links, to stay inside the folder they are relative to.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
SAFE_NAME_RULE = "letters, digits, '-', '_' and '.' (not first), at most 128 characters"


class UnsafeNameError(ValueError):
    """A name or path would reach outside its folder or is not a safe file name."""


def is_safe_name(value: object) -> bool:
    return isinstance(value, str) and bool(SAFE_NAME.match(value))


def check_name(value: object, where: str) -> str:
    """Return ``value`` if it is a safe name; else raise naming ``where`` and the rule."""
    if not is_safe_name(value):
        raise UnsafeNameError(f"{where}: {value!r} is not an allowed name; allowed: {SAFE_NAME_RULE}")
    return str(value)


def inside(root: str | os.PathLike, relative: str | os.PathLike, where: str) -> Path:
    """``root / relative`` if it stays inside ``root`` (checked lexically); else raise.

    Absolute paths and ``..`` steps that leave ``root`` are refused.
    """
    rel = str(relative)
    if not rel or os.path.isabs(rel):
        raise UnsafeNameError(f"{where}: {rel!r} is not allowed; give a path inside {root}, relative to it")
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, rel))
    if full == base or os.path.commonpath([base, full]) != base:
        raise UnsafeNameError(f"{where}: {rel!r} leads outside {root} (to {full}); allowed: a path inside {root}")
    return Path(root) / os.path.relpath(full, base)


def check_results_root(results: str, workdir: str | os.PathLike = ".") -> None:
    """The results folder must not be the working directory, a filesystem root or above either."""
    if not isinstance(results, str) or not results.strip():
        raise UnsafeNameError(f"config key 'results': {results!r}; give a folder name such as 'results'")
    full = Path(os.path.normpath(os.path.join(os.path.abspath(workdir), results)))
    cwd = Path(os.path.abspath(workdir))
    if full == Path(full.anchor) or full in cwd.parents or full == cwd:
        raise UnsafeNameError(
            f"config key 'results': {results!r} resolves to {full}, which holds the working directory; "
            "give a folder of its own such as 'results'"
        )
    if not os.path.isabs(results) and not full.is_relative_to(cwd):
        raise UnsafeNameError(
            f"config key 'results': {results!r} leads outside the working directory ({cwd}); "
            "give a folder inside it or an absolute path"
        )
