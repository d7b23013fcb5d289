"""NSD stimulus table: the images the configured subjects saw, fetched by ranged reads and cached."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from brainalign.datasets.files import link_or_copy
from brainalign.datasets.nsd import design as nsd_design
from brainalign.datasets.nsd import images as nsd_images
from brainalign.datasets.nsd.fetch import client
from brainalign.datasets.nsd.layout import key, sessions, settings, subject_number
from brainalign.stimuli.table import STIMULUS_COLUMNS
from brainalign.stores import staged_dir, write_tsv

log = logging.getLogger(__name__)

IMAGE_CACHE = "nsddata_stimuli/png"


def subject_images(raw: Path, cfg: dict, subjects: Sequence[str]) -> pd.DataFrame:
    """Images shown to any of ``subjects`` in their sessions: nsd_id, first subject's first session."""
    design = nsd_design.read_expdesign(raw / key(cfg, "expdesign"))
    parts = []
    for s in subjects:
        imgs = nsd_design.image_table(nsd_design.trial_images(design, s, sessions(cfg, s), cfg["trials_per_session"]))
        parts.append(imgs.assign(order=len(parts)))
    table = pd.concat(parts).sort_values(["nsd_id", "order"]).drop_duplicates("nsd_id")
    return table.reset_index(drop=True)


def _captions(cfg: dict, info: pd.DataFrame, images: pd.DataFrame) -> list[str]:
    """The first COCO caption of every image ("" without annotation files)."""
    captions = nsd_images.read_captions(cfg["coco_annotations"]) if cfg["coco_annotations"] else {}
    if not captions:
        return [""] * len(images)
    text = [captions.get(int(c), "") for c in info.loc[images["nsd_id"], "cocoId"]]
    missing = sum(1 for t in text if not t)
    if missing:
        log.warning("%d of %d images have no caption in the COCO annotation files", missing, len(images))
    return text


def prepare_stimuli(
    raw_dir: str | os.PathLike,
    block: dict,
    subjects: Sequence[str],
    out_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
) -> pd.DataFrame:
    """Fetch the images the subjects saw (ranged reads, cached) and write the stimulus table."""
    cfg = settings(block)
    raw, out_tsv, out_dir = Path(raw_dir), Path(out_tsv), Path(out_dir)
    for s in subjects:
        subject_number(s)
    images = subject_images(raw, cfg, subjects)
    info = nsd_design.read_stim_info(raw / key(cfg, "stim_info"))
    split = nsd_design.split_of(images["nsd_id"].to_numpy(), info, "stimulus table")
    text = _captions(cfg, info, images)
    cache = raw / IMAGE_CACHE
    stats = nsd_images.fetch_images(client(cfg), cfg["bucket"], key(cfg, "stimuli"), images["nsd_id"], cache,
                                    image_size=cfg["image_size"], workers=cfg["fetch_workers"])
    log.info("fetched %d images in %d range requests (%.1f MB)", stats["images"], stats["requests"],
             stats["bytes"] / 1e6)
    rel_root = out_tsv.parent
    with staged_dir(out_dir) as tmp:
        tmp.mkdir(parents=True)
        rows = []
        for (nsd_id, first), sp, txt in zip(images[["nsd_id", "first_session"]].itertuples(index=False), split, text):
            name = nsd_images.cache_path(cache, nsd_id).name
            link_or_copy(cache / name, tmp / name)
            rows.append(dict(stimulus_id=nsd_design.stimulus_id(nsd_id), modality="image",
                             path=str((out_dir / name).relative_to(rel_root)), text=txt,
                             run=f"ses{int(first):02d}", onset="", duration="", split=sp))
        table = pd.DataFrame(rows, columns=STIMULUS_COLUMNS)
    write_tsv(table, out_tsv)
    return table
