"""NSD experimental design: which image each trial showed, and the shared-1000 test set.

``nsd_expdesign.mat`` holds ``masterordering`` (30,000 trials -> 1-based column
of ``subjectim``) and ``subjectim`` (8 subjects x 10,000 -> 1-based 73k image
index). Images are named by their 0-based 73k index (the row of ``imgBrick`` in
``nsd_stimuli.hdf5`` and ``nsdId`` in ``nsd_stim_info_merged.csv``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign.datasets.nsd.layout import NSDError, subject_number

N_IMAGES = 73000


def stimulus_id(nsd_id: int) -> str:
    """Stimulus id of a 0-based 73k image index."""
    return f"nsd{int(nsd_id):05d}"


def read_expdesign(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``masterordering`` and ``subjectim`` from ``nsd_expdesign.mat`` (values kept 1-based)."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.exists():
        raise NSDError(f"NSD design file not found: {path}")
    try:
        mat = loadmat(path)
    except Exception as err:  # scipy raises several types on damaged files
        raise NSDError(f"cannot read NSD design file {path} (truncated or not a .mat file?): {err}") from err
    for name in ("masterordering", "subjectim"):
        if name not in mat:
            raise NSDError(f"{path} lacks the variable {name!r}")
    order = np.asarray(mat["masterordering"]).astype(np.int64).ravel()
    subjectim = np.asarray(mat["subjectim"]).astype(np.int64)
    if subjectim.ndim != 2 or subjectim.shape[0] < 8:
        raise NSDError(f"{path}: subjectim has shape {subjectim.shape}, expected (8, n_images)")
    if order.min() < 1 or order.max() > subjectim.shape[1]:
        raise NSDError(f"{path}: masterordering values must lie in 1..{subjectim.shape[1]}")
    return {"masterordering": order, "subjectim": subjectim}


def trial_images(design: dict[str, np.ndarray], subject: str | int, sessions: list[int],
                 trials_per_session: int) -> pd.DataFrame:
    """One row per trial of ``sessions``: session, trial within session, 0-based image index."""
    subj = subject_number(subject)
    order = design["masterordering"]
    rows = []
    for ses in sessions:
        start = (ses - 1) * trials_per_session
        stop = start + trials_per_session
        if stop > len(order):
            raise NSDError(f"session {ses} needs trials up to {stop}, masterordering has {len(order)}")
        cols = order[start:stop] - 1
        images = design["subjectim"][subj - 1, cols] - 1
        rows.append(pd.DataFrame({"session": ses, "trial": np.arange(trials_per_session), "nsd_id": images}))
    table = pd.concat(rows, ignore_index=True)
    if (table["nsd_id"] < 0).any() or (table["nsd_id"] >= N_IMAGES).any():
        raise NSDError(f"subject {subj}: image indices outside 1..{N_IMAGES} in subjectim")
    return table


def read_stim_info(path: str | os.PathLike) -> pd.DataFrame:
    """``nsd_stim_info_merged.csv`` indexed by ``nsdId`` (columns cocoId, cocoSplit, shared1000)."""
    path = Path(path)
    if not path.exists():
        raise NSDError(f"NSD stimulus table not found: {path}")
    try:
        table = pd.read_csv(path)
    except Exception as err:  # pandas raises several types on damaged files
        raise NSDError(f"cannot read NSD stimulus table {path}: {err}") from err
    missing = [c for c in ("nsdId", "cocoId", "shared1000") if c not in table.columns]
    if missing:
        raise NSDError(f"{path} lacks columns {missing} (has {list(table.columns)[:12]}...)")
    shared = table["shared1000"]
    if shared.dtype != bool:
        shared = shared.astype(str).str.strip().str.lower().isin(["true", "1"])
    table = table.assign(shared1000=shared.astype(bool))
    if table["nsdId"].duplicated().any():
        raise NSDError(f"{path}: nsdId values are not unique")
    return table.set_index("nsdId", drop=False)


def split_of(nsd_ids: np.ndarray, stim_info: pd.DataFrame, where: str = "stimulus table") -> np.ndarray:
    """``test`` for the shared 1,000 images, ``train`` otherwise."""
    ids = np.asarray(nsd_ids)
    missing = np.setdiff1d(ids, stim_info.index.values)
    if missing.size:
        raise NSDError(f"{where}: images {missing[:5].tolist()} are not in nsd_stim_info_merged.csv")
    shared = stim_info.loc[ids, "shared1000"].to_numpy(bool)
    return np.where(shared, "test", "train")


def image_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per image: number of trials (repeats) and the first session it was shown in."""
    grouped = trials.groupby("nsd_id")
    return pd.DataFrame({"repeats": grouped.size(), "first_session": grouped["session"].min()}).reset_index()
