"""NSD images: read only the needed rows of ``imgBrick`` from the 37 GiB ``nsd_stimuli.hdf5`` on S3.

The HDF5 file is opened with h5py over :class:`~brainalign.datasets.s3_source.RangedS3File`,
so only its metadata and the requested images travel. When ``imgBrick`` is stored
contiguously (no chunks, no filters) each image is one byte range, fetched in
parallel; otherwise h5py reads image by image through the same ranged file.
Images are cached as PNG under ``raw_dir`` (``nsddata_stimuli/png/``), so a
rerun fetches only what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from brainalign.datasets.nsd.design import N_IMAGES, stimulus_id
from brainalign.datasets.nsd.layout import NSDError
from brainalign.datasets.s3_source import RangedS3File

log = logging.getLogger(__name__)

IMAGE_SHAPE = (425, 425, 3)
DATASET = "imgBrick"


def cache_path(cache_dir: str | os.PathLike, nsd_id: int) -> Path:
    return Path(cache_dir) / f"{stimulus_id(nsd_id)}.png"


def _save_png(img: np.ndarray, path: Path, size: int | None) -> None:
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8))
    if size and pil.size != (size, size):
        pil = pil.resize((size, size), Image.Resampling.BICUBIC)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pil.save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)


def fetch_images(
    client,
    bucket: str,
    key: str,
    nsd_ids: Iterable[int],
    cache_dir: str | os.PathLike,
    image_size: int | None = None,
    workers: int = 8,
) -> dict[str, int]:
    """Write ``cache_dir/nsdNNNNN.png`` for every id not cached yet; return request counts.

    Returns ``{"images": fetched, "requests": GETs, "bytes": bytes fetched}``.
    """
    import h5py

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    wanted = sorted({int(i) for i in nsd_ids})
    bad = [i for i in wanted if not 0 <= i < N_IMAGES]
    if bad:
        raise NSDError(f"image indices {bad[:5]} outside 0..{N_IMAGES - 1}")
    todo = [i for i in wanted if not cache_path(cache_dir, i).exists()]
    log.info("%d images wanted, %d cached, %d to fetch from s3://%s/%s",
             len(wanted), len(wanted) - len(todo), len(todo), bucket, key)
    if not todo:
        return {"images": 0, "requests": 0, "bytes": 0}
    remote = RangedS3File(client, bucket, key)
    try:
        fh = h5py.File(remote, "r")
    except OSError as err:
        raise NSDError(f"s3://{bucket}/{key} is not a readable HDF5 file (truncated?): {err}") from err
    with fh:
        if DATASET not in fh:
            raise NSDError(f"s3://{bucket}/{key} has no dataset {DATASET!r} (has {list(fh)})")
        dset = fh[DATASET]
        if dset.ndim != 4 or tuple(dset.shape[1:]) != IMAGE_SHAPE or dset.dtype != np.uint8:
            raise NSDError(f"s3://{bucket}/{key}:{DATASET} has shape {dset.shape} {dset.dtype}; "
                           f"expected (n, 425, 425, 3) uint8")
        too_big = [i for i in todo if i >= dset.shape[0]]
        if too_big:
            raise NSDError(f"images {too_big[:5]} beyond the {dset.shape[0]} images of s3://{bucket}/{key}")
        offset = dset.id.get_offset() if dset.chunks is None and not dset.compression else None
        bar = tqdm(total=len(todo), desc="NSD images", unit="img", mininterval=2.0)
        if offset is not None:
            nbytes = int(np.prod(IMAGE_SHAPE))

            def one(i: int) -> None:
                data = remote.fetch(offset + i * nbytes, offset + (i + 1) * nbytes)
                _save_png(np.frombuffer(data, np.uint8).reshape(IMAGE_SHAPE), cache_path(cache_dir, i), image_size)
                bar.update(1)

            _run(one, todo, workers)
        else:
            log.info("%s is chunked or filtered: reading images one by one through h5py", DATASET)
            for i in todo:
                _save_png(dset[i], cache_path(cache_dir, i), image_size)
                bar.update(1)
        bar.close()
    return {"images": len(todo), "requests": remote.requests, "bytes": remote.bytes_fetched}


def _run(fn: Callable[[int], None], items: list[int], workers: int) -> None:
    if workers <= 1:
        for i in items:
            fn(i)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(fn, items):
            pass


def read_captions(paths: Iterable[str | os.PathLike]) -> dict[int, str]:
    """COCO ``captions_*.json`` files -> {COCO image id: first caption (lowest annotation id)}."""
    best: dict[int, tuple[int, str]] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise NSDError(f"COCO annotation file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise NSDError(f"cannot read COCO annotation file {path}: {err}") from err
        if "annotations" not in data:
            raise NSDError(f"{path} has no 'annotations' list (a COCO captions file is expected)")
        for ann in data["annotations"]:
            img, aid, text = int(ann["image_id"]), int(ann.get("id", 0)), str(ann["caption"]).strip()
            if img not in best or aid < best[img][0]:
                best[img] = (aid, text)
    return {k: v[1] for k, v in best.items()}
