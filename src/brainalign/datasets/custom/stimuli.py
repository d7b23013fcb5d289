"""The stimulus table of a ``custom`` dataset: the user's table validated, its files copied or cut.

Event designs keep one row per stimulus (an image or a text). Time-series designs
get one row per event (words and frames at their onsets, per-TR audio windows,
movies cut into frames and audio) and one ``clip`` row per TR of every run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign.datasets.custom.files import (
    CustomDataError,
    check_stimulus_table,
    raw_path,
    read_table,
    run_lengths,
    settings,
)
from brainalign.stimuli.table import STIMULUS_COLUMNS
from brainalign.stimuli.video import cut_movie, decode_audio, write_wav
from brainalign.stores import staged_dir, write_tsv

EVENT_MODALITIES = ("word", "frame", "audio", "video")


@dataclass(frozen=True)
class _Target:
    """Where stimulus files are written (``staging``, renamed to ``out_dir``) and the folder paths are relative to."""

    staging: Path
    out_dir: Path
    rel_root: Path

    def path(self, name: str) -> str:
        return str((self.out_dir / name).relative_to(self.rel_root))


def prepare_stimuli(raw_dir: str | os.PathLike, block: dict, subjects: list[str],
                    out_tsv: str | os.PathLike, out_dir: str | os.PathLike) -> pd.DataFrame:
    """Validate the stimulus table and copy/cut its files into the results folder."""
    cfg = settings(block)
    raw, out_tsv, out_dir = Path(raw_dir), Path(out_tsv), Path(out_dir)
    with staged_dir(out_dir) as tmp:
        tmp.mkdir()
        target = _Target(tmp, out_dir, out_tsv.parent)
        if cfg["design"] == "events":
            rows = _event_rows(raw, cfg, target)
        else:
            rows = _timeseries_rows(raw, cfg, subjects, target)
        stim = pd.DataFrame(rows, columns=STIMULUS_COLUMNS)
    write_tsv(stim[STIMULUS_COLUMNS], out_tsv)
    return stim


def _event_rows(raw: Path, cfg: dict, target: _Target) -> list[dict]:
    table = read_table(raw_path(raw, cfg["stimuli"], "custom.stimuli"), ["stimulus_id", "split"])
    check_stimulus_table(table, raw / cfg["stimuli"], raw, "events")
    dup = table["stimulus_id"][table["stimulus_id"].duplicated()].unique()
    if len(dup):
        raise CustomDataError(f"{raw / cfg['stimuli']}: duplicated stimulus_id {list(dup[:5])}")
    bad = sorted(set(table["split"]) - {"train", "test"})
    if bad:
        raise CustomDataError(f"{raw / cfg['stimuli']}: split values {bad}; allowed: train, test")
    rows = []
    for rec in table.to_dict("records"):
        path = ""
        if rec.get("path"):
            src = raw / rec["path"]
            if not src.exists():
                raise CustomDataError(f"stimulus {rec['stimulus_id']!r}: file not found: {src}")
            dst = target.staging / f"{rec['stimulus_id']}{src.suffix}"
            shutil.copyfile(src, dst)
            path = target.path(dst.name)
        rows.append(dict(stimulus_id=rec["stimulus_id"], modality="image" if path else "word",
                         path=path, text=rec.get("text", ""), run=rec.get("run") or "all",
                         onset="", duration="", split=rec["split"]))
    return rows


def _timeseries_rows(raw: Path, cfg: dict, subjects: list[str], target: _Target) -> list[dict]:
    table = read_table(raw_path(raw, cfg["stimuli"], "custom.stimuli"), ["run", "modality", "onset"])
    bad = sorted(set(table["modality"]) - set(EVENT_MODALITIES))
    if bad:
        raise CustomDataError(f"{raw / cfg['stimuli']}: modality {bad}; allowed: {list(EVENT_MODALITIES)}")
    check_stimulus_table(table, raw / cfg["stimuli"], raw, "timeseries")
    runs = sorted(set(table["run"]))
    unknown = sorted(set(cfg["test_runs"]) - set(runs))
    if unknown:
        raise CustomDataError(f"custom.test_runs {unknown} not in the stimulus table runs {runs}")
    lengths = run_lengths(raw, cfg, subjects[0], runs)
    tr = float(cfg["tr"])
    rows: list[dict] = []
    for run in runs:
        split = "test" if run in cfg["test_runs"] else "train"
        for k, rec in enumerate(table[table["run"] == run].to_dict("records")):
            rows.extend(_event(raw, cfg, rec, f"{run}_e{k:05d}", split, lengths[run], target))
        rows.extend(dict(stimulus_id=f"{run}_tr{i}", modality="clip", path="", text="", run=run,
                         onset=round(i * tr, 6), duration=tr, split=split) for i in range(lengths[run]))
    return rows


def _event(raw: Path, cfg: dict, rec: dict, sid: str, split: str, n_trs: int, target: _Target) -> list[dict]:
    """Rows of one event of a run: a word, a frame, per-TR audio windows or a movie's frames and audio."""
    run, tr, onset = rec["run"], float(cfg["tr"]), float(rec["onset"])
    end = n_trs * tr
    if onset >= end:
        raise CustomDataError(f"run {run!r}: event at {onset} s lies after the run ends ({end} s)")
    if rec["modality"] == "word":
        return [dict(stimulus_id=sid, modality="word", path="", text=rec.get("text", ""),
                     run=run, onset=onset, duration=rec.get("duration", ""), split=split)]
    if rec["modality"] == "frame":
        src = raw / rec["path"]
        if not src.exists():
            raise CustomDataError(f"run {run!r}: frame file not found: {src}")
        shutil.copyfile(src, target.staging / f"{sid}{src.suffix}")
        return [dict(stimulus_id=sid, modality="frame", path=target.path(f"{sid}{src.suffix}"),
                     text="", run=run, onset=onset, duration=rec.get("duration", ""), split=split)]
    if rec["modality"] == "audio":
        return _audio_windows(raw / rec["path"], cfg, run, onset, split, n_trs, target)
    # video: frames + per-TR audio
    cut = cut_movie(raw / rec["path"], run, tr, target.staging, target.staging.parent, split,
                    frame_rate=cfg["frame_rate"], audio_rate=cfg["audio_rate"],
                    n_trs=n_trs, frame_short_side=cfg["frame_short_side"])
    cut = cut[cut["modality"] != "clip"].copy()
    cut["path"] = cut["path"].str.replace(target.staging.name, target.out_dir.name, n=1, regex=False)
    return cut.to_dict("records")


def _audio_windows(src: Path, cfg: dict, run: str, onset: float, split: str, n_trs: int,
                   target: _Target) -> list[dict]:
    """An audio file starting at ``onset`` cut into one wav per TR of the run (silence before it)."""
    tr, rate = float(cfg["tr"]), cfg["audio_rate"]
    audio = decode_audio(src, rate)
    win = int(round(tr * rate))
    start = int(round(onset * rate))
    rows = []
    for i in range(n_trs):
        a = audio[max(0, i * win - start):][:win] if i * win >= start else np.zeros(0)
        write_wav(target.staging / f"{run}_tr{i}.wav", np.pad(a, (0, win - len(a))), rate)
        rows.append(dict(stimulus_id=f"{run}_tr{i}_audio", modality="audio", path=target.path(f"{run}_tr{i}.wav"),
                         text="", run=run, onset=round(i * tr, 6), duration=tr, split=split))
    return rows
