"""Feed stimuli through an extractor in batches and keep what is finished.

Stimuli are decoded and collated in DataLoader worker processes; features of a batch
wait in memory until every stimulus of their chunk is done, then go to the
:class:`~brainalign.features.partial_store.PartialStore`. A GPU out-of-memory error
halves the batch size and retries; the loader restarts at the new size.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from brainalign.features.inputs import Stimulus, decode
from brainalign.features.interface import Extractor
from brainalign.features.partial_store import PartialStore

log = logging.getLogger(__name__)


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


def is_oom(err: BaseException) -> bool:
    """Whether ``err`` is an out-of-memory error of the device."""
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def contiguous_runs(ids: list[int]) -> list[list[int]]:
    """``[1, 2, 3, 7, 8]`` -> ``[[1, 2, 3], [7, 8]]`` (``ids`` sorted)."""
    runs, cur = [], [ids[0]]
    for i in ids[1:]:
        if i == cur[-1] + 1:
            cur.append(i)
        else:
            runs.append(cur)
            cur = [i]
    runs.append(cur)
    return runs


class BatchRunner:
    """Extracts every stimulus of ``stimuli`` not yet done in ``partial``."""

    def __init__(self, extractor: Extractor, stimuli: list[Stimulus], root: Path,
                 partial: PartialStore, batch_size: int):
        self.extractor, self.stimuli, self.root, self.partial = extractor, stimuli, root, partial
        n, chunk = len(stimuli), partial.chunk
        done = partial.done()
        self.todo = [i for i in range(n) if not done[i]]
        self.need = {c: [i for i in range(c, min(c + chunk, n)) if not done[i]]
                     for c in range(0, n, chunk)}
        self.pending: dict[int, tuple[np.ndarray, str | None]] = {}
        self.bs = max(1, int(batch_size))
        self.stats = {"stimuli": 0, "seconds": 0.0, "batch_size": self.bs, "oom_backoffs": 0,
                      "tokens": 0}
        self.tokens0 = int(extractor.tokens or 0)
        self.t0 = time.perf_counter()
        self.bar: Any = None

    def run(self, num_workers: int, desc: str) -> dict[str, Any]:
        """Extract in DataLoader batches; returns timing statistics."""
        self.bar = tqdm(total=len(self.todo), desc=desc, unit="stim", dynamic_ncols=True)
        if num_workers > 0:  # tokenizers' own threads do not survive the fork into workers
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        remaining = list(self.todo)
        while remaining:
            started_bs, processed = self.bs, 0
            for indices, batch in self._loader(remaining, num_workers):
                self.consume_safely(indices, batch)
                processed += len(indices)
                if self.bs != started_bs:  # back-off happened: restart the loader at the new size
                    break
            remaining = remaining[processed:]
        self.bar.close()
        self.stats["seconds"] = time.perf_counter() - self.t0
        self.stats["batch_size"] = self.bs
        return self.stats

    def _loader(self, indices: list[int], num_workers: int) -> torch.utils.data.DataLoader:
        ex = self.extractor
        return torch.utils.data.DataLoader(
            StimulusDataset(self.stimuli, indices, self.root, ex.input_kind, ex.rate, ex.frames),
            batch_size=self.bs, shuffle=False, num_workers=num_workers,
            collate_fn=_Collate(ex.collator),
            pin_memory=torch.cuda.is_available(), persistent_workers=False,
            prefetch_factor=4 if num_workers > 0 else None,
        )

    def consume_safely(self, indices: list[int], batch: Any | None) -> None:
        """:meth:`consume`; on out-of-memory retry at half the batch size (decoding again)."""
        ex = self.extractor
        try:
            if batch is None:
                batch = ex.collator([decode(self.stimuli[i], self.root, ex.input_kind,
                                            rate=ex.rate, frames=ex.frames) for i in indices])
            self.consume(indices, batch)
        except Exception as err:  # noqa: BLE001 - only OOM is handled
            if not is_oom(err):
                raise
            if len(indices) == 1:
                raise RuntimeError("out of memory at batch size 1; use a smaller model/dtype") from err
            del batch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            self.bs = max(1, len(indices) // 2)
            self.stats["oom_backoffs"] += 1
            log.warning("out of memory at batch size %d; retrying at %d", len(indices), self.bs)
            for k in range(0, len(indices), self.bs):
                self.consume_safely(indices[k : k + self.bs], None)

    def consume(self, indices: list[int], batch: Any) -> None:
        """Run one batch; write every chunk it completes."""
        feats, texts = self.extractor.forward(batch)
        for j, idx in enumerate(indices):
            self.pending[idx] = (feats[:, j], None if texts is None else texts[j])
        self.bar.update(len(indices))
        self.stats["stimuli"] += len(indices)
        if self.extractor.tokens is not None:  # token throughput next to stimuli/s
            self.stats["tokens"] = int(self.extractor.tokens) - self.tokens0
            rate = self.stats["tokens"] / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_postfix(tok_s=f"{rate:.0f}", bs=self.bs, refresh=False)
        chunk = self.partial.chunk
        for c in sorted({(i // chunk) * chunk for i in indices}):
            if all(i in self.pending for i in self.need[c]):
                self.flush(c)

    def flush(self, c: int) -> None:
        """Write the finished chunk starting at ``c`` (its contiguous runs of new stimuli)."""
        ids = self.need[c]
        if not ids:
            return
        for r in contiguous_runs(ids):
            feats = np.stack([self.pending[i][0] for i in r], axis=1)
            texts = [self.pending[i][1] for i in r]
            self.partial.write(r[0], feats, None if texts[0] is None else texts)
        for i in ids:
            self.pending.pop(i)
        self.need[c] = []


def run_batches(extractor: Extractor, stimuli: list[Stimulus], root: Path, partial: PartialStore,
                batch_size: int, num_workers: int, desc: str) -> dict[str, Any]:
    """Extract every not-yet-done stimulus; returns timing statistics."""
    return BatchRunner(extractor, stimuli, root, partial, batch_size).run(num_workers, desc)


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
