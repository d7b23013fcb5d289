"""Anonymous S3 downloads: whole objects (verified, atomic) and ranged reads of one object.

``download_key`` fetches one key to a local path: a HEAD request gives the size
and ETag, the body streams into a temporary sibling while its MD5 is computed,
and the file is renamed into place only when the byte count (and, for objects
uploaded in one part, the MD5 in the ETag) match. A local file of the right size
is kept as it is. ``RangedS3File`` is a read-only, seekable file object over one
key that fetches only the byte ranges it is asked for (HTTP range GETs), so
h5py can read a few images from a 37 GiB HDF5 file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024
_PLAIN_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')


class S3DownloadError(RuntimeError):
    """An S3 object is missing, unreachable, or arrived incomplete."""


def s3_client(endpoint_url: str | None = None, region: str = "us-east-2", anonymous: bool = True,
              retries: int = 5, timeout: float = 60.0):
    """A boto3 S3 client; ``anonymous`` sends unsigned requests (public buckets, no credentials)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(
        signature_version=UNSIGNED if anonymous else None,
        retries={"max_attempts": retries, "mode": "standard"},
        connect_timeout=timeout,
        read_timeout=timeout,
        max_pool_connections=32,
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region, config=config)


def _client_error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def head(client, bucket: str, key: str) -> dict:
    """Size and ETag of ``s3://bucket/key``; :class:`S3DownloadError` naming the key if absent."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        meta = client.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        code = _client_error_code(err)
        if code in ("404", "NoSuchKey", "NotFound"):
            raise S3DownloadError(f"s3://{bucket}/{key} does not exist (HTTP 404)") from err
        if code in ("403", "AccessDenied", "Forbidden"):
            raise S3DownloadError(
                f"access denied to s3://{bucket}/{key} (HTTP 403): the key may not exist, or the bucket "
                "needs credentials"
            ) from err
        raise S3DownloadError(f"cannot read s3://{bucket}/{key}: {code or err}") from err
    except BotoCoreError as err:
        raise S3DownloadError(f"cannot reach s3://{bucket}/{key}: {err}") from err
    return {"size": int(meta["ContentLength"]), "etag": str(meta.get("ETag", ""))}


def download_key(client, bucket: str, key: str, dest: str | os.PathLike, attempts: int = 3,
                 progress: bool = True) -> Path:
    """Download ``s3://bucket/key`` to ``dest`` unless a file of the right size is already there.

    Streams to a temporary sibling, checks size (and MD5 for single-part ETags),
    then renames atomically. Interrupted transfers are retried ``attempts``
    times; a mismatch that persists raises :class:`S3DownloadError` naming the
    key, and nothing is left at ``dest``.
    """
    dest = Path(dest)
    meta = head(client, bucket, key)
    if dest.exists():
        have = dest.stat().st_size
        if have == meta["size"]:
            log.info("present, not downloaded again: %s (%d bytes)", dest, have)
            return dest
        raise S3DownloadError(
            f"{dest} has {have} bytes but s3://{bucket}/{key} has {meta['size']}: the local copy is "
            "truncated or from another version; delete it to download again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            _stream(client, bucket, key, tmp, meta, progress)
            os.replace(tmp, dest)
            log.info("downloaded s3://%s/%s -> %s (%d bytes)", bucket, key, dest, meta["size"])
            return dest
        except S3DownloadError as err:
            last = err
            log.warning("attempt %d/%d of %s failed: %s", attempt, attempts, key, err)
            time.sleep(min(2 ** attempt, 30) * 0.1)
        finally:
            if tmp.exists():
                tmp.unlink()
    raise S3DownloadError(f"giving up on s3://{bucket}/{key} after {attempts} attempts: {last}")


def _stream(client, bucket: str, key: str, tmp: Path, meta: dict, progress: bool) -> None:
    from botocore.exceptions import BotoCoreError, ClientError
    from tqdm import tqdm

    md5 = hashlib.md5(usedforsecurity=False)
    got = 0
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        with open(tmp, "wb") as fh, tqdm(total=meta["size"], unit="B", unit_scale=True, desc=Path(key).name,
                                          disable=not progress, mininterval=2.0) as bar:
            for block in iter(lambda: body.read(CHUNK), b""):
                fh.write(block)
                md5.update(block)
                got += len(block)
                bar.update(len(block))
    except (ClientError, BotoCoreError, OSError) as err:
        raise S3DownloadError(f"transfer of s3://{bucket}/{key} broke after {got} bytes: {err}") from err
    if got != meta["size"]:
        raise S3DownloadError(
            f"s3://{bucket}/{key}: received {got} bytes, expected {meta['size']} (ContentLength)"
        )
    plain = _PLAIN_ETAG.match(meta["etag"])
    if plain and plain.group(1) != md5.hexdigest():
        raise S3DownloadError(
            f"s3://{bucket}/{key}: MD5 {md5.hexdigest()} does not match the ETag {plain.group(1)}"
        )


class RangedS3File(io.RawIOBase):
    """Seekable read-only file over one S3 object; each read is an HTTP range GET.

    Small reads (HDF5 headers, B-tree nodes) go through a cache of aligned
    ``block_size`` blocks; reads of at least one block are fetched exactly.
    ``requests`` and ``bytes_fetched`` count the GETs made.
    """

    def __init__(self, client, bucket: str, key: str, block_size: int = 64 * 1024, cache_blocks: int = 256):
        super().__init__()
        self.client, self.bucket, self.key = client, bucket, key
        self.size = head(client, bucket, key)["size"]
        self.block_size = block_size
        self.cache_blocks = cache_blocks
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_fetched = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def fetch(self, start: int, stop: int, attempts: int = 3) -> bytes:
        """Bytes ``[start, stop)`` of the object in one range GET (retried on short or broken reads)."""
        from botocore.exceptions import BotoCoreError, ClientError

        stop = min(stop, self.size)
        if stop <= start:
            return b""
        where = f"range {start}-{stop - 1} of s3://{self.bucket}/{self.key}"
        problem = ""
        for attempt in range(1, attempts + 1):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{stop - 1}")["Body"]
                data = body.read()
            except ClientError as err:
                raise S3DownloadError(f"{where}: {err}") from err
            except (BotoCoreError, OSError) as err:  # connection dropped mid-body
                problem = str(err)
                continue
            with self._lock:
                self.requests += 1
                self.bytes_fetched += len(data)
            if len(data) == stop - start:
                return data
            problem = f"got {len(data)} bytes"
            log.warning("%s: attempt %d/%d %s", where, attempt, attempts, problem)
        raise S3DownloadError(f"{where}: {problem} after {attempts} attempts")

    def _block(self, index: int) -> bytes:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        start = index * self.block_size
        data = self.fetch(start, start + self.block_size)
        self._cache[index] = data
        if len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        return data

    def read(self, n: int = -1) -> bytes:
        start = self._pos
        stop = self.size if n is None or n < 0 else min(self.size, start + n)
        if stop <= start:
            return b""
        if stop - start >= self.block_size:
            data = self.fetch(start, stop)
        else:
            first, last = start // self.block_size, (stop - 1) // self.block_size
            joined = b"".join(self._block(i) for i in range(first, last + 1))
            offset = start - first * self.block_size
            data = joined[offset: offset + stop - start]
        self._pos = stop
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
