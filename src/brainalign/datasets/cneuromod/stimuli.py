"""CNeuroMod stimulus table: every used movie segment cut into TR windows (frames, audio, words, clips)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from brainalign.datasets.cneuromod.fetch import find_one, used_segments
from brainalign.datasets.cneuromod.runs import CNeuroModError, settings, split_of
from brainalign.stimuli.table import STIMULUS_COLUMNS
from brainalign.stimuli.transcripts import read_transcript, word_rows
from brainalign.stimuli.video import cut_movie
from brainalign.stores import staged_dir, write_tsv


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
    segments = sorted(used_segments(root, table, cfg))
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
                movie = find_one(Path(cfg["stimuli_dir"]), f"*{seg}{cfg['movie_ext']}", "movie")
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
    write_tsv(stim, out_tsv)
    return stim
