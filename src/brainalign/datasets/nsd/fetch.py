"""Fetch NSD files from the public S3 bucket into ``raw_dir``, mirroring the bucket's keys."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from brainalign.datasets.nsd.layout import settings
from brainalign.datasets.s3_source import download_key, s3_client


def client(cfg: dict):
    """S3 client for the configured endpoint (unsigned requests unless ``anonymous: false``)."""
    return s3_client(cfg["endpoint_url"], region=cfg["region"], anonymous=cfg["anonymous"], retries=cfg["retries"])


def download(block: dict, keys: Sequence[str], raw_dir: str | os.PathLike, progress: bool = True) -> list[Path]:
    """Download ``keys`` to ``raw_dir/<key>``; files already present with the right size are kept."""
    cfg = settings(block)
    s3 = client(cfg)
    return [download_key(s3, cfg["bucket"], k, Path(raw_dir) / k, progress=progress) for k in keys]
