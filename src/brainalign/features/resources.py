"""What an extraction job runs on and asks a cluster for.

In the job: the torch device and dtype (:func:`resolve_device`, :func:`resolve_dtype`)
and the DataLoader workers (:func:`resolve_workers`). At planning time: the job's
cluster resources from its registry entry (:func:`job_resources`,
:func:`rule_resources`) and the job's keyword arguments from the config's ``features``
block (:func:`rule_features`).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING, Any

from brainalign.features.registry import get_model, load_registry

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
CLUSTER_KEYS = ("gpu", "mem_mb", "runtime")


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return dev


def resolve_dtype(dtype: str, device: torch.device, entry_dtype: str = "auto") -> torch.dtype:
    """``auto``: bf16 (fp16 without bf16 support) on GPU, float32 on CPU."""
    import torch

    choice = dtype if dtype != "auto" else entry_dtype
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if choice in (None, "auto"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if choice not in table:
        raise ValueError(f"unknown dtype {choice!r}; allowed: auto, {', '.join(table)}")
    if device.type == "cpu" and table[choice] != torch.float32:
        log.warning("dtype %s on CPU is slow; use float32 there", choice)
    return table[choice]


def resolve_workers(num_workers: int | str, dev: torch.device) -> int:
    """``auto``: up to 8 loader processes on GPU (one core left to the main process), 0 on CPU."""
    if num_workers != "auto":
        return max(0, int(num_workers))
    if dev.type != "cuda":
        return 0
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this job was given
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, min(8, cores - 1))


def needs_gpu(entry: dict[str, Any]) -> bool:
    """Whether a registry entry is a GPU-class model (``gpu`` key, else ``params_b`` >= 0.5)."""
    if "gpu" in entry:
        return bool(entry["gpu"])
    return float(entry.get("params_b") or 0) >= 0.5


def job_resources(entry: dict[str, Any], features: dict[str, Any] | None = None) -> dict[str, int]:
    """Cluster resources of one extraction job, derived from the registry entry.

    ``gpu`` 1 for GPU-class models unless the run is pinned to ``device: cpu``;
    ``mem_mb`` host memory to load the weights (bf16) plus decoded stimuli;
    ``runtime`` minutes; ``threads`` main process + DataLoader workers. Values in
    the config's ``features`` block (gpu, mem_mb, runtime) act as floors.
    """
    features = features or {}
    params_b = float(entry.get("params_b") or 0)
    gpu = int(needs_gpu(entry) and features.get("device", "auto") != "cpu")
    mem_mb = int(4000 + 2.5 * params_b * 1024)
    runtime = int(60 + 30 * params_b) if gpu else int(60 + 240 * params_b)
    workers = features.get("num_workers", "auto")
    threads = 1 + (min(8, int(workers)) if workers != "auto" else (4 if gpu else 0))
    return {
        "gpu": max(gpu, int(features.get("gpu", 0) or 0)),
        "mem_mb": max(mem_mb, int(features.get("mem_mb", 0) or 0)),
        "runtime": max(runtime, int(features.get("runtime", 0) or 0)),
        "threads": threads,
    }


@functools.lru_cache(maxsize=None)
def _registry_at(path: str) -> dict[str, dict]:
    return load_registry(path)


def rule_resources(models_yaml: str | os.PathLike, model: str,
                   features: dict[str, Any]) -> dict[str, int]:
    """:func:`job_resources` of ``model`` (registry read once per workflow run)."""
    return job_resources(get_model(_registry_at(str(models_yaml)), model), features)


def rule_features(features: dict[str, Any]) -> dict[str, Any]:
    """``extract_features`` keyword arguments of one job from the config's ``features`` block.

    Cluster keys (gpu, mem_mb, runtime) are dropped; ``num_workers: auto`` is resolved
    inside the job from the cores it was given (see :func:`resolve_workers`).
    """
    return {k: v for k, v in features.items() if k not in CLUSTER_KEYS}
