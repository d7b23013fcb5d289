"""Short movies encoded with PyAV for dataset tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def encode_movie(path: Path, seconds: float = 4.0, fps: int = 10, rate: int = 22050,
                 audio: bool = True, size=(64, 48)) -> Path:
    """Encode a movie whose frame k is uniformly grey level 6k and audio a 440 Hz tone."""
    import av

    w, h = size
    c = av.open(str(path), "w")
    v = c.add_stream("mpeg4", rate=fps)
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    a = None
    if audio:
        a = c.add_stream("aac", rate=rate)
        a.layout = "mono"
    for i in range(int(seconds * fps)):
        img = np.full((h, w, 3), (i * 6) % 256, np.uint8)
        for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            c.mux(p)
    for p in v.encode():
        c.mux(p)
    if a is not None:
        n = int(seconds * rate)
        sig = (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
        for s in range(0, n, 1024):
            fr = av.AudioFrame.from_ndarray(sig[None, s : s + 1024], format="fltp", layout="mono")
            fr.sample_rate, fr.pts = rate, s
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    c.close()
    return path

