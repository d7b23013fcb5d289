"""The user's files of a ``custom`` dataset (layout: see :mod:`brainalign.datasets.custom`).

Settings, safe names and paths inside ``raw_dir``, tables and arrays read with
errors that name the file, and the list of raw files a job reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign.datasets.base import kind_settings
from brainalign.datasets.files import load_npy
from brainalign.safe_paths import UnsafeNameError, check_name, inside


class CustomDataError(ValueError):
    """The user's data do not match the documented layout."""


def raw_path(raw: Path, relative: str, where: str) -> Path:
    """A file named by the config or the stimulus table: must stay inside ``raw_dir``."""
    try:
        return inside(raw, relative, where)
    except UnsafeNameError as err:
        raise CustomDataError(str(err)) from err


def safe_name(value: str, where: str) -> str:
    try:
        return check_name(value, where)
    except UnsafeNameError as err:
        raise CustomDataError(str(err)) from err


def settings(block: dict) -> dict:
    """A dataset's ``custom`` block with the schema's defaults filled in, checked."""
    cfg = kind_settings("custom", block, CustomDataError)
    if cfg["design"] == "timeseries":
        if not isinstance(cfg.get("tr"), (int, float)) or cfg["tr"] <= 0:
            raise CustomDataError(f"custom.tr must be a positive number of seconds, got {cfg.get('tr')!r}")
        if not cfg["test_runs"]:
            raise CustomDataError("custom.test_runs must name at least one run for a time-series design")
    return cfg


def read_table(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise CustomDataError(f"file not found: {path}")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CustomDataError(f"cannot read {path} as a tab-separated table with a header: {err}") from err
    if table.empty:
        raise CustomDataError(f"{path}: the table has no rows (columns {list(table.columns)})")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CustomDataError(f"{path}: missing columns {missing} (has {list(table.columns)})")
    return table


def load_array(path: Path, what: str) -> np.ndarray:
    """A 2-D array (rows x voxels) as float32, with errors naming the file."""
    arr = load_npy(path, what, CustomDataError)
    if arr.ndim != 2:
        raise CustomDataError(f"{what} {path} must be 2-D (rows x voxels), has shape {arr.shape}")
    return arr.astype(np.float32)


def run_lengths(raw_dir: Path, cfg: dict, subject: str, runs: list[str]) -> dict[str, int]:
    """TR count of each run of one subject (read from the array headers)."""
    out = {}
    for run in runs:
        safe_name(run, f"{subject}: run")
        path = raw_path(raw_dir, cfg["runs"].format(subject=subject, run=run), f"{subject}: run {run!r}")
        if not path.exists():
            raise CustomDataError(f"{subject}: run {run!r} not found: {path}")
        try:
            out[run] = int(np.load(path, mmap_mode="r").shape[0])
        except (ValueError, OSError) as err:
            raise CustomDataError(f"cannot read run file {path}: {err}") from err
    return out


def check_stimulus_table(table: pd.DataFrame, path: Path, raw: Path, design: str) -> None:
    """Every row's names, file paths and onsets, checked before anything is copied.

    Stimulus ids and run names become file names: they must be safe names. File
    paths must stay inside ``raw_dir``; onsets must be finite and not negative;
    frame, audio and video rows need a path. Errors name the file, row and column.
    """
    for k, rec in enumerate(table.to_dict("records")):
        row = f"{path} row {k + 2}"  # line numbers: the header is line 1
        if design == "events":
            safe_name(rec["stimulus_id"], f"{row}, column stimulus_id")
        if rec.get("run") or design == "timeseries":
            safe_name(rec.get("run", ""), f"{row}, column run")
        if rec.get("path"):
            raw_path(raw, rec["path"], f"{row}, column path")
        if design != "timeseries":
            continue
        if rec["modality"] in ("frame", "audio", "video") and not rec.get("path"):
            raise CustomDataError(f"{row}: a {rec['modality']} row needs a file in column path")
        try:
            onset = float(rec["onset"])
        except ValueError:
            onset = float("nan")
        if not np.isfinite(onset) or onset < 0:
            raise CustomDataError(f"{row}, column onset: {rec['onset']!r}; allowed: a number of seconds >= 0")


def raw_inputs(raw_dir: str | os.PathLike, block: dict, subject: str | None = None) -> list[str]:
    """Raw files a rule reads (rule inputs, so replacing one reruns the rule).

    ``subject=None``: the stimulus table and the stimulus files it names; else the
    subject's responses (events: responses and samples; time series: one file per
    run of the stimulus table, and the test repeats), the ROI file and a given
    noise ceiling. Names and paths are checked as in the prepare functions.
    """
    cfg = settings(block)
    raw = Path(raw_dir)
    table_path = raw_path(raw, cfg["stimuli"], "custom.stimuli")
    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False) if table_path.exists() else None
    if subject is None:
        files = [table_path]
        if table is not None and "path" in table:
            files += [raw_path(raw, p, f"{table_path}, column path") for p in table["path"] if p]
        return sorted({str(f) for f in files})
    files = [raw_path(raw, cfg["rois"], "custom.rois")]
    if cfg["design"] == "events":
        files += [raw_path(raw, cfg[k].format(subject=subject), f"custom.{k}") for k in ("responses", "samples")]
    else:
        runs = sorted(set(table["run"])) if table is not None and "run" in table else []
        files += [raw_path(raw, cfg["runs"].format(subject=subject, run=safe_name(r, f"{table_path}, column run")),
                       "custom.runs") for r in runs]
        files += [raw_path(raw, p.format(subject=subject), f"custom.test_repeats.{r}")
                  for r, p in cfg["test_repeats"].items()]
    ceiling = raw_path(raw, cfg["noise_ceiling"].format(subject=subject), "custom.noise_ceiling")
    files += [ceiling] if ceiling.exists() else []
    return sorted({str(f) for f in files})
