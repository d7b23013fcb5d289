"""CNeuroMod Movie10 and Friends: fetch, cut stimuli into TR windows, build brain stores.

Two brain routes (``cneuromod.source``):

``algonauts2025``  public Algonauts 2025 release (DataLad, no credentials): one .h5
                   per subject and task, one dataset per run key such as
                   ``ses-001_task-s01e02a`` or ``ses-003_task-life01_run-1``, each
                   TRs x 1000 Schaefer parcels.
``fmriprep``       full-resolution fMRIPrep surface derivatives (data-use agreement;
                   S3 credentials from the environment), one GIfTI per hemisphere
                   and run.

Runs (movie segments or episode halves) are the cross-validation groups; the
configured ``train``/``test`` lists name movies (``bourne``), seasons (``s01``)
or single segments (``s01e02a``). Runs shown twice (Movie10 Life, Hidden
Figures) are averaged and give a split-half noise ceiling; otherwise the ceiling
is extrapolated across subjects.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml
from tqdm import tqdm

from brainalign.datasets import datalad_source
from brainalign.datasets.movie_ceiling import cross_subject, split_half_ceiling
from brainalign.stimuli.transcripts import read_transcript, word_rows
from brainalign.stimuli.video import STIMULUS_COLUMNS, cut_movie
from brainalign.stores import provenance, staged_dir, write_store, write_tsv

log = logging.getLogger(__name__)

ALGONAUTS_URL = "https://github.com/courtois-neuromod/algonauts_2025.competitors.git"
TASKS = ("movie10", "friends")
SOURCES = ("algonauts2025", "fmriprep")
RUN_KEY = re.compile(r"(?:^|_)ses-(?P<session>[0-9]+)_task-(?P<segment>[A-Za-z0-9]+?)(?:_run-(?P<repeat>[0-9]+))?(?:_|$)")
MANIFEST_COLUMNS = ["kind", "subject", "segment", "repeat", "path"]

DEFAULTS: dict = {
    "source": "algonauts2025",
    "datalad_url": ALGONAUTS_URL,
    "fmri_glob": "fmri/{subject}/func/{subject}_task-{task}_*_bold.h5",
    "movies_dir": "stimuli/movies/{task}",
    "transcripts_dir": "stimuli/transcripts/{task}",
    "stimuli_dir": None,
    "movie_ext": ".mkv",
    "tr": 1.49,
    "frame_rate": 8.0,
    "frame_short_side": 224,
    "audio_rate": 16000,
    "tr_tolerance": 3,
    "ceiling": "auto",
    "ceiling_bootstraps": 100,
    "parcel_labels": None,
    "roi_groups": "resources/rois/schaefer1000_7net_groups.yaml",
    "fmriprep": {
        "url": "https://github.com/courtois-neuromod/{task}.fmriprep.git",
        "file_glob": "{subject}/ses-*/func/{subject}_ses-*_task-*_space-fsaverage6_hemi-{hemi}_bold.func.gii",
        "credentials": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        "roi_annot": None,
    },
}


class CNeuroModError(ValueError):
    """Configuration or data of a CNeuroMod dataset is not usable."""


def settings(block: dict) -> dict:
    """Merge a dataset's ``cneuromod`` config block over the defaults and check it."""
    cfg = {**DEFAULTS, **(block or {})}
    cfg["fmriprep"] = {**DEFAULTS["fmriprep"], **(block or {}).get("fmriprep", {})}
    for key, allowed in (("task", TASKS), ("source", SOURCES)):
        if cfg.get(key) not in allowed:
            raise CNeuroModError(f"cneuromod.{key} is {cfg.get(key)!r}; allowed: {list(allowed)}")
    for key in ("train", "test"):
        if not cfg.get(key):
            raise CNeuroModError(f"cneuromod.{key} must list movies, seasons or segments")
    overlap = set(cfg["train"]) & set(cfg["test"])
    if overlap:
        raise CNeuroModError(f"cneuromod: {sorted(overlap)} listed in both train and test")
    return cfg


@dataclass(frozen=True)
class RunKey:
    session: str
    segment: str  # s01e02a, bourne01, life01
    repeat: int  # 1 unless the segment was shown more than once


def parse_run_key(key: str) -> RunKey:
    """Parse ``ses-001_task-s01e02a`` or ``ses-003_task-life01_run-2`` (also within file names)."""
    m = RUN_KEY.search(key)
    if not m:
        raise CNeuroModError(
            f"run key {key!r} does not look like 'ses-NNN_task-SEGMENT[_run-N]'"
        )
    return RunKey(m["session"], m["segment"], int(m["repeat"] or 1))


def segment_group(segment: str, task: str) -> str:
    """Movie name (``bourne01`` -> ``bourne``) or season (``s01e02a`` -> ``s01``)."""
    if task == "friends":
        m = re.match(r"(s\d+)e\d+[a-z]?$", segment)
    else:
        m = re.match(r"([a-z]+)\d*$", segment)
    if not m:
        raise CNeuroModError(f"segment {segment!r} is not a {task} segment name")
    return m.group(1)


def split_of(segment: str, cfg: dict) -> str | None:
    """``train``/``test`` for a segment, or None when the study does not use it."""
    group = segment_group(segment, cfg["task"])
    for split in ("test", "train"):
        if segment in cfg[split] or group in cfg[split]:
            return split
    return None


# --------------------------------------------------------------------- fetching
def _fmri_files(root: Path, cfg: dict, subject: str) -> list[Path]:
    if cfg["source"] == "algonauts2025":
        pattern = cfg["fmri_glob"].format(subject=subject, task=cfg["task"])
        return sorted(root.glob(pattern))
    pattern = cfg["fmriprep"]["file_glob"]
    return sorted(
        p for hemi in ("L", "R") for p in root.glob(pattern.format(subject=subject, hemi=hemi))
    )


def _find_one(folder: Path, name_glob: str, what: str) -> Path:
    hits = sorted(folder.rglob(name_glob)) if folder.exists() else []
    if not hits:
        raise CNeuroModError(f"no {what} matching {name_glob!r} under {folder}")
    if len(hits) > 1:
        raise CNeuroModError(f"several {what} files match {name_glob!r} under {folder}: {hits}")
    return hits[0]


def _h5_run_keys(path: Path) -> list[str]:
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return list(fh.keys())
    except OSError as err:
        raise CNeuroModError(f"cannot read fMRI file {path} (missing or truncated?): {err}") from err


def fetch(raw_dir: str | os.PathLike, block: dict, subjects: Sequence[str], manifest: str | os.PathLike) -> pd.DataFrame:
    """Install the dataset into ``raw_dir``, get the files the study needs, write a manifest TSV.

    The manifest lists fMRI files per subject and, per used segment, the movie
    and transcript files (movies only when no ``stimuli_dir`` is configured).
    """
    cfg = settings(block)
    root = Path(raw_dir)
    if cfg["source"] == "fmriprep":
        datalad_source.require_credentials(
            cfg["fmriprep"]["credentials"],
            f"CNeuroMod {cfg['task']} full-resolution derivatives",
            "They come with the CNeuroMod data-use agreement (https://www.cneuromod.ca/access/access/); "
            "or set cneuromod.source: algonauts2025 to use the public parcel release.",
        )
        url = cfg["fmriprep"]["url"].format(task=cfg["task"])
    else:
        url = cfg["datalad_url"]
    datalad_source.install(url, root)
    rows: list[dict] = []
    for subject in subjects:
        files = _fmri_files(root, cfg, subject)
        if not files:
            raise CNeuroModError(
                f"unknown subject {subject!r}: no fMRI files for it in {root} "
                f"(looked for {cfg['fmri_glob'] if cfg['source'] == 'algonauts2025' else cfg['fmriprep']['file_glob']})"
            )
        if cfg["source"] == "fmriprep":
            files = [f for f in files if split_of(parse_run_key(f.name).segment, cfg)]
        datalad_source.get(root, [f.relative_to(root) for f in files])
        rows += [dict(kind="fmri", subject=subject, segment="", repeat=0, path=str(f.relative_to(root))) for f in files]
    segments = sorted(_segments(root, pd.DataFrame(rows, columns=MANIFEST_COLUMNS), cfg))
    wanted = []
    if cfg["source"] == "algonauts2025" or cfg.get("transcripts_dir"):
        tdir = root / cfg["transcripts_dir"].format(task=cfg["task"])
        _install_subdatasets(root, tdir)
        for seg in segments:
            hits = sorted(tdir.rglob(f"*{seg}.tsv")) if tdir.exists() else []
            if hits:
                wanted.append(("transcript", seg, hits[0]))
    if not cfg.get("stimuli_dir"):
        mdir = root / cfg["movies_dir"].format(task=cfg["task"])
        _install_subdatasets(root, mdir)
        for seg in segments:
            wanted.append(("movie", seg, _find_one(mdir, f"*{seg}{cfg['movie_ext']}", "movie")))
    datalad_source.get(root, [p.relative_to(root) for _, _, p in wanted])
    rows += [dict(kind=k, subject="", segment=s, repeat=0, path=str(p.relative_to(root))) for k, s, p in wanted]
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    _write_tsv(table, manifest)
    return table


def _install_subdatasets(root: Path, folder: Path) -> None:
    """Install (without content) the subdatasets that hold ``folder``."""
    if folder.exists() and any(folder.iterdir()):
        return
    import datalad.api as dl

    dl.get(path=str(folder), dataset=str(root), get_data=False, recursive=True,
           result_renderer="disabled", on_failure="ignore")


def _segments(root: Path, manifest: pd.DataFrame, cfg: dict) -> set[str]:
    segs: set[str] = set()
    for path in manifest.loc[manifest["kind"] == "fmri", "path"]:
        keys = _h5_run_keys(root / path) if str(path).endswith(".h5") else [Path(path).name]
        segs |= {parse_run_key(k).segment for k in keys}
    return {s for s in segs if split_of(s, cfg)}


def _write_tsv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    write_tsv(table, path)


# --------------------------------------------------------------------- stimuli
def prepare_stimuli(
    raw_dir: str | os.PathLike,
    manifest: str | os.PathLike,
    block: dict,
    out_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
) -> pd.DataFrame:
    """Cut every used movie segment into TR windows; write ``out_dir`` files and the table.

    Files go to a temporary folder renamed to ``out_dir`` when complete; the table
    is written last, so a failed run leaves neither looking finished.
    """
    cfg = settings(block)
    root = Path(raw_dir)
    table = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    segments = sorted(_segments(root, table, cfg))
    if not segments:
        raise CNeuroModError(
            f"no fMRI run matches train {cfg['train']} or test {cfg['test']} for task {cfg['task']}"
        )
    out_tsv, out_dir = Path(out_tsv), Path(out_dir)
    rel_root = out_tsv.parent
    parts = []
    with staged_dir(out_dir) as tmp:
        for seg in tqdm(segments, desc="cutting movies", unit="run"):
            split = split_of(seg, cfg)
            if cfg.get("stimuli_dir"):
                movie = _find_one(Path(cfg["stimuli_dir"]), f"*{seg}{cfg['movie_ext']}", "movie")
            else:
                hit = table[(table["kind"] == "movie") & (table["segment"] == seg)]
                if hit.empty:
                    raise CNeuroModError(f"manifest {manifest} lists no movie for run {seg!r}")
                movie = root / hit["path"].iloc[0]
            rows = cut_movie(movie, seg, cfg["tr"], tmp, tmp.parent, split,
                             frame_rate=cfg["frame_rate"], audio_rate=cfg["audio_rate"],
                             frame_short_side=cfg["frame_short_side"])
            rows["path"] = rows["path"].str.replace(tmp.name, out_dir.name, n=1, regex=False)
            parts.append(rows)
            tr_hit = table[(table["kind"] == "transcript") & (table["segment"] == seg)]
            if not tr_hit.empty:
                n_trs = int((rows["modality"] == "clip").sum())
                words = read_transcript(root / tr_hit["path"].iloc[0])
                parts.append(word_rows(words, seg, split, max_time=n_trs * cfg["tr"]))
        stim = pd.concat(parts, ignore_index=True)[STIMULUS_COLUMNS]
        out_dir_rel = out_dir.relative_to(rel_root) if out_dir.is_relative_to(rel_root) else None
        if out_dir_rel is None:
            raise CNeuroModError(f"stimulus folder {out_dir} must lie inside {rel_root}")
    _write_tsv(stim, out_tsv)
    return stim


# --------------------------------------------------------------------- brain
def _read_runs(root: Path, manifest: pd.DataFrame, subject: str, cfg: dict) -> dict[str, list[np.ndarray]]:
    """Segment -> list of repeats (TRs x voxels float32) for one subject's used runs."""
    files = manifest[(manifest["kind"] == "fmri") & (manifest["subject"] == subject)]["path"]
    if files.empty:
        known = sorted(set(manifest.loc[manifest["kind"] == "fmri", "subject"]))
        raise CNeuroModError(f"unknown subject {subject!r}; the manifest has {known}")
    runs: dict[str, dict[int, np.ndarray]] = {}
    if cfg["source"] == "algonauts2025":
        import h5py

        for rel in files:
            path = root / rel
            try:
                with h5py.File(path, "r") as fh:
                    for key in fh:
                        rk = parse_run_key(key)
                        if split_of(rk.segment, cfg):
                            runs.setdefault(rk.segment, {})[rk.repeat] = np.asarray(fh[key], dtype=np.float32)
            except OSError as err:
                raise CNeuroModError(f"cannot read fMRI file {path} (missing or truncated?): {err}") from err
    else:
        import nibabel as nib

        by_key: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        for rel in files:
            rk = parse_run_key(Path(rel).name)
            hemi = "L" if "hemi-L" in rel else "R"
            try:
                img = nib.load(root / rel)
            except Exception as err:  # nibabel raises several types on bad files
                raise CNeuroModError(f"cannot read fMRI file {root / rel}: {err}") from err
            by_key.setdefault((rk.segment, rk.repeat), {})[hemi] = np.stack(
                [d.data for d in img.darrays]).astype(np.float32)
        for (seg, rep), hemis in by_key.items():
            if set(hemis) != {"L", "R"}:
                raise CNeuroModError(f"{subject} run {seg} repeat {rep}: only hemisphere {set(hemis)} found")
            runs.setdefault(seg, {})[rep] = np.concatenate([hemis["L"], hemis["R"]], axis=1)
    return {seg: [reps[k] for k in sorted(reps)] for seg, reps in sorted(runs.items())}


def _check_lengths(subject: str, seg: str, n_brain: int, n_stim: int | None, tol: int) -> int:
    if n_stim is None:
        raise CNeuroModError(f"{subject}: run {seg!r} has fMRI but no clip rows in the stimulus table")
    if abs(n_brain - n_stim) > tol:
        raise CNeuroModError(
            f"{subject}: run {seg!r} has {n_brain} fMRI TRs but {n_stim} stimulus TR windows "
            f"(more than tr_tolerance={tol} apart)"
        )
    return min(n_brain, n_stim)


def _subject_matrix(runs: dict[str, list[np.ndarray]], lengths: dict[str, int]) -> dict[str, np.ndarray]:
    return {seg: np.mean([r[: lengths[seg]] for r in reps], axis=0) for seg, reps in runs.items()}


def read_parcel_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Parcel table with columns ``index`` (1-based), ``name`` and optional ``x``, ``y``, ``z`` (MNI mm)."""
    table = pd.read_csv(path, sep="\t")
    for col in ("index", "name"):
        if col not in table.columns:
            raise CNeuroModError(f"parcel label table {path} lacks column {col!r}")
    return table.sort_values("index").reset_index(drop=True)


def roi_masks_from_labels(labels: pd.DataFrame, groups: dict) -> tuple[list[str], np.ndarray]:
    """ROI masks (roi x parcel) from Schaefer label names and optional MNI bounds.

    ``groups[roi]`` has ``labels`` (network/sub-network name fragments such as
    ``Default_Temp``, matched as whole ``_``-separated parts of the parcel name),
    optional ``hemi`` (``LH``/``RH``) and optional ``x_abs``, ``y``, ``z`` ranges
    [min, max] in MNI mm, applied to parcel centroids.
    """
    names = labels["name"].astype(str)
    rois, masks = [], []
    for roi, spec in groups.items():
        frags = spec.get("labels") or []
        if not frags:
            raise CNeuroModError(f"ROI {roi!r}: 'labels' must list label name parts")
        mask = np.zeros(len(labels), bool)
        for frag in frags:
            mask |= names.str.contains(rf"_{re.escape(frag)}(?:_|$)", regex=True).values
        if spec.get("hemi"):
            mask &= names.str.contains(f"_{spec['hemi']}_", regex=False).values
        for axis in ("x_abs", "y", "z"):
            if axis in spec:
                col = "x" if axis == "x_abs" else axis
                if col not in labels.columns:
                    raise CNeuroModError(f"ROI {roi!r} has {axis} bounds but the label table has no {col!r} column")
                vals = labels[col].abs() if axis == "x_abs" else labels[col]
                lo, hi = spec[axis]
                mask &= ((vals >= lo) & (vals <= hi)).values
        rois.append(roi)
        masks.append(mask)
    return rois, np.asarray(masks, dtype=bool).reshape(len(rois), len(labels))


def prepare_brain(
    raw_dir: str | os.PathLike,
    manifest: str | os.PathLike,
    stimuli_tsv: str | os.PathLike,
    block: dict,
    subject: str,
    all_subjects: Sequence[str],
    out: str | os.PathLike,
    parcel_labels: str | os.PathLike | None = None,
    roi_groups: str | os.PathLike | None = None,
) -> xr.Dataset:
    """Build the ``brain`` store of one subject: TR rows of the used runs, ceiling, ROIs."""
    cfg = settings(block)
    root = Path(raw_dir)
    table = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    if subject not in all_subjects:
        raise CNeuroModError(f"unknown subject {subject!r}; configured subjects: {list(all_subjects)}")
    stim = pd.read_csv(stimuli_tsv, sep="\t", dtype={"run": str}, keep_default_na=False)
    n_clips = stim[stim["modality"] == "clip"].groupby("run").size().to_dict()
    runs = _read_runs(root, table, subject, cfg)
    if not runs:
        raise CNeuroModError(f"{subject}: no fMRI run matches train {cfg['train']} / test {cfg['test']}")
    lengths = {seg: _check_lengths(subject, seg, min(len(r) for r in reps), n_clips.get(seg), cfg["tr_tolerance"])
               for seg, reps in runs.items()}
    mats = _subject_matrix(runs, lengths)
    segs = list(mats)
    data = np.concatenate([mats[s] for s in segs]).astype(np.float32)
    run_col = np.concatenate([[s] * lengths[s] for s in segs])
    idx = np.concatenate([np.arange(lengths[s]) for s in segs])
    split = np.array([split_of(s, cfg) for s in run_col])
    test_segs = [s for s in segs if split_of(s, cfg) == "test"]
    if not test_segs:
        raise CNeuroModError(f"{subject}: no test run found for test={cfg['test']}")

    method = cfg["ceiling"]
    repeated = [s for s in test_segs if len(runs[s]) >= 2]
    if method == "auto":
        method = "split_half" if len(repeated) == len(test_segs) else "cross_subject"
    if method == "split_half":
        if len(repeated) != len(test_segs):
            missing = sorted(set(test_segs) - set(repeated))
            raise CNeuroModError(f"{subject}: split_half ceiling needs 2 repeats of every test run; {missing} have one")
        rep1 = np.concatenate([runs[s][0][: lengths[s]] for s in test_segs])
        rep2 = np.concatenate([runs[s][1][: lengths[s]] for s in test_segs])
        ceiling = split_half_ceiling(rep1, rep2)
    elif method == "cross_subject":
        sources, common = [], dict(lengths)
        for other in all_subjects:
            if other == subject:
                continue
            oruns = _read_runs(root, table, other, cfg)
            if set(oruns) != set(runs):
                log.warning("subject %s lacks runs %s; left out of the cross-subject ceiling",
                            other, sorted(set(runs) - set(oruns)))
                continue
            common = {s: min(common[s], min(len(r) for r in oruns[s])) for s in segs}
            sources.append(oruns)
        if not sources:
            raise CNeuroModError(f"{subject}: cross-subject ceiling needs another subject with the same runs")
        stack = lambda m: np.concatenate([m[s][: common[s]] for s in segs])  # noqa: E731
        target = stack(mats)
        others = [stack(_subject_matrix(o, common)) for o in sources]
        in_split = np.concatenate([[split_of(s, cfg)] * common[s] for s in segs])
        groups = np.concatenate([[i] * common[s] for i, s in enumerate(segs)])
        ceiling = cross_subject(target, others, in_split == "train", in_split == "test",
                                groups=groups, n_boot=cfg["ceiling_bootstraps"])
    else:
        raise CNeuroModError(f"cneuromod.ceiling is {method!r}; allowed: auto, split_half, cross_subject")

    n_vox = data.shape[1]
    rois, masks = _roi_masks(cfg, n_vox, parcel_labels, roi_groups)
    ds = xr.Dataset(
        {
            "responses": (("sample", "voxel"), data),
            "noise_ceiling": (("voxel",), np.asarray(ceiling, np.float32)),
            "roi_mask": (("roi", "voxel"), masks),
        },
        coords={
            "stimulus_id": ("sample", [f"{r}_tr{i}" for r, i in zip(run_col, idx)]),
            "run": ("sample", run_col.astype(str)),
            "split": ("sample", split.astype(str)),
            "time": ("sample", (idx * cfg["tr"]).astype(np.float64)),
            "roi": rois,
            "voxel": np.arange(n_vox),
        },
        attrs=provenance(
            space="schaefer1000_7net" if cfg["source"] == "algonauts2025" else "fsaverage",
            tr=float(cfg["tr"]), source=f"cneuromod:{cfg['task']}:{cfg['source']}",
            subject=subject, ceiling_method=method,
            repeats_averaged=sorted(s for s in segs if len(runs[s]) > 1),
        ),
    )
    write_store(ds, out, "brain")
    return ds


def _roi_masks(cfg: dict, n_vox: int, parcel_labels, roi_groups) -> tuple[list[str], np.ndarray]:
    groups_path = roi_groups or cfg["roi_groups"]
    if cfg["source"] == "algonauts2025":
        if parcel_labels is None:
            raise CNeuroModError("parcel label table needed for Schaefer ROI masks (cneuromod.parcel_labels)")
        labels = read_parcel_labels(parcel_labels)
        if len(labels) != n_vox:
            raise CNeuroModError(f"parcel label table {parcel_labels} has {len(labels)} parcels, data have {n_vox}")
        groups = yaml.safe_load(Path(groups_path).read_text())["rois"]
        return roi_masks_from_labels(labels, groups)
    annot = cfg["fmriprep"].get("roi_annot")
    if not annot:
        log.warning("no cneuromod.fmriprep.roi_annot: whole-brain ROI only")
        return ["whole_brain"], np.ones((1, n_vox), bool)
    import nibabel.freesurfer as fs

    groups = yaml.safe_load(Path(groups_path).read_text())["rois"]
    names_all, labels_all = [], []
    for hemi in ("lh", "rh"):
        lab, _, names = fs.read_annot(annot.format(hemi=hemi))
        names = [n.decode() if isinstance(n, bytes) else n for n in names]
        labels_all.append(np.array([names[i] if i >= 0 else "" for i in lab], dtype=object))
    vertex_names = np.concatenate(labels_all)
    if len(vertex_names) != n_vox:
        raise CNeuroModError(f"ROI annotation {annot} has {len(vertex_names)} vertices, data have {n_vox}")
    rois = list(groups)
    masks = np.array([np.isin([re.sub(r"^[LR]_|_ROI$", "", str(v)) for v in vertex_names], groups[r]["areas"])
                      for r in rois], dtype=bool)
    del names_all
    return rois, masks


def write_schaefer_labels(out: str | os.PathLike, n_rois: int = 1000, networks: int = 7) -> pd.DataFrame:
    """Fetch the Schaefer 2018 atlas with nilearn and write its parcel table with centroids."""
    from nilearn import datasets, plotting

    atlas = datasets.fetch_atlas_schaefer_2018(n_rois=n_rois, yeo_networks=networks)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in atlas["labels"]]
    names = [n for n in names if n.lower() != "background"]
    coords = plotting.find_parcellation_cut_coords(atlas["maps"])
    table = pd.DataFrame({"index": np.arange(1, len(names) + 1), "name": names,
                          "x": coords[:, 0], "y": coords[:, 1], "z": coords[:, 2]})
    _write_tsv(table, out)
    return table
