"""Small stimulus sets generated on the fly for feature-extraction tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import wavfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
MODELS_YAML = REPO / "config" / "models.yaml"
INSTRUCTIONS_YAML = REPO / "config" / "instructions.yaml"
WORDS = "the cat sat on a warm mat while the dog watched from the old red door".split()


def make_dataset(root: Path, n_images: int = 5, n_runs: int = 2, trs: int = 3,
                 tr: float = 1.5, fps: float = 2.0) -> Path:
    """Write a stimulus table with image, frame, clip, audio and word rows."""
    rng = np.random.default_rng(0)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_images):
        p = f"stimuli/img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / p)
        rows.append(dict(stimulus_id=f"img{i}", modality="image", path=p,
                         text=" ".join(WORDS[i : i + 5]), run=f"g{i % 2}", onset="",
                         duration="", split="test" if i == 0 else "train"))
    for r in range(n_runs):
        run = f"run{r}"
        for k in range(int(trs * tr * fps)):
            p = f"stimuli/{run}_f{k}.png"
            Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(root / p)
            rows.append(dict(stimulus_id=f"{run}_f{k}", modality="frame", path=p, text="",
                             run=run, onset=f"{k / fps:.3f}", duration=f"{1 / fps:.3f}", split="train"))
        for t in range(trs):
            p = f"stimuli/{run}_a{t}.wav"
            wave = (rng.standard_normal(int(8000 * tr)) * 3000).astype(np.int16)
            wavfile.write(root / p, 8000, wave)
            rows.append(dict(stimulus_id=f"{run}_a{t}", modality="audio", path=p, text="",
                             run=run, onset=f"{t * tr}", duration=f"{tr}", split="train"))
            rows.append(dict(stimulus_id=f"{run}_tr{t}", modality="clip", path="", text="",
                             run=run, onset=f"{t * tr}", duration=f"{tr}", split="train"))
        for w in range(8):
            rows.append(dict(stimulus_id=f"{run}_w{w}", modality="word", path="",
                             text=WORDS[(w + r) % len(WORDS)], run=run, onset=f"{w * 0.5}",
                             duration="0.4", split="train"))
    tsv = root / "stimuli.tsv"
    pd.DataFrame(rows).to_csv(tsv, sep="\t", index=False)
    return tsv


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ds")
    return make_dataset(root), root


@pytest.fixture
def extract(dataset):
    """Run extract_features on the test dataset and read the store back."""
    from brainalign.features import extract_features
    from brainalign.stores import read_store

    def _run(out_dir: Path, model: str, instruction: str = "none", **kw):
        tsv, root = dataset
        out = Path(out_dir) / f"{model}-{instruction}.zarr"
        kw.setdefault("batch_size", 3)
        kw.setdefault("models_yaml", MODELS_YAML)
        kw.setdefault("device", "cpu")
        extract_features(tsv, root, model, instruction, out,
                         instructions_yaml=INSTRUCTIONS_YAML, **kw)
        return read_store(out, "features")

    return _run
