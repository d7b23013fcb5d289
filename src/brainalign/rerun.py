"""What reruns a job: the settings that change its output, and nothing else.

Snakemake reruns a job when its ``params`` change. Rules therefore pass as params
only the settings that change results, plus the resolved registry entry and the
instruction text of a feature job; runtime settings (batch size, memory, workers,
bootstrap counts of the tables) are read by the job scripts from the config.
The library's own code is not tracked by Snakemake: every store records a
``code_version`` (hash of ``src/brainalign``) in its attributes, so that a store
written by other library code can be told apart (``snakemake --list-code-changes``
covers the rule scripts only).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

# Keys of each config section that never change an output (kept out of rerun triggers).
RUNTIME_KEYS: dict[str, tuple[str, ...]] = {
    "features": ("batch_size", "num_workers", "gpu", "mem_mb", "runtime"),
    "encoding": ("mem_mb",),
    "stats": ("n_bootstrap",),
}
LIBRARY = Path(__file__).resolve().parent


def trigger_settings(cfg: dict, section: str) -> dict[str, Any]:
    """The keys of ``cfg[section]`` that change outputs (a rule's params)."""
    return {k: v for k, v in cfg[section].items() if k not in RUNTIME_KEYS.get(section, ())}


def job_settings(config: dict, params: dict, section: str) -> dict[str, Any]:
    """Settings of a job: the params (trigger keys) completed with the config's runtime keys."""
    runtime = {k: v for k, v in config.get(section, {}).items() if k in RUNTIME_KEYS.get(section, ())}
    return {**runtime, **params}


def feature_job_params(cfg: dict, model: str, instruction: str) -> dict[str, Any]:
    """What a feature store depends on: the resolved registry entry and the instruction text."""
    from brainalign.config import registry_of

    registry = registry_of(cfg)
    entry = registry.entry(model)
    iset = entry.get("instruction_set")
    text = registry.instructions.get(iset, {}).get(instruction) if iset else None
    return {"entry": entry, "instruction_text": text}


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the library's source files (``src/brainalign/**/*.py``)."""
    h = hashlib.sha256()
    for path in sorted(LIBRARY.rglob("*.py")):
        h.update(str(path.relative_to(LIBRARY)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
