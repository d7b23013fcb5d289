"""Miniature CNeuroMod data for tests: parcel labels and brain signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TR = 0.5
N_PARCELS = 12
NETS = ["Vis", "SomMot", "Default_Temp", "Default_Par"]
SEGMENTS = {"bourne01": 1, "life01": 2, "wolf01": 1}  # segment -> times shown
MOVIE_SECONDS = 5.0  # 10 TRs of 0.5 s



def parcel_labels(path: Path) -> Path:
    names = [f"7Networks_{h}_{NETS[i % 4]}_{i + 1}" for h in ("LH", "RH") for i in range(N_PARCELS // 2)]
    y = np.linspace(-100, 40, N_PARCELS)
    pd.DataFrame({"index": np.arange(1, N_PARCELS + 1), "name": names, "x": 40.0, "y": y, "z": 0.0}).to_csv(
        path, sep="\t", index=False)
    return path


def brain_signal(seed_subject: int, n: int, rng_repeat: int) -> np.ndarray:
    """Shared stimulus-driven signal plus subject/repeat noise."""
    shared = np.random.default_rng(0).standard_normal((n, N_PARCELS))
    noise = np.random.default_rng(100 * seed_subject + rng_repeat).standard_normal((n, N_PARCELS))
    return (shared + 0.7 * noise).astype(np.float32)
