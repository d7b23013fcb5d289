"""Per-TR transcripts (Algonauts 2025 layout) to word rows with onsets.

An Algonauts 2025 transcript is a TSV with one row per TR and the columns
``text_per_tr``, ``words_per_tr``, ``onsets_per_tr`` and ``durations_per_tr``;
the last three hold Python-style lists (``['so', 'what']``, ``[1.2, 1.5]``),
onsets in seconds from movie start. Empty rows mean no speech in that TR.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from brainalign.stimuli.table import STIMULUS_COLUMNS

TRANSCRIPT_COLUMNS = ("text_per_tr", "words_per_tr", "onsets_per_tr", "durations_per_tr")


class TranscriptError(ValueError):
    """A transcript file is malformed."""


def _as_list(value, path: Path, row: int, column: str) -> list:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return []
    try:
        out = ast.literal_eval(str(value))
    except (ValueError, SyntaxError) as err:
        raise TranscriptError(f"{path}: row {row} column {column!r}: not a list: {value!r}") from err
    if not isinstance(out, (list, tuple)):
        raise TranscriptError(f"{path}: row {row} column {column!r}: not a list: {value!r}")
    return list(out)


def read_transcript(path: str | Path) -> pd.DataFrame:
    """Read one per-TR transcript; return words with ``tr``, ``word``, ``onset``, ``duration``."""
    path = Path(path)
    if not path.exists():
        raise TranscriptError(f"transcript not found: {path}")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in TRANSCRIPT_COLUMNS if c not in table.columns]
    if missing:
        raise TranscriptError(
            f"{path}: missing columns {missing}; expected {list(TRANSCRIPT_COLUMNS)}"
        )
    words = []
    for i, rec in enumerate(table.itertuples(index=False)):
        w = _as_list(rec.words_per_tr, path, i, "words_per_tr")
        on = _as_list(rec.onsets_per_tr, path, i, "onsets_per_tr")
        du = _as_list(rec.durations_per_tr, path, i, "durations_per_tr")
        if not len(w) == len(on) == len(du):
            raise TranscriptError(
                f"{path}: row {i} has {len(w)} words, {len(on)} onsets and {len(du)} durations"
            )
        words.extend(dict(tr=i, word=str(a), onset=float(b), duration=float(c))
                     for a, b, c in zip(w, on, du))
    return pd.DataFrame(words, columns=["tr", "word", "onset", "duration"])


def word_rows(words: pd.DataFrame, run: str, split: str, max_time: float | None = None) -> pd.DataFrame:
    """Stimulus-table ``word`` rows (``{run}_w{index}``) for the words of one run.

    Words with onset at or after ``max_time`` (end of the last TR window) are dropped.
    """
    if max_time is not None:
        words = words[words["onset"] < max_time]
    words = words.sort_values("onset", kind="stable").reset_index(drop=True)
    rows = pd.DataFrame({
        "stimulus_id": [f"{run}_w{i:05d}" for i in range(len(words))],
        "modality": "word",
        "path": "",
        "text": words["word"].astype(str).values,
        "run": run,
        "onset": words["onset"].round(6).values,
        "duration": words["duration"].values,
        "split": split,
    })
    return rows[STIMULUS_COLUMNS]
