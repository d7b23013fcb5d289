"""Select the stimulus-table rows a model consumes and decode them into model inputs.

``input`` of a registry entry maps to rows of ``stimuli.tsv`` (docs/data_model.md):

* ``image`` -> ``image`` rows, else ``frame`` rows (one PIL image each);
* ``video`` -> ``clip`` rows; each gathers the ``frame`` rows of its run with onset in
  ``[onset, onset + duration)``, sampled uniformly to the model's frame count;
* ``audio`` -> ``audio`` rows (wav files, mono, resampled to the model's rate); with
  ``context_s`` (registry option) each row also gathers the preceding ``audio`` rows
  of its run (by onset) that overlap the ``context_s`` seconds ending at the row's
  end; :func:`decode` joins them before the row and keeps the last ``context_s``
  seconds, and the extractor pools only the frames of the row's own window;
* ``audiovisual`` -> ``clip`` rows as for ``video``, each paired with the ``audio``
  rows of its run whose onset lies in the clip window (joined in time order);
* ``video_text`` -> ``clip`` rows as for ``video``, each with the transcript of its
  window: the ``word`` rows of its run with onset in the clip window, in time order
  (empty where nobody speaks);
* ``text``  -> ``word`` rows (each word with up to ``context_words`` preceding words of
  the same run) if present, else the captions of ``image`` rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from brainalign.stimuli.table import STIMULUS_COLUMNS


class StimulusError(ValueError):
    """A stimulus table or stimulus file cannot be used."""


@dataclass
class Stimulus:
    """One unit of model input: what to decode, and the table row it came from."""

    stimulus_id: str
    run: str
    onset: float
    duration: float
    modality: str
    paths: list[str] = field(default_factory=list)
    text: str = ""
    context: str = ""
    audio_paths: list[str] = field(default_factory=list)
    context_paths: list[str] = field(default_factory=list)
    context_s: float = 0.0


def read_table(stimuli_tsv: str | os.PathLike) -> pd.DataFrame:
    """Read ``stimuli.tsv`` keeping ids and text as strings."""
    path = Path(stimuli_tsv)
    if not path.exists():
        raise FileNotFoundError(f"stimulus table not found: {path}")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ("stimulus_id", "modality") if c not in table.columns]
    if missing:
        raise StimulusError(f"{path}: stimulus table lacks columns {missing}")
    for col in STIMULUS_COLUMNS:
        if col not in table.columns:
            table[col] = ""
    if table["stimulus_id"].duplicated().any():
        dup = table.loc[table["stimulus_id"].duplicated(), "stimulus_id"].iloc[0]
        raise StimulusError(f"{path}: duplicate stimulus_id {dup!r}")
    return table


def _num(value: str) -> float:
    return float(value) if str(value).strip() not in ("", "nan", "NaN") else float("nan")


def _basic(row: pd.Series, **kw: Any) -> Stimulus:
    return Stimulus(stimulus_id=row["stimulus_id"], run=row["run"], onset=_num(row["onset"]),
                    duration=_num(row["duration"]), modality=row["modality"], **kw)


Rows = dict[str, pd.DataFrame]  # the table's rows by modality


def _images(by_mod: Rows, **_: Any) -> list[Stimulus]:
    rows = by_mod.get("image", by_mod.get("frame"))
    if rows is None:
        raise StimulusError("image models need 'image' or 'frame' rows; the table has none")
    return [_basic(r, paths=[r["path"]], text=r["text"]) for _, r in rows.iterrows()]


def _audio(by_mod: Rows, context_s: float | None = None, **_: Any) -> list[Stimulus]:
    rows = by_mod.get("audio")
    if rows is None:
        raise StimulusError("audio models need 'audio' rows; the table has none")
    out = [_basic(r, paths=[r["path"]]) for _, r in rows.iterrows()]
    return _audio_context(out, float(context_s)) if context_s else out


def _clips(by_mod: Rows, **_: Any) -> list[Stimulus]:
    clips, frames = by_mod.get("clip"), by_mod.get("frame")
    if clips is None or frames is None:
        raise StimulusError("video models need 'clip' and 'frame' rows; the table lacks one")
    frames = frames.assign(_onset=frames["onset"].map(_num)).sort_values(["run", "_onset"])
    per_run = {run: g for run, g in frames.groupby("run", sort=False)}
    out = []
    for _, r in clips.iterrows():
        start, dur = _num(r["onset"]), _num(r["duration"])
        g = per_run.get(r["run"])
        inside = [] if g is None else g[(g["_onset"] >= start) & (g["_onset"] < start + dur)]
        if len(inside) == 0:
            raise StimulusError(
                f"clip {r['stimulus_id']!r} (run {r['run']!r}, [{start}, {start + dur})) "
                "contains no frame rows"
            )
        out.append(_basic(r, paths=list(inside["path"])))
    return out


def _texts(by_mod: Rows, context_words: int = 20, **_: Any) -> list[Stimulus]:
    words = by_mod.get("word")
    if words is None:
        images = by_mod.get("image")
        if images is None:
            raise StimulusError("text models need 'word' rows or captioned 'image' rows")
        return [_basic(r, text=r["text"]) for _, r in images.iterrows()]
    words = words.assign(_onset=words["onset"].map(_num))
    out = []
    for _, g in words.groupby("run", sort=False):
        g = g.sort_values("_onset", kind="stable")
        tokens = list(g["text"])
        for i, (_, r) in enumerate(g.iterrows()):
            ctx = " ".join(tokens[max(0, i - context_words) : i]) if context_words else ""
            out.append(_basic(r, text=r["text"], context=ctx))
    return out


SELECTORS: dict[str, Callable[..., list[Stimulus]]] = {
    "image": _images,
    "video": _clips,
    "audio": _audio,
    "audiovisual": lambda by_mod, **_: _pair_audio(_clips(by_mod), by_mod.get("audio")),
    "video_text": lambda by_mod, **_: _pair_words(_clips(by_mod), by_mod.get("word")),
    "text": _texts,
}


def select_stimuli(table: pd.DataFrame, input_kind: str, context_words: int = 20,
                   context_s: float | None = None) -> list[Stimulus]:
    """Rows of ``table`` that a model with ``input_kind`` consumes, as :class:`Stimulus`.

    ``context_s`` (audio only): seconds of audio input per row, the row's own window
    included (None: the row alone).
    """
    if input_kind not in SELECTORS:
        raise StimulusError(
            f"unknown input kind {input_kind!r}; allowed: image, video, audio, audiovisual, "
            "video_text, text"
        )
    by_mod = {m: g for m, g in table.groupby("modality", sort=False)}
    return SELECTORS[input_kind](by_mod, context_words=context_words, context_s=context_s)


def _audio_context(stimuli: list[Stimulus], context_s: float) -> list[Stimulus]:
    """Give each audio row the preceding rows of its run within ``context_s`` seconds."""
    if not context_s > 0:
        raise StimulusError(f"context_s must be a positive number of seconds, not {context_s!r}")
    per_run: dict[str, list[Stimulus]] = {}
    for s in stimuli:
        if not (np.isfinite(s.onset) and np.isfinite(s.duration)):
            raise StimulusError(
                f"audio row {s.stimulus_id!r} has no onset/duration; context_s needs a time series"
            )
        if s.duration > context_s + 1e-9:
            raise StimulusError(
                f"context_s={context_s} is shorter than audio row {s.stimulus_id!r} "
                f"({s.duration} s); it must cover at least one window"
            )
        per_run.setdefault(s.run, []).append(s)
    for rows in per_run.values():
        rows = sorted(rows, key=lambda s: s.onset)
        for i, s in enumerate(rows):
            start = s.onset + s.duration - context_s
            before = [p for p in rows[:i] if p.onset + p.duration > start + 1e-9]
            s.context_paths = [p.paths[0] for p in before]
            s.context_s = context_s
    return stimuli


def _pair_audio(clips: list[Stimulus], audio: pd.DataFrame | None) -> list[Stimulus]:
    """Attach to each clip the audio rows of its run with onset inside the clip window."""
    if audio is None:
        raise StimulusError("audiovisual models need 'audio' rows; the table has none")
    audio = audio.assign(_onset=audio["onset"].map(_num)).sort_values(["run", "_onset"])
    per_run = {run: g for run, g in audio.groupby("run", sort=False)}
    for clip in clips:
        g = per_run.get(clip.run)
        end = clip.onset + clip.duration
        inside = [] if g is None else g[(g["_onset"] >= clip.onset) & (g["_onset"] < end)]
        if len(inside) == 0:
            raise StimulusError(
                f"clip {clip.stimulus_id!r} (run {clip.run!r}, [{clip.onset}, {end})) "
                "has no audio row"
            )
        clip.audio_paths = list(inside["path"])
    return clips


def _pair_words(clips: list[Stimulus], words: pd.DataFrame | None) -> list[Stimulus]:
    """Give each clip the words of its run with onset inside the clip window, as ``text``."""
    if words is None:
        raise StimulusError("video_text models need 'word' rows (a transcript); the table has none")
    words = words.assign(_onset=words["onset"].map(_num)).sort_values(["run", "_onset"], kind="stable")
    per_run = {run: g for run, g in words.groupby("run", sort=False)}
    for clip in clips:
        g = per_run.get(clip.run)
        end = clip.onset + clip.duration
        inside = [] if g is None else g[(g["_onset"] >= clip.onset) & (g["_onset"] < end)]
        clip.text = " ".join(str(w) for w in (inside["text"] if len(inside) else []))
    return clips


def load_image(path: Path, stimulus_id: str):
    """Decode an image file as RGB, naming the file if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        raise StimulusError(f"cannot decode image {path} (stimulus {stimulus_id!r}): {err}") from err


def read_wav(path: Path, stimulus_id: str) -> tuple[int, np.ndarray]:
    """Decode a wav file to mono float32 at its own rate: ``(rate, samples)``."""
    from scipy.io import wavfile

    try:
        src_rate, data = wavfile.read(path)
    except Exception as err:  # noqa: BLE001
        raise StimulusError(f"cannot decode audio {path} (stimulus {stimulus_id!r}): {err}") from err
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return int(src_rate), data


def resample(data: np.ndarray, src_rate: int, rate: int) -> np.ndarray:
    """Resample float32 samples from ``src_rate`` to ``rate`` Hz (polyphase)."""
    from scipy.signal import resample_poly

    if src_rate == rate:
        return data
    g = gcd(int(src_rate), int(rate))
    return resample_poly(data, rate // g, src_rate // g).astype(np.float32)


def load_audio(path: Path, stimulus_id: str, rate: int) -> np.ndarray:
    """Decode a wav file to mono float32 at ``rate`` Hz."""
    src_rate, data = read_wav(path, stimulus_id)
    return resample(data, src_rate, rate)


def load_audio_in_context(stim: Stimulus, root: Path, rate: int) -> dict[str, Any]:
    """The preceding windows and the row's own, joined at the files' rate, then resampled.

    Keeps the last ``stim.context_s`` seconds (never less than the row's window);
    returns ``{"audio": samples at rate, "window_samples": samples of the row's window}``.
    Resampling the joined signal once avoids filter edges at every window boundary.
    """
    parts = [read_wav(root / p, stim.stimulus_id) for p in stim.context_paths + stim.paths[:1]]
    src_rate = parts[-1][0]
    if any(r != src_rate for r, _ in parts):
        raise StimulusError(
            f"audio rows joined as context of {stim.stimulus_id!r} have sampling rates "
            f"{sorted({r for r, _ in parts})}; context needs one rate per run"
        )
    current = len(parts[-1][1])
    joined = np.concatenate([d for _, d in parts])
    joined = joined[-max(current, round(stim.context_s * src_rate)):]
    out = resample(joined, src_rate, rate)
    window = min(len(out), max(1, round(current * len(out) / len(joined))))
    return {"audio": out, "window_samples": window}


def sample_indices(n_available: int, n_wanted: int) -> np.ndarray:
    """Uniformly spaced indices (repeating frames when fewer than wanted exist)."""
    return np.linspace(0, n_available - 1, n_wanted).round().astype(int)


def decode(stim: Stimulus, root: Path, input_kind: str, *, rate: int = 16000, frames: int = 16) -> Any:
    """Decode one stimulus into the raw input its family's processor takes.

    Audio rows with context decode to ``{"audio": context + window, "window_samples": n}``
    (the row's own window is the last ``n`` samples).
    """
    if input_kind == "image":
        return load_image(root / stim.paths[0], stim.stimulus_id)
    if input_kind == "audio":
        if stim.context_s:
            return load_audio_in_context(stim, root, rate)
        return load_audio(root / stim.paths[0], stim.stimulus_id, rate)
    if input_kind == "video":
        idx = sample_indices(len(stim.paths), frames)
        return [np.asarray(load_image(root / stim.paths[i], stim.stimulus_id)) for i in idx]
    if input_kind == "audiovisual":
        video = decode(stim, root, "video", rate=rate, frames=frames)
        audio = [load_audio(root / p, stim.stimulus_id, rate) for p in stim.audio_paths]
        return {"frames": video, "audio": np.concatenate(audio)}
    if input_kind == "video_text":
        return {"frames": decode(stim, root, "video", rate=rate, frames=frames), "text": stim.text}
    return {"text": stim.text, "context": stim.context}
