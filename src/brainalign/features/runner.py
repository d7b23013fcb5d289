"""Run one model x instruction over a dataset's stimuli and write a ``features`` store.

The runner batches stimuli, decodes and preprocesses them in DataLoader worker
processes, halves the batch size on GPU out-of-memory, and writes finished
chunks of stimuli into a partial zarr store next to the output
(``.{name}.partial``) so an interrupted job resumes where it stopped. The final
store is written atomically by :func:`brainalign.stores.write_store` and carries a
content-based ``cache_key``: an unchanged input returns at once, a changed one
reruns from scratch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from brainalign.features import cache as features_cache
from brainalign.features.lock import apply_lock
from brainalign.features.inputs import Stimulus, decode, read_table, select_stimuli
from brainalign.features.registry import (
    MLLM_FAMILIES,
    get_model,
    is_tower,
    load_instructions,
    load_registry,
    resolve_instruction,
)
from brainalign.stores import provenance, write_store

log = logging.getLogger(__name__)

HASH_PREFIX_BYTES = 1 << 16


# --------------------------------------------------------------------------- device


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return dev


def resolve_dtype(dtype: str, device: torch.device, entry_dtype: str = "auto") -> torch.dtype:
    """``auto``: bf16 (fp16 without bf16 support) on GPU, float32 on CPU."""
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


# --------------------------------------------------------------------------- cache key


def package_versions() -> dict[str, str]:
    """Versions of the packages that change extracted features."""
    import transformers

    import brainalign

    out = {"torch": torch.__version__, "transformers": transformers.__version__,
           "brainalign": brainalign.__version__, "numpy": np.__version__}
    for mod in ("open_clip", "imagebind"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional packages
            pass
    return out


def stimuli_digest(stimuli: list[Stimulus], root: Path) -> str:
    """Hash of the selected stimulus rows and of their files (size + leading bytes)."""
    h = hashlib.sha256()
    seen: set[str] = set()
    for s in stimuli:
        row = [s.stimulus_id, s.run, s.onset, s.duration, s.modality, s.paths, s.text, s.context]
        row += [s.audio_paths] if s.audio_paths else []
        row += [s.context_s, s.context_paths] if s.context_s else []
        h.update(json.dumps(row).encode())
        for p in s.paths + s.audio_paths:
            if p in seen:
                continue
            seen.add(p)
            f = root / p
            if f.exists():
                h.update(str(f.stat().st_size).encode())
                with open(f, "rb") as fh:
                    h.update(fh.read(HASH_PREFIX_BYTES))
            else:
                h.update(b"missing")
    return h.hexdigest()


def resolved_revision(entry: dict[str, Any]) -> str:
    """Commit of the locally cached hub snapshot of ``entry`` ("" when not cached or not a hub model).

    Pins what a moving revision such as ``main`` meant for this run, so a changed
    snapshot changes the cache key.
    """
    if not entry.get("hub_id") or entry.get("local_path"):
        return ""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(entry["hub_id"], "config.json",
                                       revision=entry.get("revision") or "main")
    except Exception:  # noqa: BLE001 - best effort; the entry's revision is keyed anyway
        return ""
    return Path(found).parent.name if isinstance(found, str) else ""


def cache_key(parts: dict[str, Any]) -> str:
    """sha256 over a canonical JSON of everything that changes the output."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def existing_key(path: Path) -> str | None:
    """cache_key of a finished store at ``path`` (None when absent or unreadable)."""
    meta = path / ".zattrs"
    if not meta.exists():
        return None
    try:
        return json.loads(meta.read_text()).get("cache_key")
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- extractor


def build_extractor(entry, name, device, dtype, instruction_text, mode, max_new_tokens,
                    allow_remote_code):
    """Load the model of ``entry`` and wrap it in its family's extractor."""
    family = entry["family"]
    if family == "clip" and entry.get("backend", "transformers") == "open_clip":
        from brainalign.features.clip import OpenClipExtractor

        return OpenClipExtractor(entry, name, device, dtype)
    if family == "imagebind":
        from brainalign.features.imagebind import ImageBindExtractor

        return ImageBindExtractor(entry, name, device, dtype)
    if family == "remote":
        from brainalign.features.remote import remote_extractor

        # external adapters of instruction-following models read these private keys
        run = {"_instruction": instruction_text, "_mode": mode, "_max_new_tokens": max_new_tokens}
        return remote_extractor({**entry, **run}, name, device, dtype, allow_remote_code)
    from brainalign.features.loading import load_hf

    model, processor = load_hf(entry, name, dtype, allow_remote_code)
    if is_tower(entry):  # only the tower goes to the device; the language model is not run
        from brainalign.features.mllm_towers import TowerExtractor

        return TowerExtractor(model, processor, entry, device, dtype)
    model = model.to(device)
    if family in MLLM_FAMILIES:
        from brainalign.features.mllm import MLLMExtractor

        return MLLMExtractor(model, processor, entry, device, dtype, instruction_text, mode,
                             max_new_tokens)
    if family == "tvlt":
        from brainalign.features.tvlt import TvltExtractor

        return TvltExtractor(model, processor, entry, device, dtype)
    from brainalign.features.extractors import EncoderExtractor

    return EncoderExtractor(model, processor, entry, device, dtype)


# --------------------------------------------------------------------------- data


class StimulusDataset(torch.utils.data.Dataset):
    """Decodes stimuli (in worker processes when ``num_workers`` > 0)."""

    def __init__(self, stimuli, indices, root, input_kind, rate, frames):
        self.stimuli, self.indices, self.root = stimuli, list(indices), Path(root)
        self.input_kind, self.rate, self.frames = input_kind, rate, frames

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        idx = self.indices[i]
        raw = decode(self.stimuli[idx], self.root, self.input_kind, rate=self.rate,
                     frames=self.frames)
        return idx, raw


class _Collate:
    def __init__(self, collator: Callable):
        self.collator = collator

    def __call__(self, items):
        return [i for i, _ in items], self.collator([r for _, r in items])


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


# --------------------------------------------------------------------------- partial store


class PartialStore:
    """Chunked zarr store of finished stimuli, so an interrupted run resumes."""

    def __init__(self, path: Path, key: str, n: int, chunk: int):
        import zarr

        self.path, self.n, self.chunk = path, n, chunk
        meta = path / "partial.json"
        if path.exists():
            ok = meta.exists() and json.loads(meta.read_text()).get("cache_key") == key
            if not ok:
                log.info("discarding stale partial store %s (inputs changed)", path)
                shutil.rmtree(path)
        fresh = not path.exists()
        self.group = zarr.open_group(str(path), mode="a", zarr_format=2)
        if fresh:
            self.group.create_array("done", shape=(n,), chunks=(chunk,), dtype="bool",
                                    fill_value=False)
            meta.write_text(json.dumps({"cache_key": key, "n": n, "chunk": chunk}))
        (path / "texts").mkdir(exist_ok=True)

    def done(self) -> np.ndarray:
        return np.asarray(self.group["done"][:], dtype=bool)

    def write(self, start: int, feats: np.ndarray, texts: list[str] | None) -> None:
        """Store stimuli ``start:start+len`` (features layer x stim x unit)."""
        if "features" not in self.group:
            n_layers, _, n_units = feats.shape
            self.group.create_array("features", shape=(n_layers, self.n, n_units),
                                    chunks=(1, self.chunk, n_units), dtype="float32",
                                    fill_value=np.nan)
        arr = self.group["features"]
        if arr.shape[0] != feats.shape[0] or arr.shape[2] != feats.shape[2]:
            raise RuntimeError(f"feature shape {feats.shape} does not match partial store {arr.shape}")
        stop = start + feats.shape[1]
        arr[:, start:stop] = feats
        if texts is not None:
            tmp = self.path / "texts" / f".{start:09d}.json.tmp"
            tmp.write_text(json.dumps(texts))
            os.replace(tmp, self.path / "texts" / f"{start:09d}.json")
        self.group["done"][start:stop] = True

    def features(self) -> np.ndarray:
        return np.asarray(self.group["features"][:])

    def texts(self) -> list[str] | None:
        files = sorted((self.path / "texts").glob("*.json"))
        if not files:
            return None
        out = [""] * self.n
        for f in files:
            start = int(f.stem)
            vals = json.loads(f.read_text())
            out[start : start + len(vals)] = vals
        return out


# --------------------------------------------------------------------------- main loop


def run_batches(extractor, stimuli, root, partial: PartialStore, batch_size: int,
                num_workers: int, desc: str) -> dict[str, Any]:
    """Extract every not-yet-done stimulus; returns timing statistics."""
    n, chunk = len(stimuli), partial.chunk
    done = partial.done()
    todo = [i for i in range(n) if not done[i]]
    rate, frames = getattr(extractor, "rate", 16000), getattr(extractor, "frames", 16)
    pending: dict[int, tuple[np.ndarray, str | None]] = {}
    need = {c: [i for i in range(c, min(c + chunk, n)) if not done[i]] for c in range(0, n, chunk)}
    bs = max(1, int(batch_size))
    stats = {"stimuli": 0, "seconds": 0.0, "batch_size": bs, "oom_backoffs": 0, "tokens": 0}
    tokens0 = int(getattr(extractor, "tokens", 0))
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc=desc, unit="stim", dynamic_ncols=True)

    def consume(indices: list[int], batch: dict[str, Any]) -> None:
        feats, texts = extractor.forward(batch)
        for j, idx in enumerate(indices):
            pending[idx] = (feats[:, j], None if texts is None else texts[j])
        bar.update(len(indices))
        stats["stimuli"] += len(indices)
        if hasattr(extractor, "tokens"):  # token throughput next to stimuli/s
            stats["tokens"] = int(extractor.tokens) - tokens0
            bar.set_postfix(tok_s=f"{stats['tokens'] / max(time.perf_counter() - t0, 1e-9):.0f}",
                            bs=bs, refresh=False)
        for c in sorted({(i // chunk) * chunk for i in indices}):
            if all(i in pending for i in need[c]):
                _flush(c)

    def _flush(c: int) -> None:
        ids = need[c]
        if not ids:
            return
        # contiguous runs of not-done stimuli in this chunk
        runs, cur = [], [ids[0]]
        for i in ids[1:]:
            if i == cur[-1] + 1:
                cur.append(i)
            else:
                runs.append(cur)
                cur = [i]
        runs.append(cur)
        for r in runs:
            feats = np.stack([pending[i][0] for i in r], axis=1)
            texts = [pending[i][1] for i in r]
            partial.write(r[0], feats, None if texts[0] is None else texts)
        for i in ids:
            pending.pop(i)
        need[c] = []

    def consume_safely(indices: list[int], batch: dict[str, Any] | None) -> None:
        nonlocal bs
        try:
            if batch is None:
                batch = extractor.collator([decode(stimuli[i], root, extractor.input_kind,
                                                   rate=rate, frames=frames) for i in indices])
            consume(indices, batch)
        except Exception as err:  # noqa: BLE001 - only OOM is handled
            if not _is_oom(err):
                raise
            if len(indices) == 1:
                raise RuntimeError("out of memory at batch size 1; use a smaller model/dtype") from err
            del batch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            bs = max(1, len(indices) // 2)
            stats["oom_backoffs"] += 1
            log.warning("out of memory at batch size %d; retrying at %d", len(indices), bs)
            for k in range(0, len(indices), bs):
                consume_safely(indices[k : k + bs], None)

    if num_workers > 0:  # tokenizers' own threads do not survive the fork into workers
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    remaining = list(todo)
    while remaining:
        loader = torch.utils.data.DataLoader(
            StimulusDataset(stimuli, remaining, root, extractor.input_kind, rate, frames),
            batch_size=bs, shuffle=False, num_workers=num_workers,
            collate_fn=_Collate(extractor.collator),
            pin_memory=torch.cuda.is_available(), persistent_workers=False,
            prefetch_factor=4 if num_workers > 0 else None,
        )
        started_bs, processed = bs, 0
        for indices, batch in loader:
            consume_safely(indices, batch)
            processed += len(indices)
            if bs != started_bs:  # back-off happened: restart the loader at the new size
                break
        remaining = remaining[processed:]
    bar.close()
    stats["seconds"] = time.perf_counter() - t0
    stats["batch_size"] = bs
    return stats


def extract_features(
    stimuli_tsv: str | os.PathLike,
    stimuli_root: str | os.PathLike,
    model: str,
    instruction: str,
    output: str | os.PathLike,
    models_yaml: str | os.PathLike = "config/models.yaml",
    instructions_yaml: str | os.PathLike = "config/instructions.yaml",
    device: str = "auto",
    batch_size: int = 16,
    mode: str = "response",
    max_new_tokens: int = 16,
    context_words: int = 20,
    num_workers: int | str = "auto",
    dtype: str = "auto",
    allow_remote_code: bool = False,
    chunk_size: int = 256,
    feature_cache: str | os.PathLike | None = None,
) -> Path:
    """Extract all layers of ``model`` (under ``instruction``) for a dataset's stimuli.

    Writes ``output`` (schema ``features``: layer x stimulus x unit) and returns it.
    ``num_workers``: DataLoader processes that decode and preprocess stimuli
    (``auto``: several on GPU, none on CPU where they would compete with the model).
    ``feature_cache``: folder shared by studies (:mod:`brainalign.features.cache`): a
    store with the same cache key is linked from there instead of extracted, and a new
    store is added to it.
    """
    output = Path(output)
    root = Path(stimuli_root)
    registry = load_registry(models_yaml)
    entry = apply_lock(get_model(registry, model), model, models_yaml)
    entry["_name"] = model
    instruction_text = resolve_instruction(entry, model, instruction, load_instructions(instructions_yaml))
    is_mllm = entry["family"] in MLLM_FAMILIES and not is_tower(entry)  # towers: no prompt
    is_mllm |= entry["family"] == "remote" and entry.get("instruction_set") is not None
    mode_used = mode if is_mllm else "none"
    if is_mllm and mode not in ("prompt", "response"):
        raise ValueError(f"unknown feature mode {mode!r}; allowed: prompt, response")
    dev = resolve_device(device)
    tdtype = resolve_dtype(dtype, dev, entry.get("dtype", "auto"))

    table = read_table(stimuli_tsv)
    context_s = entry.get("context_s") if entry["input"] == "audio" else None
    stimuli = select_stimuli(table, entry["input"], context_words=context_words,
                             context_s=context_s)
    if not stimuli:
        raise ValueError(f"{stimuli_tsv}: no stimuli for input kind {entry['input']!r}")
    key_parts = {
        "model": model, "entry": {k: v for k, v in entry.items() if not k.startswith("_")},
        "instruction": instruction, "instruction_text": instruction_text, "mode": mode_used,
        "max_new_tokens": max_new_tokens if mode_used == "response" else None,
        "context_words": context_words if entry["input"] == "text" else None,
        "dtype": str(tdtype), "stimuli": stimuli_digest(stimuli, root),
        "versions": package_versions(), "resolved_revision": resolved_revision(entry),
    }
    if context_s:  # keyed only when set, so stores without context keep their keys
        key_parts["context_s"] = float(context_s)
    key = cache_key(key_parts)
    if existing_key(output) == key:
        log.info("%s is up to date (cache key %s); nothing to do", output, key[:12])
        return output
    if feature_cache and features_cache.fetch(feature_cache, key, output):
        return output

    extractor = build_extractor(entry, model, dev, tdtype, instruction_text, mode_used,
                                max_new_tokens, allow_remote_code)
    partial_path = output.parent / f".{output.name}.partial"
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = PartialStore(partial_path, key, len(stimuli), max(1, int(chunk_size)))
    if torch.cuda.is_available() and dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    stats = run_batches(extractor, stimuli, root, partial, batch_size,
                        resolve_workers(num_workers, dev), desc=f"{model}/{instruction}")
    if not partial.done().all():
        raise RuntimeError(f"extraction of {model}/{instruction} did not finish all stimuli")

    feats = partial.features()
    n_layers = feats.shape[0]
    layer_ids = _layer_ids(entry, n_layers)
    coords = {
        "layer": ("layer", np.asarray(layer_ids, dtype=np.int64)),
        "stimulus_id": ("stimulus", [s.stimulus_id for s in stimuli]),
        "run": ("stimulus", [s.run for s in stimuli]),
        "onset": ("stimulus", np.asarray([s.onset for s in stimuli], dtype=np.float64)),
        "duration": ("stimulus", np.asarray([s.duration for s in stimuli], dtype=np.float64)),
        "modality": ("stimulus", [s.modality for s in stimuli]),
    }
    data_vars: dict[str, Any] = {"features": (("layer", "stimulus", "unit"), feats)}
    texts = partial.texts()
    if mode_used == "response":
        data_vars["generated_text"] = ("stimulus", np.asarray(texts or [""] * len(stimuli), dtype=str))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs = provenance(
        model=model, family=entry["family"], input=entry["input"],
        hub_id=entry.get("hub_id") or entry.get("local_path") or "none",
        revision=entry.get("revision") or "none", init=entry.get("init", "pretrained"),
        resolved_revision=key_parts["resolved_revision"] or "none",
        instruction=instruction, instruction_text=instruction_text or "none",
        mode=mode_used, pooling=entry.get("pooling", "mean"), dtype=str(tdtype).replace("torch.", ""),
        device=str(dev), cache_key=key, versions=package_versions(),
        context_words=context_words if entry["input"] == "text" else 0,
        context_s=float(context_s or 0),
        batch_size=stats["batch_size"], throughput=throughput(stats, dev), **extractor.attrs(),
    )
    if not np.isfinite(feats).all():
        raise RuntimeError(f"{model}/{instruction}: non-finite feature values; store not written")
    encoding = {"features": {"chunks": (1, min(len(stimuli), 4096), feats.shape[2])}}
    write_store(ds, output, "features", encoding=encoding)
    shutil.rmtree(partial_path, ignore_errors=True)
    if feature_cache:
        features_cache.publish(feature_cache, key, output)
    log.info("wrote %s: %d layers x %d stimuli x %d units in %.1f s (%.2f stimuli/s)",
             output, n_layers, len(stimuli), feats.shape[2], stats["seconds"],
             stats["stimuli"] / max(stats["seconds"], 1e-9))
    return output


def throughput(stats: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    """Timing of this (possibly resumed) run: stimuli/s, tokens/s, peak GPU memory."""
    secs = max(float(stats["seconds"]), 1e-9)
    out = {"seconds": round(secs, 3), "stimuli": int(stats["stimuli"]),
           "stimuli_per_s": stats["stimuli"] / secs, "tokens": int(stats.get("tokens", 0)),
           "tokens_per_s": stats.get("tokens", 0) / secs, "oom_backoffs": stats["oom_backoffs"],
           "peak_gpu_mem_mb": 0.0}
    if dev.type == "cuda":
        out["peak_gpu_mem_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


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
    return {k: v for k, v in features.items() if k not in ("gpu", "mem_mb", "runtime")}


def _layer_ids(entry: dict[str, Any], n_layers: int) -> list[int]:
    layers = entry.get("layers", "all")
    if layers in (None, "all") or not isinstance(layers, list) or len(layers) != n_layers:
        return list(range(n_layers))
    return [int(x) for x in layers]
