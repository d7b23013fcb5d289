"""Procedurally generated stimuli for the embedded demo dataset.

Two designs, both fully determined by a seed:

``images``  scenes of coloured shapes over a sky/ground background, each with a
            caption that describes it (an event design, like NSD);
``movie``   a short "film" of such scenes with moving objects, sampled as frames,
            an audio track (tones whose pitch follows the objects' colours, plus
            syllable-like bursts at word onsets), and a narration transcript with
            word onsets; cut into runs and TR windows (a naturalistic design).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from brainalign.stimuli.table import STIMULUS_COLUMNS
from brainalign.stimuli.video import write_wav

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 215, 40),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "purple": (140, 50, 170),
}
SHAPES = ("circle", "square", "triangle")
SKIES = {"blue sky": (120, 170, 235), "grey sky": (150, 150, 160), "dark night": (20, 25, 60)}
GROUNDS = {"green grass": (60, 150, 60), "yellow sand": (220, 200, 120), "white snow": (235, 240, 245)}
PITCH = {"red": 220.0, "green": 277.0, "blue": 330.0, "yellow": 392.0, "white": 440.0, "black": 494.0, "purple": 523.0}

# Varied wording, so text-model layers (contextual vs lexical) are not interchangeable.
SYNONYMS = {
    "circle": ["circle", "disc", "ball", "ring", "dot", "sphere"],
    "square": ["square", "box", "block", "cube", "tile", "crate"],
    "triangle": ["triangle", "wedge", "pyramid", "spike", "arrowhead", "cone"],
    "large": ["large", "big", "huge", "enormous", "giant", "hefty"],
    "small": ["small", "tiny", "little", "miniature", "petite", "modest"],
    "red": ["red", "crimson", "scarlet", "ruby"],
    "green": ["green", "emerald", "lime", "olive"],
    "blue": ["blue", "azure", "navy", "cobalt"],
    "yellow": ["yellow", "golden", "lemon", "amber"],
    "white": ["white", "ivory", "snowy", "pale"],
    "black": ["black", "dark", "inky", "jet"],
    "purple": ["purple", "violet", "lilac", "plum"],
}
PLACES = {
    "left": ["on the left", "at the left edge", "toward the left side", "near the left"],
    "right": ["on the right", "at the right edge", "toward the right side", "near the right"],
    "middle": ["in the middle", "at the centre", "right in the centre", "near the middle"],
}
MOTION = {
    "left": ["drifts leftward", "slides to the left", "rolls left", "creeps westward"],
    "right": ["drifts rightward", "slides to the right", "rolls right", "creeps eastward"],
}
DETERMINERS = ["a", "one", "some", "the"]
SETTINGS = ["under a", "beneath a", "below a", "against a"]
JOINERS = ["above", "over", "atop", "beyond"]


@dataclass
class Thing:
    """One shape in a scene."""

    shape: str
    colour: str
    size: float  # fraction of the image side
    x: float  # centre, fraction of width
    y: float  # centre, fraction of height
    vx: float = 0.0  # motion, fraction of width per second

    def describe(self, rng: np.random.Generator | None = None) -> str:
        """A phrase naming the shape; with ``rng``, wording varies (synonyms, word order)."""
        side = "left" if self.x < 0.4 else "right" if self.x > 0.6 else "middle"
        big = "large" if self.size > 0.3 else "small"
        if rng is None:
            return f"a {big} {self.colour} {self.shape} on the {side}"
        pick = lambda options: str(rng.choice(options))  # noqa: E731
        noun = pick(SYNONYMS[self.shape])
        adj = f"{pick(SYNONYMS[big])} {pick(SYNONYMS[self.colour])}"
        where = pick(PLACES[side])
        if self.vx:
            verb = pick(MOTION["left" if self.vx < 0 else "right"])
            return f"{pick(DETERMINERS)} {adj} {noun} {verb} {where}"
        return pick([f"{pick(DETERMINERS)} {adj} {noun} {where}", f"{where} {pick(DETERMINERS)} {adj} {noun}"])


@dataclass
class Scene:
    """A background and a few shapes."""

    sky: str
    ground: str
    things: list[Thing]

    def caption(self, rng: np.random.Generator | None = None) -> str:
        """Describe the scene; with ``rng`` the wording varies like a human narrator's."""
        parts = [t.describe(rng) for t in self.things]
        objs = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        if rng is None:
            return f"{objs}, under a {self.sky} above {self.ground}"
        return f"{objs}, {rng.choice(SETTINGS)} {self.sky} {rng.choice(JOINERS)} {self.ground}"


def random_scene(rng: np.random.Generator, max_things: int = 3, moving: bool = False) -> Scene:
    """Draw a random scene."""
    things = []
    for _ in range(rng.integers(1, max_things + 1)):
        things.append(
            Thing(
                shape=str(rng.choice(SHAPES)),
                colour=str(rng.choice(list(COLOURS))),
                size=float(rng.uniform(0.15, 0.45)),
                x=float(rng.uniform(0.15, 0.85)),
                y=float(rng.uniform(0.3, 0.8)),
                vx=float(rng.uniform(-0.12, 0.12)) if moving else 0.0,
            )
        )
    return Scene(str(rng.choice(list(SKIES))), str(rng.choice(list(GROUNDS))), things)


def render(scene: Scene, size: int, t: float = 0.0) -> Image.Image:
    """Draw a scene at time ``t`` seconds (objects move with their velocity)."""
    img = Image.new("RGB", (size, size), SKIES[scene.sky])
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, int(size * 0.6), size, size], fill=GROUNDS[scene.ground])
    for th in scene.things:
        cx = ((th.x + th.vx * t) % 1.0) * size
        cy = th.y * size
        r = th.size * size / 2
        box = [cx - r, cy - r, cx + r, cy + r]
        colour = COLOURS[th.colour]
        if th.shape == "circle":
            draw.ellipse(box, fill=colour)
        elif th.shape == "square":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return img


def make_image_set(
    out_dir: Path,
    seed: int,
    n_images: int,
    n_test: int,
    n_runs: int,
    image_size: int,
) -> pd.DataFrame:
    """Generate ``n_images`` scenes with captions; the last ``n_test`` are the test set.

    Training images are spread over ``n_runs`` sessions (cross-validation groups);
    test images form their own group.
    """
    if not 0 < n_test < n_images:
        raise ValueError(f"n_test must be in (0, n_images={n_images}), got {n_test}")
    rng = np.random.default_rng(seed)
    img_dir = out_dir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    n_train = n_images - n_test
    rows = []
    for i in range(n_images):
        scene = random_scene(rng)
        sid = f"img{i:04d}"
        render(scene, image_size).save(img_dir / f"{sid}.png")
        train = i < n_train
        rows.append(
            {
                "stimulus_id": sid,
                "modality": "image",
                "path": f"stimuli/images/{sid}.png",
                "text": scene.caption(rng),
                "run": f"ses-{1 + i * n_runs // n_train:02d}" if train else "ses-test",
                "onset": np.nan,
                "duration": np.nan,
                "split": "train" if train else "test",
            }
        )
    return pd.DataFrame(rows, columns=STIMULUS_COLUMNS)


def make_movie(
    out_dir: Path,
    seed: int,
    n_runs: int,
    trs_per_run: int,
    tr: float,
    fps: float,
    audio_rate: int,
    image_size: int,
    n_test_runs: int = 1,
    scene_seconds: float = 6.0,
    words_per_second: float = 2.0,
) -> pd.DataFrame:
    """Generate a movie cut into runs: frames, per-TR audio windows, words and clips.

    The last ``n_test_runs`` runs are the test set.
    """
    rng = np.random.default_rng(seed)
    for sub in ("frames", "audio"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    run_len = trs_per_run * tr
    rows: list[dict] = []
    for r in range(n_runs):
        run = f"run-{r + 1:02d}"
        split = "test" if r >= n_runs - n_test_runs else "train"
        scenes = [random_scene(rng, moving=True) for _ in range(int(np.ceil(run_len / scene_seconds)))]
        rows += _movie_frames(out_dir, scenes, scene_seconds, run, split, run_len, fps, image_size)
        words = _narration(scenes, rng, scene_seconds, words_per_second, run_len)
        rows += [_row(f"{run}_w{w_i:05d}", "word", "", word, run, onset, 1 / words_per_second, split)
                 for w_i, (word, onset) in enumerate(words)]
        audio = _soundtrack(scenes, words, rng, scene_seconds, run_len, audio_rate)
        win = int(round(tr * audio_rate))
        for i in range(trs_per_run):
            sid = f"{run}_a{i:04d}"
            write_wav(out_dir / "audio" / f"{sid}.wav", audio[i * win : (i + 1) * win], audio_rate)
            rows.append(_row(sid, "audio", f"stimuli/audio/{sid}.wav", "", run, i * tr, tr, split))
            rows.append(_row(f"{run}_c{i:04d}", "clip", "", "", run, i * tr, tr, split))
    return pd.DataFrame(rows, columns=STIMULUS_COLUMNS)


def _movie_frames(out_dir: Path, scenes: list[Scene], scene_seconds: float, run: str, split: str,
                  run_len: float, fps: float, image_size: int) -> list[dict]:
    """Render the run's frames (``fps`` per second) and return their rows."""
    rows = []
    for f in range(int(round(run_len * fps))):
        t = f / fps
        k = min(int(t // scene_seconds), len(scenes) - 1)
        sid = f"{run}_f{f:05d}"
        render(scenes[k], image_size, t - k * scene_seconds).save(out_dir / "frames" / f"{sid}.png")
        rows.append(_row(sid, "frame", f"stimuli/frames/{sid}.png", "", run, t, 1 / fps, split))
    return rows


def _narration(scenes: list[Scene], rng: np.random.Generator, scene_seconds: float, words_per_second: float,
               run_len: float) -> list[tuple[str, float]]:
    """Words with onsets: each scene narrated by its caption while it is shown."""
    words: list[tuple[str, float]] = []
    for k, scene in enumerate(scenes):
        t0 = k * scene_seconds + float(rng.uniform(0.2, 0.8))
        for w_i, word in enumerate(scene.caption(rng).replace(",", "").split()):
            onset = t0 + w_i / words_per_second + float(rng.uniform(-0.1, 0.1))
            if onset < min((k + 1) * scene_seconds, run_len) - 0.05:
                words.append((word, onset))
    return words


def _soundtrack(scenes: list[Scene], words: list[tuple[str, float]], rng: np.random.Generator,
                scene_seconds: float, run_len: float, audio_rate: int) -> np.ndarray:
    """Tones of each scene's colours, noise bursts at word onsets and a little background noise."""
    n_samples = int(round(run_len * audio_rate))
    t = np.arange(n_samples) / audio_rate
    audio = np.zeros(n_samples)
    for k, scene in enumerate(scenes):
        seg = (t >= k * scene_seconds) & (t < (k + 1) * scene_seconds)
        for th in scene.things:
            audio[seg] += 0.2 * th.size * np.sin(2 * np.pi * PITCH[th.colour] * t[seg])
    burst = int(0.15 * audio_rate)
    envelope = np.hanning(burst)
    for _, onset in words:
        a = int(onset * audio_rate)
        b = min(a + burst, n_samples)
        audio[a:b] += 0.15 * envelope[: b - a] * rng.standard_normal(b - a)
    audio += 0.01 * rng.standard_normal(n_samples)
    return audio


def _row(sid: str, modality: str, path: str, text: str, run: str, onset: float, duration: float, split: str) -> dict:
    return {
        "stimulus_id": sid,
        "modality": modality,
        "path": path,
        "text": text,
        "run": run,
        "onset": round(float(onset), 4),
        "duration": round(float(duration), 4),
        "split": split,
    }
