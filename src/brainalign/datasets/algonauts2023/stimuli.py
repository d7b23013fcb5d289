"""Algonauts 2023 stimulus table: the subjects' training images, their train/test split and CV groups.

The test fMRI of the release is not public, so the test set is carved out of the
training images: a seeded fraction (``test_split: fraction``), the images every
configured subject saw (``shared``), or a list file (``list``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign.datasets.algonauts2023.release import (
    AlgonautsError,
    read_list,
    settings,
    stimulus_id,
    subject_dir,
    training_images,
)
from brainalign.datasets.files import link_or_copy
from brainalign.stimuli.table import STIMULUS_COLUMNS
from brainalign.stores import staged_dir, write_tsv

N_GROUPS = 10


def split_and_groups(ids_per_subject: dict[str, list[str]], cfg: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Split (``train``/``test``) and CV group of every stimulus of the dataset."""
    union = sorted({i for ids in ids_per_subject.values() for i in ids})
    order = np.random.default_rng(cfg["seed"]).permutation(len(union))
    group = {union[j]: f"group{k % N_GROUPS:02d}" for k, j in enumerate(order)}
    if cfg["test_split"] == "fraction":
        n_test = max(1, int(round(float(cfg["test_fraction"]) * len(union))))
        test = {union[j] for j in order[:n_test]}
    elif cfg["test_split"] == "shared":
        if len(ids_per_subject) < 2:
            raise AlgonautsError("test_split: shared needs at least two subjects")
        test = set.intersection(*(set(v) for v in ids_per_subject.values()))
    else:
        test = read_list(cfg["test_list"]) & set(union)
    if not test or len(test) == len(union):
        raise AlgonautsError(
            f"test_split {cfg['test_split']!r} puts {len(test)} of {len(union)} images in the test set; "
            "both train and test images are needed")
    return {i: ("test" if i in test else "train") for i in union}, group


def prepare_stimuli(raw_dir: str | os.PathLike, block: dict, subjects: Sequence[str],
                    out_tsv: str | os.PathLike, out_dir: str | os.PathLike) -> pd.DataFrame:
    """Copy (hard-link) the subjects' training images and write the stimulus table."""
    cfg = settings(block)
    raw, out_tsv, out_dir = Path(raw_dir), Path(out_tsv), Path(out_dir)
    files: dict[str, Path] = {}
    ids_per_subject = {}
    for s in subjects:
        imgs = training_images(subject_dir(raw, cfg, s))
        ids_per_subject[s] = [stimulus_id(p) for p in imgs]
        for p, i in zip(imgs, ids_per_subject[s]):
            files.setdefault(i, p)
    split, group = split_and_groups(ids_per_subject, cfg)
    with staged_dir(out_dir) as tmp:
        tmp.mkdir(parents=True)
        rows = []
        for i in sorted(files):
            link_or_copy(files[i], tmp / f"{i}.png")
            rows.append(dict(stimulus_id=i, modality="image", path=str((out_dir / f"{i}.png").relative_to(out_tsv.parent)),
                             text="", run=group[i], onset="", duration="", split=split[i]))
        table = pd.DataFrame(rows, columns=STIMULUS_COLUMNS)
    write_tsv(table, out_tsv)
    return table
