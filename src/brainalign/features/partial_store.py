"""Finished stimuli of an extraction, kept in a chunked zarr store so an interrupted run resumes.

The store lives next to the output (``.{name}.partial``) and is keyed by the
extraction's cache key: a changed input discards it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


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
