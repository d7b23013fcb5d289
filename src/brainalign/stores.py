"""Schemas of the zarr stores that carry data between workflow rules.

Every array written by the workflow goes through :func:`write_store`, which
validates the dataset against a named schema, stamps provenance attributes and
writes atomically (to a temporary sibling, then renamed), so an interrupted job
never leaves a store that looks finished.

Schemas (dims -> required variables):

``brain``     sample x voxel: ``responses``; coords ``stimulus_id``, ``run``,
              ``split`` (train/test) and, for time series, ``time`` (s);
              per voxel ``noise_ceiling``; ``roi_mask`` (roi x voxel, bool).
              attrs: ``space``, ``tr`` (s, 0 for event designs), ``source``.
``features``  layer x stimulus x unit: ``features``; coords ``layer`` (int),
              ``stimulus_id``; attrs: ``model``, ``instruction``, ``cache_key``...
``encoding``  layer x voxel: ``r``, ``r2``, ``alpha``, ``normalized``.
``partition`` voxel: ``shared``, ``unique_a``, ``unique_b``, ``joint``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

SCHEMAS: dict[str, dict[str, tuple[str, ...]]] = {
    "brain": {
        "responses": ("sample", "voxel"),
        "noise_ceiling": ("voxel",),
        "roi_mask": ("roi", "voxel"),
    },
    "features": {"features": ("layer", "stimulus", "unit")},
    "encoding": {
        "r": ("layer", "voxel"),
        "r2": ("layer", "voxel"),
        "alpha": ("layer", "voxel"),
        "normalized": ("layer", "voxel"),
    },
    "partition": {
        "shared": ("voxel",),
        "unique_a": ("voxel",),
        "unique_b": ("voxel",),
        "joint": ("voxel",),
    },
}

REQUIRED_COORDS: dict[str, tuple[str, ...]] = {
    "brain": ("stimulus_id", "run", "split"),
    "features": ("layer", "stimulus_id"),
    "encoding": ("layer",),
    "partition": (),
}


class StoreError(ValueError):
    """A store does not match its schema, or is incomplete or damaged."""


# Written last into a store (before the store is renamed into place): every file of
# the store and its size. A store without it was not finished by this library.
MARKER = ".brainalign-complete.json"


def validate(ds: xr.Dataset, schema: str, where: str = "dataset") -> None:
    """Raise :class:`StoreError` naming what is missing or malformed."""
    if schema not in SCHEMAS:
        raise StoreError(f"unknown store schema {schema!r}; known: {sorted(SCHEMAS)}")
    for name, dims in SCHEMAS[schema].items():
        if name not in ds:
            raise StoreError(f"{where}: {schema} store lacks variable {name!r}")
        if tuple(ds[name].dims) != dims:
            raise StoreError(
                f"{where}: variable {name!r} has dims {tuple(ds[name].dims)}, "
                f"expected {dims}"
            )
    for coord in REQUIRED_COORDS[schema]:
        if coord not in ds.coords:
            raise StoreError(f"{where}: {schema} store lacks coordinate {coord!r}")


def provenance(**extra: Any) -> dict[str, Any]:
    """Attributes recording who wrote a store, when, and with which packages."""
    import brainalign
    from brainalign.rerun import code_version

    attrs: dict[str, Any] = {
        "brainalign_version": brainalign.__version__,
        "code_version": code_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "xarray": xr.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    attrs.update(extra)
    return attrs


def brain_dataset(
    responses: np.ndarray,
    stimulus_id: Sequence[str],
    run: Sequence[str],
    split: Sequence[str],
    noise_ceiling: np.ndarray,
    roi: Sequence[str],
    roi_mask: np.ndarray,
    *,
    time: np.ndarray | None = None,
    voxel: np.ndarray | None = None,
    sample_coords: Mapping[str, np.ndarray] | None = None,
    voxel_coords: Mapping[str, np.ndarray] | None = None,
    voxel_vars: Mapping[str, np.ndarray] | None = None,
    **attrs: Any,
) -> xr.Dataset:
    """A ``brain`` store: responses (sample x voxel) with their labels, noise ceiling and ROI masks.

    Every dataset kind builds its store here. Per sample: ``stimulus_id``, ``run``
    (the cross-validation group), ``split`` (train/test) and, for time series,
    ``time`` (s). Per voxel: the correlation ``noise_ceiling`` (NaN stored as 0)
    and ``voxel`` (default 0..n-1). ``sample_coords``, ``voxel_coords`` and
    ``voxel_vars`` (float32) add kind-specific labels; ``attrs`` (``space``, ``tr``,
    ``source``, ``subject``...) are recorded with :func:`provenance`.
    """
    responses = np.asarray(responses)
    coords: dict[str, Any] = {
        "stimulus_id": ("sample", np.asarray(stimulus_id).astype(str)),
        "run": ("sample", np.asarray(run).astype(str)),
        "split": ("sample", np.asarray(split).astype(str)),
    }
    if time is not None:
        coords["time"] = ("sample", np.asarray(time, dtype=np.float64))
    coords.update({name: ("sample", np.asarray(v)) for name, v in (sample_coords or {}).items()})
    coords["roi"] = list(roi)
    coords["voxel"] = np.arange(responses.shape[1]) if voxel is None else np.asarray(voxel)
    coords.update({name: ("voxel", np.asarray(v)) for name, v in (voxel_coords or {}).items()})
    data: dict[str, Any] = {
        "responses": (("sample", "voxel"), responses.astype(np.float32)),
        "noise_ceiling": ("voxel", np.nan_to_num(np.asarray(noise_ceiling)).astype(np.float32)),
    }
    data.update({name: ("voxel", np.asarray(v).astype(np.float32)) for name, v in (voxel_vars or {}).items()})
    data["roi_mask"] = (("roi", "voxel"), np.asarray(roi_mask, dtype=bool))
    ds = xr.Dataset(data, coords=coords, attrs=provenance(**attrs))
    validate(ds, "brain")
    return ds


def _jsonable_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Zarr attributes must be JSON: encode nested or numpy values."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, (dict, list, tuple)):
            out[key] = json.dumps(value, sort_keys=True, default=str)
        elif isinstance(value, np.generic):
            out[key] = value.item()
        elif value is None:
            out[key] = "none"
        else:
            out[key] = value
    return out


def _numpy_strings(ds: xr.Dataset) -> xr.Dataset:
    """Turn pandas/object string arrays into fixed-width numpy strings zarr can store."""
    for name in list(ds.variables):
        var = ds.variables[name]
        if var.dtype == object or not isinstance(var.dtype, np.dtype):
            values = np.asarray([str(v) for v in np.asarray(var.values, dtype=object).ravel()], dtype=str)
            ds = ds.assign_coords({name: (var.dims, values.reshape(var.shape))}) if name in ds.coords else ds.assign(
                {name: (var.dims, values.reshape(var.shape))}
            )
    return ds



def _staging_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


@contextmanager
def staged_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A hidden sibling folder that replaces ``path`` only if the block succeeds.

    Nothing half-written is ever left under ``path``: on error the staging folder
    is removed and an existing ``path`` is kept as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _staging_name(path)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_tsv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as a TSV atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _staging_name(path)
    try:
        table.to_csv(tmp, sep="\t", index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_store(
    ds: xr.Dataset,
    path: str | os.PathLike,
    schema: str,
    encoding: dict[str, dict] | None = None,
) -> Path:
    """Validate ``ds`` against ``schema`` and write it atomically as a zarr store."""
    path = Path(path)
    validate(ds, schema, where=str(path))
    ds = _numpy_strings(ds.copy())
    ds.attrs = _jsonable_attrs({"schema": schema, **ds.attrs})
    with staged_dir(path) as tmp:
        ds.to_zarr(tmp, mode="w", encoding=encoding or {}, consolidated=True, zarr_format=2)
        write_marker(tmp, schema)
    return path


def _files(path: Path) -> dict[str, int]:
    return {str(f.relative_to(path)): f.stat().st_size for f in sorted(path.rglob("*"))
            if f.is_file() and f.name != MARKER}


def write_marker(path: str | os.PathLike, schema: str) -> None:
    """Record every file of a finished store and its size (the completion marker, written last)."""
    path = Path(path)
    (path / MARKER).write_text(json.dumps({"schema": schema, "files": _files(path)}, indent=0))


def _recovery(path: Path) -> str:
    return (f"remake it: snakemake --forcerun {path} (or `make recover`, which finds every such store; "
            "see README: Recovering from interruptions)")


def check_store(path: str | os.PathLike, schema: str | None = None) -> None:
    """Raise :class:`StoreError` naming ``path`` if it is missing, unfinished or has lost files.

    Checks the completion marker, that every file it lists is present with its
    size (a deleted or truncated chunk is found without reading it) and the schema.
    """
    path = Path(path)
    if not path.is_dir():
        raise StoreError(f"store not found: {path}; {_recovery(path)}")
    marker = path / MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError) as err:
        raise StoreError(f"store {path} has no completion marker ({MARKER}: {err.__class__.__name__}): "
                         f"it was not finished; {_recovery(path)}") from err
    if schema and recorded.get("schema") != schema:
        raise StoreError(f"store {path} holds a {recorded.get('schema')!r} store, expected {schema!r}")
    present = _files(path)
    missing = sorted(set(recorded["files"]) - set(present))
    changed = sorted(f for f, size in recorded["files"].items() if f in present and present[f] != size)
    if missing or changed:
        detail = "; ".join(x for x in (f"missing files {missing[:5]}" if missing else "",
                                       f"files of another size (truncated?) {changed[:5]}" if changed else "") if x)
        raise StoreError(f"store {path} is damaged: {detail}; {_recovery(path)}")


def recorded_schema(path: str | os.PathLike) -> str:
    """The schema a finished store records in its completion marker (:func:`check_store` it first)."""
    return json.loads((Path(path) / MARKER).read_text())["schema"]


def verify_store(path: str | os.PathLike, schema: str | None = None) -> None:
    """:func:`check_store`, then read every array (each chunk decompressed)."""
    check_store(path, schema)
    read_store(path, schema or recorded_schema(path))


def open(path: str | os.PathLike, load: bool = True) -> xr.Dataset:  # noqa: A001 - read as brainalign.stores.open
    """Open a store the workflow (or :func:`write_store`) wrote, checking that it is complete.

    The store's kind (``brain``, ``features``, ``encoding``, ``partition``) is the one it
    records; a missing, unfinished or damaged store raises :class:`StoreError` naming it and
    how to remake it. ``load=False`` leaves the arrays on disk (read lazily).
    """
    check_store(path)
    return read_store(path, recorded_schema(path), load=load)


def read_store(path: str | os.PathLike, schema: str, load: bool = True) -> xr.Dataset:
    """Open a store, check its schema and return it (loaded into memory by default)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"store not found: {path}")
    check_store(path, schema)
    try:
        ds = xr.open_zarr(path, consolidated=True)
    except Exception as err:  # noqa: BLE001 - zarr and json errors alike, re-raised naming the store
        raise StoreError(f"cannot open store {path}: {err}; {_recovery(path)}") from err
    validate(ds, schema, where=str(path))
    if not load:
        return ds
    try:
        return ds.load()
    except Exception as err:  # noqa: BLE001 - codec errors (e.g. blosc) name no file
        raise StoreError(f"cannot read store {path}: {err}; {_recovery(path)}") from err


def json_attr(ds: xr.Dataset, key: str, default: Any = None) -> Any:
    """Decode an attribute that :func:`write_store` JSON-encoded."""
    value = ds.attrs.get(key, default)
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value
