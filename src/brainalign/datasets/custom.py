"""The user's own data (dataset kind ``custom``), event or time-series designs.

Layout under the dataset's ``raw_dir`` (names configurable, see docs/datasets/custom.md):

``stimuli.tsv``                      events: ``stimulus_id, path|text, split[, run]``;
                                     time series: ``run, modality, onset, duration, path|text``
                                     (modality ``word``, ``frame``, ``audio`` or ``video``)
``{subject}/responses.npy``          events: samples x voxels
``{subject}/samples.tsv``            events: one ``stimulus_id`` per response row (repeats allowed)
``{subject}/runs/{run}.npy``         time series: TRs x voxels per run
``rois.npz``                         ROI name -> bool or 0/1 mask over voxels
``{subject}/noise_ceiling.npy``      optional correlation ceiling per voxel
"""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainalign.datasets.movie_ceiling import split_half_ceiling
from brainalign.safe_paths import UnsafeNameError, check_name, inside
from brainalign.stimuli.video import STIMULUS_COLUMNS, cut_movie, decode_audio, write_wav
from brainalign.stores import provenance, staged_dir, write_store, write_tsv

log = logging.getLogger(__name__)

DESIGNS = ("events", "timeseries")
EVENT_MODALITIES = ("word", "frame", "audio", "video")
DEFAULTS = {
    "stimuli": "stimuli.tsv",
    "responses": "{subject}/responses.npy",
    "samples": "{subject}/samples.tsv",
    "runs": "{subject}/runs/{run}.npy",
    "rois": "rois.npz",
    "noise_ceiling": "{subject}/noise_ceiling.npy",
    "test_runs": [],
    "frame_rate": 8.0,
    "audio_rate": 16000,
    "frame_short_side": 224,
    "space": "custom",
    "nonfinite": "error",
}
NONFINITE = ("error", "drop_voxels")


class CustomDataError(ValueError):
    """The user's data do not match the documented layout."""


def _raw(raw: Path, relative: str, where: str) -> Path:
    """A file named by the config or the stimulus table: must stay inside ``raw_dir``."""
    try:
        return inside(raw, relative, where)
    except UnsafeNameError as err:
        raise CustomDataError(str(err)) from err


def _name(value: str, where: str) -> str:
    try:
        return check_name(value, where)
    except UnsafeNameError as err:
        raise CustomDataError(str(err)) from err


def settings(block: dict) -> dict:
    cfg = {**DEFAULTS, **(block or {})}
    if cfg.get("design") not in DESIGNS:
        raise CustomDataError(f"custom.design is {cfg.get('design')!r}; allowed: {list(DESIGNS)}")
    if cfg["design"] == "timeseries":
        if not isinstance(cfg.get("tr"), (int, float)) or cfg["tr"] <= 0:
            raise CustomDataError(f"custom.tr must be a positive number of seconds, got {cfg.get('tr')!r}")
        if not cfg["test_runs"]:
            raise CustomDataError("custom.test_runs must name at least one run for a time-series design")
    if cfg["nonfinite"] not in NONFINITE:
        raise CustomDataError(f"custom.nonfinite is {cfg['nonfinite']!r}; allowed: {list(NONFINITE)}")
    return cfg


def _table(path: Path, required: list[str]) -> pd.DataFrame:
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


def _load(path: Path, what: str) -> np.ndarray:
    if not path.exists():
        raise CustomDataError(f"{what} not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CustomDataError(f"cannot read {what} {path} (truncated or not .npy?): {err}") from err
    if arr.ndim != 2:
        raise CustomDataError(f"{what} {path} must be 2-D (rows x voxels), has shape {arr.shape}")
    return arr.astype(np.float32)


def run_lengths(raw_dir: Path, cfg: dict, subject: str, runs: list[str]) -> dict[str, int]:
    """TR count of each run of one subject (read from the array headers)."""
    out = {}
    for run in runs:
        _name(run, f"{subject}: run")
        path = _raw(raw_dir, cfg["runs"].format(subject=subject, run=run), f"{subject}: run {run!r}")
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
            _name(rec["stimulus_id"], f"{row}, column stimulus_id")
        if rec.get("run") or design == "timeseries":
            _name(rec.get("run", ""), f"{row}, column run")
        if rec.get("path"):
            _raw(raw, rec["path"], f"{row}, column path")
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


def prepare_stimuli(raw_dir: str | os.PathLike, block: dict, subjects: list[str],
                    out_tsv: str | os.PathLike, out_dir: str | os.PathLike) -> pd.DataFrame:
    """Validate the stimulus table and copy/cut its files into the results folder."""
    cfg = settings(block)
    raw, out_tsv, out_dir = Path(raw_dir), Path(out_tsv), Path(out_dir)
    rel_root = out_tsv.parent
    rows: list[dict] = []
    with staged_dir(out_dir) as tmp:
        tmp.mkdir()
        if cfg["design"] == "events":
            table = _table(_raw(raw, cfg["stimuli"], "custom.stimuli"), ["stimulus_id", "split"])
            check_stimulus_table(table, raw / cfg["stimuli"], raw, "events")
            dup = table["stimulus_id"][table["stimulus_id"].duplicated()].unique()
            if len(dup):
                raise CustomDataError(f"{raw / cfg['stimuli']}: duplicated stimulus_id {list(dup[:5])}")
            bad = sorted(set(table["split"]) - {"train", "test"})
            if bad:
                raise CustomDataError(f"{raw / cfg['stimuli']}: split values {bad}; allowed: train, test")
            for rec in table.to_dict("records"):
                path = ""
                if rec.get("path"):
                    src = raw / rec["path"]
                    if not src.exists():
                        raise CustomDataError(f"stimulus {rec['stimulus_id']!r}: file not found: {src}")
                    dst = tmp / f"{rec['stimulus_id']}{src.suffix}"
                    shutil.copyfile(src, dst)
                    path = str((out_dir / dst.name).relative_to(rel_root))
                rows.append(dict(stimulus_id=rec["stimulus_id"], modality="image" if path else "word",
                                 path=path, text=rec.get("text", ""), run=rec.get("run") or "all",
                                 onset="", duration="", split=rec["split"]))
        else:
            table = _table(_raw(raw, cfg["stimuli"], "custom.stimuli"), ["run", "modality", "onset"])
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
            for run in runs:
                split = "test" if run in cfg["test_runs"] else "train"
                ev = table[table["run"] == run]
                end = lengths[run] * tr
                for k, rec in enumerate(ev.to_dict("records")):
                    onset = float(rec["onset"])
                    if onset >= end:
                        raise CustomDataError(f"run {run!r}: event at {onset} s lies after the run ends ({end} s)")
                    sid = f"{run}_e{k:05d}"
                    if rec["modality"] == "word":
                        rows.append(dict(stimulus_id=sid, modality="word", path="", text=rec.get("text", ""),
                                         run=run, onset=onset, duration=rec.get("duration", ""), split=split))
                    elif rec["modality"] == "frame":
                        src = raw / rec["path"]
                        if not src.exists():
                            raise CustomDataError(f"run {run!r}: frame file not found: {src}")
                        shutil.copyfile(src, tmp / f"{sid}{src.suffix}")
                        rows.append(dict(stimulus_id=sid, modality="frame",
                                         path=str((out_dir / f"{sid}{src.suffix}").relative_to(rel_root)),
                                         text="", run=run, onset=onset, duration=rec.get("duration", ""), split=split))
                    elif rec["modality"] == "audio":
                        audio = decode_audio(raw / rec["path"], cfg["audio_rate"])
                        rate = cfg["audio_rate"]
                        win = int(round(tr * rate))
                        start = int(round(onset * rate))
                        for i in range(lengths[run]):
                            a = audio[max(0, i * win - start):][:win] if i * win >= start else np.zeros(0)
                            write_wav(tmp / f"{run}_tr{i}.wav", np.pad(a, (0, win - len(a))), rate)
                            rows.append(dict(stimulus_id=f"{run}_tr{i}_audio", modality="audio",
                                             path=str((out_dir / f"{run}_tr{i}.wav").relative_to(rel_root)),
                                             text="", run=run, onset=round(i * tr, 6), duration=tr, split=split))
                    else:  # video: frames + per-TR audio
                        cut = cut_movie(raw / rec["path"], run, tr, tmp, tmp.parent, split,
                                        frame_rate=cfg["frame_rate"], audio_rate=cfg["audio_rate"],
                                        n_trs=lengths[run], frame_short_side=cfg["frame_short_side"])
                        cut = cut[cut["modality"] != "clip"].copy()
                        cut["path"] = cut["path"].str.replace(tmp.name, out_dir.name, n=1, regex=False)
                        rows.extend(cut.to_dict("records"))
                rows.extend(dict(stimulus_id=f"{run}_tr{i}", modality="clip", path="", text="", run=run,
                                 onset=round(i * tr, 6), duration=tr, split=split) for i in range(lengths[run]))
        stim = pd.DataFrame(rows, columns=STIMULUS_COLUMNS)
    write_tsv(stim[STIMULUS_COLUMNS], out_tsv)
    return stim


def _rois(raw: Path, cfg: dict, n_vox: int) -> tuple[list[str], np.ndarray]:
    path = _raw(raw, cfg["rois"], "custom.rois")
    if not path.exists():
        raise CustomDataError(f"ROI file not found: {path} (an .npz of ROI name -> voxel mask)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {n: np.asarray(npz[n]) for n in sorted(npz.files)}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CustomDataError(f"cannot read ROI file {path} (an .npz of ROI name -> voxel mask): {err}") from err
    masks = []
    for n, m in arrays.items():
        if m.shape != (n_vox,):
            raise CustomDataError(f"{path}: ROI {n!r} has shape {m.shape}, responses have {n_vox} voxels")
        if not np.isin(np.unique(m), [0, 1]).all():
            raise CustomDataError(f"{path}: ROI {n!r} must be boolean or 0/1")
        if not m.any():
            raise CustomDataError(f"{path}: ROI {n!r} selects no voxel; give it at least one or leave it out")
        masks.append(m.astype(bool))
    if not arrays:
        raise CustomDataError(f"{path} holds no ROI")
    return list(arrays), np.array(masks)


def _nonfinite_voxels(arrays: dict[str, np.ndarray | None], subject: str, policy: str) -> np.ndarray:
    """Voxels with a NaN or infinite value in any of ``arrays`` (label -> rows x voxels or voxels).

    Policy ``error`` refuses them naming the file and the first voxels; ``drop_voxels``
    returns the mask of voxels to keep (reported in the log).
    """
    bad = None
    for label, arr in arrays.items():
        if arr is None:
            continue
        here = ~np.isfinite(arr) if arr.ndim == 1 else ~np.isfinite(arr).all(axis=0)
        if here.any() and policy == "error":
            first = np.flatnonzero(here)[:5].tolist()
            raise CustomDataError(
                f"{subject}: {label} has NaN or infinite values in {int(here.sum())} voxels (first: {first}); "
                "fix the data or set custom.nonfinite: drop_voxels to leave those voxels out")
        bad = here if bad is None else bad | here
    if bad is not None and bad.any():
        log.warning("%s: dropped %d voxels with NaN or infinite values (first: %s)", subject, int(bad.sum()),
                    np.flatnonzero(bad)[:10].tolist())
    return np.ones(0, bool) if bad is None else ~bad


def prepare_brain(raw_dir: str | os.PathLike, block: dict, subject: str, stimuli_tsv: str | os.PathLike,
                  out: str | os.PathLike, subjects: list[str] | None = None) -> xr.Dataset:
    """Validate one subject's responses against the stimulus table; write the brain store.

    The noise ceiling: the given file, else split-half of repeated test presentations,
    else none (ceiling 1: scores are raw r and are labelled so); with ``ceiling:
    cross_subject`` the other ``subjects``' responses to the same samples predict this one's.
    """
    cfg = settings(block)
    raw = Path(raw_dir)
    stim = pd.read_csv(stimuli_tsv, sep="\t", dtype=str, keep_default_na=False)
    data, coords, tr, rep1, rep2, n_presentations = _subject_data(raw, cfg, subject, stim)
    n_vox = data.shape[1]
    nc_path = _raw(raw, cfg["noise_ceiling"].format(subject=subject), "custom.noise_ceiling")
    if cfg.get("ceiling") == "cross_subject":
        ceiling = _cross_subject(raw, cfg, subject, list(subjects or []), stim, data, coords)
        method = "cross_subject"
    elif nc_path.exists():
        ceiling, method = np.load(nc_path, allow_pickle=False).astype(np.float32), "given"
        if ceiling.shape != (n_vox,):
            raise CustomDataError(f"{nc_path} has shape {ceiling.shape}, expected ({n_vox},)")
    elif rep1 is not None:
        ceiling, method = np.asarray(split_half_ceiling(rep1, rep2, n_presentations), np.float32), "split_half"
    else:
        log.warning("%s: no noise ceiling and no repeats; ceiling set to 1 (normalised = raw r)", subject)
        ceiling, method = np.ones(n_vox, np.float32), "none"
    rois, masks = _rois(raw, cfg, n_vox)
    source = raw / (cfg["responses"] if cfg["design"] == "events" else cfg["runs"]).format(subject=subject, run="*")
    keep = _nonfinite_voxels({f"responses ({source})": data, "second presentations": rep2, "first presentations": rep1,
                              f"noise ceiling {nc_path.name}": ceiling}, subject, cfg["nonfinite"])
    data, ceiling, masks = data[:, keep], ceiling[keep], masks[:, keep]
    empty = [r for r, m in zip(rois, masks) if not m.any()]
    if empty:
        raise CustomDataError(f"{subject}: ROIs {empty} keep no voxel once non-finite voxels are dropped")
    ds = xr.Dataset(
        {"responses": (("sample", "voxel"), data.astype(np.float32)),
         "noise_ceiling": (("voxel",), ceiling),
         "roi_mask": (("roi", "voxel"), masks)},
        coords={**coords, "roi": rois, "voxel": np.arange(n_vox)[keep]},
        attrs=provenance(space=cfg["space"], tr=tr, source="custom", subject=subject, ceiling_method=method,
                         test_responses=_scored_description(n_presentations)),
    )
    write_store(ds, out, "brain")
    return ds


def _cross_subject(raw: Path, cfg: dict, subject: str, subjects: list[str], stim: pd.DataFrame,
                   data: np.ndarray, coords: dict) -> np.ndarray:
    """Cross-subject prediction ceiling: the other subjects' responses to the same samples predict this one's."""
    from brainalign.ceiling import cross_subject_ceiling

    others = [s for s in subjects if s != subject]
    if not others:
        raise CustomDataError("custom.ceiling: cross_subject needs at least two subjects")
    ids = list(coords["stimulus_id"][1])
    sources = []
    for other in others:
        o_data, o_coords, *_ = _subject_data(raw, cfg, other, stim)
        if list(o_coords["stimulus_id"][1]) != ids or o_data.shape != data.shape:
            raise CustomDataError(f"custom.ceiling: cross_subject needs every subject to have the same samples "
                                  f"and voxels; {other} differs from {subject}")
        sources.append(o_data)
    split = np.asarray(coords["split"][1], dtype=str)
    ceiling = cross_subject_ceiling([data, *sources], 0, np.flatnonzero(split == "train"),
                                    np.flatnonzero(split == "test"), groups=np.asarray(coords["run"][1], dtype=str),
                                    n_bootstrap=int(cfg.get("ceiling_bootstraps", 100)), seed=0)
    return np.nan_to_num(ceiling).astype(np.float32)


def _subject_data(raw: Path, cfg: dict, subject: str, stim: pd.DataFrame):
    """One subject's responses (samples x voxels), sample coordinates, TR, test repeats (or None) and the
    effective number of test presentations averaged."""
    rep1 = rep2 = None
    if cfg["design"] == "events":
        resp_path = _raw(raw, cfg["responses"].format(subject=subject), "custom.responses")
        resp = _load(resp_path, f"{subject} responses")
        samples = _table(_raw(raw, cfg["samples"].format(subject=subject), "custom.samples"), ["stimulus_id"])
        if len(samples) != len(resp):
            raise CustomDataError(
                f"{subject}: {len(resp)} response rows but {len(samples)} rows in "
                f"{raw / cfg['samples'].format(subject=subject)}")
        known = stim.set_index("stimulus_id")
        unknown = sorted(set(samples["stimulus_id"]) - set(known.index))
        if unknown:
            raise CustomDataError(f"{subject}: stimulus ids not in the stimulus table: {unknown[:5]}")
        ids = list(dict.fromkeys(samples["stimulus_id"]))
        groups = samples.groupby("stimulus_id", sort=False).indices
        data = np.stack([resp[groups[i]].mean(axis=0) for i in ids])
        test_ids = [i for i in ids if known.loc[i, "split"] == "test"]
        twice = [i for i in test_ids if len(groups[i]) >= 2]
        if twice:
            rep1 = np.stack([resp[groups[i][0]] for i in twice])
            rep2 = np.stack([resp[groups[i][1]] for i in twice])
        # the ceiling must be that of what is scored: the mean over each test stimulus' presentations
        n_presentations = 1.0 / np.mean([1.0 / len(groups[i]) for i in test_ids]) if test_ids else 1.0
        coords = dict(stimulus_id=("sample", ids), run=("sample", [known.loc[i, "run"] for i in ids]),
                      split=("sample", [known.loc[i, "split"] for i in ids]))
        tr = 0.0
    else:
        tr = float(cfg["tr"])
        clips = stim[stim["modality"] == "clip"]
        n_stim = clips.groupby("run").size().to_dict()
        runs = sorted(n_stim)
        arrays = {}
        for run in runs:
            arr = _load(_raw(raw, cfg["runs"].format(subject=subject, run=_name(run, "run")), "custom.runs"),
                        f"{subject} run {run!r}")
            if len(arr) != n_stim[run]:
                raise CustomDataError(
                    f"{subject}: run {run!r} has {len(arr)} TRs but the stimulus table has {n_stim[run]} "
                    "(all subjects must share the run lengths of the stimulus table)")
            arrays[run] = arr
        widths = {r: a.shape[1] for r, a in arrays.items()}
        if len(set(widths.values())) != 1:
            raise CustomDataError(f"{subject}: runs differ in voxel count: {widths}")
        reps = cfg.get("test_repeats") or {}
        n_presentations = 2.0 if reps else 1.0
        if reps:
            pairs = [(arrays[r], _load(_raw(raw, p.format(subject=subject), f"custom.test_repeats.{r}"),
                                       f"{subject} repeat of {r!r}"))
                     for r, p in reps.items()]
            for (a, b), r in zip(pairs, reps):
                if a.shape != b.shape:
                    raise CustomDataError(f"{subject}: repeat of run {r!r} has shape {b.shape}, run has {a.shape}")
            rep1 = np.concatenate([a for a, _ in pairs])
            rep2 = np.concatenate([b for _, b in pairs])
            # score against the average of the two presentations: the split-half ceiling is its ceiling
            arrays.update({r: (a + b) / 2.0 for (a, b), r in zip(pairs, reps)})
        data = np.concatenate([arrays[r] for r in runs])
        run_col = np.concatenate([[r] * len(arrays[r]) for r in runs])
        idx = np.concatenate([np.arange(len(arrays[r])) for r in runs])
        split_of = dict(zip(clips["run"], clips["split"]))
        coords = dict(stimulus_id=("sample", [f"{r}_tr{i}" for r, i in zip(run_col, idx)]),
                      run=("sample", run_col), split=("sample", [split_of[r] for r in run_col]),
                      time=("sample", idx * tr))
    return data, coords, tr, rep1, rep2, n_presentations


def _scored_description(n_presentations: float) -> str:
    """What the test responses of the store are (recorded; the ceiling is that of the same thing)."""
    if n_presentations <= 1.0:
        return "single presentation"
    return f"mean of test presentations (effective n = {n_presentations:.3g})"


def raw_inputs(raw_dir: str | os.PathLike, block: dict, subject: str | None = None) -> list[str]:
    """Raw files a rule reads (rule inputs, so replacing one reruns the rule).

    ``subject=None``: the stimulus table and the stimulus files it names; else the
    subject's responses (events: responses and samples; time series: one file per
    run of the stimulus table, and the test repeats), the ROI file and a given
    noise ceiling. Names and paths are checked as in the prepare functions.
    """
    cfg = settings(block)
    raw = Path(raw_dir)
    table_path = _raw(raw, cfg["stimuli"], "custom.stimuli")
    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False) if table_path.exists() else None
    if subject is None:
        files = [table_path]
        if table is not None and "path" in table:
            files += [_raw(raw, p, f"{table_path}, column path") for p in table["path"] if p]
        return sorted({str(f) for f in files})
    files = [_raw(raw, cfg["rois"], "custom.rois")]
    if cfg["design"] == "events":
        files += [_raw(raw, cfg[k].format(subject=subject), f"custom.{k}") for k in ("responses", "samples")]
    else:
        runs = sorted(set(table["run"])) if table is not None and "run" in table else []
        files += [_raw(raw, cfg["runs"].format(subject=subject, run=_name(r, f"{table_path}, column run")),
                       "custom.runs") for r in runs]
        files += [_raw(raw, p.format(subject=subject), f"custom.test_repeats.{r}")
                  for r, p in (cfg.get("test_repeats") or {}).items()]
    ceiling = _raw(raw, cfg["noise_ceiling"].format(subject=subject), "custom.noise_ceiling")
    files += [ceiling] if ceiling.exists() else []
    return sorted({str(f) for f in files})
