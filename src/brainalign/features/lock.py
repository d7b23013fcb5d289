"""Pinned model revisions: ``config/models.lock.yaml`` next to the registry.

``snakemake lock_models`` resolves, once, the revision of every hub entry of the
registry (``revision: main`` or a tag) to the commit it names, from the local hub cache
or else the hub API, and writes the lock file, which the user checks in. Extraction
then loads that exact commit (:func:`apply_lock`); an entry that is neither a commit in
the registry nor in the lock is an unpinned run, and the workflow warns about it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

import yaml

log = logging.getLogger(__name__)
COMMIT = re.compile(r"^[0-9a-f]{40}$")
HEADER = ("# Hub commits of the model registry's revisions, written by `snakemake lock_models`.\n"
          "# Check it in: extraction loads these exact commits. Delete an entry (or the file)\n"
          "# and rerun `snakemake lock_models -f` to move a model to a newer commit.\n")


def lock_path(models_yaml: str | os.PathLike) -> Path:
    """``config/models.yaml`` -> ``config/models.lock.yaml``."""
    path = Path(models_yaml)
    return path.with_name(f"{path.stem}.lock{path.suffix}")


def is_hub_entry(entry: dict[str, Any]) -> bool:
    return bool(entry.get("hub_id")) and not entry.get("local_path")


def cached_commit(hub_id: str, revision: str) -> str | None:
    """Commit that ``revision`` of ``hub_id`` names in the local hub cache, if it is there."""
    from huggingface_hub import constants

    cache = Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)
    folder = cache / f"models--{hub_id.replace('/', '--')}"
    if COMMIT.match(revision) and (folder / "snapshots" / revision).is_dir():
        return revision
    ref = folder / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def hub_commit(hub_id: str, revision: str) -> str:
    """Commit of ``revision`` from the hub API (needs network access)."""
    from huggingface_hub import HfApi

    return HfApi().model_info(hub_id, revision=revision).sha


def resolve_lock(registry: dict[str, dict], resolve: Callable[[str, str], str] = hub_commit
                 ) -> dict[str, dict[str, str]]:
    """Lock entries (hub_id, revision, commit) of every hub entry of ``registry``."""
    locked = {}
    for name, entry in sorted(registry.items()):
        if not is_hub_entry(entry):
            continue
        revision = str(entry.get("revision") or "main")
        commit = cached_commit(entry["hub_id"], revision) or resolve(entry["hub_id"], revision)
        if not COMMIT.match(str(commit)):
            raise ValueError(f"model {name!r}: {entry['hub_id']}@{revision} resolved to {commit!r}, "
                             "not a commit")
        locked[name] = {"hub_id": entry["hub_id"], "revision": revision, "commit": commit}
    return locked


def write_lock(path: str | os.PathLike, locked: dict[str, dict[str, str]]) -> Path:
    path = Path(path)
    path.write_text(HEADER + yaml.safe_dump({"models": locked}, sort_keys=True))
    return path


def read_lock(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    path = Path(path)
    if not path.exists():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("models") or {}


def locked_commit(entry: dict[str, Any], name: str, locked: dict[str, dict]) -> str | None:
    """The commit this entry runs at: its own revision if a commit, else the lock's."""
    revision = str(entry.get("revision") or "main")
    if COMMIT.match(revision):
        return revision
    item = locked.get(name) or {}
    if item.get("hub_id") == entry.get("hub_id") and item.get("revision") == revision:
        return item.get("commit")
    return None


def apply_lock(entry: dict[str, Any], name: str, models_yaml: str | os.PathLike) -> dict[str, Any]:
    """``entry`` with its revision replaced by the locked commit; warns when there is none."""
    if not is_hub_entry(entry):
        return entry
    commit = locked_commit(entry, name, read_lock(lock_path(models_yaml)))
    if commit is None:
        log.warning("model %r runs at the unpinned revision %r of %s; pin it: snakemake lock_models "
                    "(writes %s)", name, entry.get("revision") or "main", entry["hub_id"],
                    lock_path(models_yaml))
        return entry
    return {**entry, "revision": commit}


def unpinned(registry: dict[str, dict], names: list[str], models_yaml: str | os.PathLike) -> list[str]:
    """Hub models among ``names`` that have no commit in the registry or the lock."""
    locked = read_lock(lock_path(models_yaml))
    return sorted(n for n in set(names) if is_hub_entry(registry[n])
                  and locked_commit(registry[n], n, locked) is None)
