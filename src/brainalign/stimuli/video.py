"""Decode movies with PyAV and cut them into TR windows of frames and audio.

A movie run is cut into ``n_trs`` windows of ``tr`` seconds. Frames are sampled
at ``frame_rate`` Hz (a png each, written while decoding so memory stays flat),
audio is resampled to ``audio_rate`` Hz mono and written as one wav per TR
window, and one ``clip`` row per window ties them together (video models gather
the frames whose onset lies in the clip window).
"""

from __future__ import annotations

import math
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign.stimuli.table import STIMULUS_COLUMNS


class VideoDecodeError(RuntimeError):
    """A movie file cannot be decoded, or decodes to less than it claims."""


def _open(path: Path):
    import av

    if not path.exists():
        raise VideoDecodeError(f"movie file not found: {path}")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as err:
        raise VideoDecodeError(f"cannot open movie file {path}: {err}") from err


def _resize(img: np.ndarray, short_side: int | None) -> np.ndarray:
    if not short_side:
        return img
    from PIL import Image

    h, w = img.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))


def header_duration(path: str | Path) -> float | None:
    """Duration in seconds that the container header claims (None if unknown)."""
    container = _open(Path(path))
    try:
        return container.duration / 1e6 if container.duration else None
    finally:
        container.close()


def iter_frames(
    path: str | Path, frame_rate: float, short_side: int | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(t, rgb)`` for ``t = k / frame_rate``: the frame on screen at time ``t``.

    The frame on screen is the last decoded frame whose presentation time is not
    after ``t``; sampling continues to the end of the last frame.
    """
    import av

    if frame_rate <= 0:
        raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.video:
            raise VideoDecodeError(f"{path} has no video stream")
        stream = container.streams.video[0]
        frame_dt = 1.0 / float(stream.average_rate or 25)
        k, prev, prev_img, prev_t = 0, None, None, 0.0
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            while prev is not None and k / frame_rate < t - 1e-9:
                if prev_img is None:
                    prev_img = _resize(prev.to_ndarray(format="rgb24"), short_side)
                yield k / frame_rate, prev_img
                k += 1
            prev, prev_img, prev_t = frame, None, t
        if prev is None:
            raise VideoDecodeError(f"{path}: no video frame could be decoded")
        while k / frame_rate < prev_t + frame_dt - 1e-9:
            if prev_img is None:
                prev_img = _resize(prev.to_ndarray(format="rgb24"), short_side)
            yield k / frame_rate, prev_img
            k += 1
    except av.error.FFmpegError as err:
        raise VideoDecodeError(f"cannot decode movie file {path}: {err}") from err
    finally:
        container.close()


def decode_audio(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream of ``path`` as float32 mono at ``rate`` Hz."""
    import av

    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.audio:
            raise VideoDecodeError(f"{path} has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=int(rate))
        chunks = []
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(frame))
        chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(None))
    except av.error.FFmpegError as err:
        raise VideoDecodeError(f"cannot decode audio of {path}: {err}") from err
    finally:
        container.close()
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> None:
    """Write mono float audio in [-1, 1] as 16-bit PCM wav."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(int(rate))
        fh.writeframes(pcm.tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM mono wav as float32 in [-1, 1] and its rate."""
    with wave.open(str(path), "rb") as fh:
        rate = fh.getframerate()
        data = np.frombuffer(fh.readframes(fh.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32767.0, rate


def n_windows(duration: float, tr: float) -> int:
    """Number of whole TR windows in ``duration`` seconds."""
    return int(math.floor(duration / tr + 1e-6))


def cut_movie(
    path: str | Path,
    run: str,
    tr: float,
    out_dir: str | Path,
    rel_root: str | Path,
    split: str,
    frame_rate: float,
    audio_rate: int = 16000,
    n_trs: int | None = None,
    frame_short_side: int | None = None,
    tolerance: float = 1.0,
) -> pd.DataFrame:
    """Cut one movie file into TR windows; write pngs and wavs; return stimulus rows.

    Rows: ``frame`` (one png per sampled frame inside the TR windows), ``audio``
    (one wav per TR window, ``{run}_tr{i}_audio``), ``clip`` (``{run}_tr{i}``).
    ``rel_root`` is the directory the ``path`` column is relative to. ``n_trs``
    defaults to the number of whole TR windows; asking for more windows than the
    movie holds (beyond one TR of slack), or a file shorter than its header by
    more than ``tolerance`` s (truncated), raises :class:`VideoDecodeError`.
    """
    path, out_dir = Path(path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    claimed = header_duration(path)
    limit = n_trs * tr if n_trs is not None else math.inf
    rows, last_t = _frame_rows(path, run, out_dir, rel_root, split, frame_rate, frame_short_side,
                               limit)
    audio = _movie_audio(path, audio_rate)
    duration = max(last_t + 1.0 / frame_rate, len(audio) / audio_rate)
    if claimed is not None and duration < claimed - tolerance:
        raise VideoDecodeError(
            f"{path} looks truncated: decoded {duration:.2f} s of the {claimed:.2f} s "
            "its header claims"
        )
    available = n_windows(duration, tr)
    if n_trs is None:
        n_trs = available
    elif n_trs > available + 1:
        raise VideoDecodeError(
            f"run {run!r}: {n_trs} TRs requested but {path} holds only {available} "
            f"windows of {tr} s ({duration:.2f} s)"
        )
    end = n_trs * tr - 1e-9
    for row in [r for r in rows if r["onset"] >= end]:
        (Path(rel_root) / row["path"]).unlink()
    rows = [r for r in rows if r["onset"] < end]
    rows += _window_rows(audio, audio_rate, run, tr, n_trs, out_dir, rel_root, split)
    return pd.DataFrame(rows, columns=STIMULUS_COLUMNS)


def _frame_rows(path: Path, run: str, out_dir: Path, rel_root: str | Path, split: str,
                frame_rate: float, short_side: int | None, limit: float) -> tuple[list[dict], float]:
    """Write a png per sampled frame before ``limit`` s; its rows and the last frame's time."""
    from PIL import Image

    rows: list[dict] = []
    last_t, dt = 0.0, 1.0 / frame_rate
    for k, (t, img) in enumerate(iter_frames(path, frame_rate, short_side)):
        last_t = t
        if t >= limit - 1e-9:
            continue
        sid = f"{run}_f{k:06d}"
        fpath = out_dir / f"{sid}.png"
        Image.fromarray(img).save(fpath)
        rows.append(dict(stimulus_id=sid, modality="frame", path=str(fpath.relative_to(rel_root)),
                         text="", run=run, onset=round(t, 6), duration=dt, split=split))
    return rows, last_t


def _movie_audio(path: Path, rate: int) -> np.ndarray:
    """The movie's audio at ``rate`` Hz (empty for a movie without an audio stream)."""
    try:
        return decode_audio(path, rate)
    except VideoDecodeError as err:
        if "no audio stream" not in str(err):
            raise
        return np.zeros(0, np.float32)


def _window_rows(audio: np.ndarray, audio_rate: int, run: str, tr: float, n_trs: int,
                 out_dir: Path, rel_root: str | Path, split: str) -> list[dict]:
    """A wav and an ``audio`` row per TR window (when there is audio), and a ``clip`` row."""
    rows = []
    win = int(round(tr * audio_rate))
    for i in range(n_trs):
        onset = round(i * tr, 6)
        if audio.size:
            a = audio[int(round(i * tr * audio_rate)) :][:win]
            apath = out_dir / f"{run}_tr{i}.wav"
            write_wav(apath, np.pad(a, (0, win - len(a))), audio_rate)
            rows.append(dict(stimulus_id=f"{run}_tr{i}_audio", modality="audio",
                             path=str(apath.relative_to(rel_root)), text="", run=run,
                             onset=onset, duration=tr, split=split))
        rows.append(dict(stimulus_id=f"{run}_tr{i}", modality="clip", path="", text="",
                         run=run, onset=onset, duration=tr, split=split))
    return rows
