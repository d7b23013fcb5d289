"""Store schemas: validation messages, round trips with attributes, atomic writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainalign import stores
from brainalign.stores import StoreError, json_attr, provenance, read_store, validate, write_store

from .conftest import brain_dataset, features_dataset


def _encoding() -> xr.Dataset:
    rng = np.random.default_rng(1)
    data = {k: (("layer", "voxel"), rng.standard_normal((3, 5)).astype(np.float32))
            for k in ("r", "r2", "alpha", "normalized")}
    return xr.Dataset(data, coords={"layer": [0, 1, 2], "voxel": np.arange(5)})


def _partition() -> xr.Dataset:
    rng = np.random.default_rng(2)
    data = {k: ("voxel", rng.standard_normal(4).astype(np.float32))
            for k in ("shared", "unique_a", "unique_b", "joint")}
    return xr.Dataset(data, coords={"voxel": np.arange(4)})


def _brain() -> xr.Dataset:
    rng = np.random.default_rng(3)
    y = rng.standard_normal((6, 4))
    ds = brain_dataset(y, ["a", "a", "b", "b", "t", "t"], ["train"] * 4 + ["test"] * 2,
                       ceiling=np.array([0.1, 0.2, 0.3, 0.4]), tr=1.5, time=np.arange(6) * 1.5)
    ds.attrs.update(nested={"alphas": [1.0, 10.0], "k": "v"}, delays=[1, 2], none_value=None,
                    count=np.int64(7))
    return ds


@pytest.mark.parametrize("schema,make", [
    ("brain", _brain),
    ("features", lambda: features_dataset(np.arange(24, dtype=float).reshape(2, 3, 4), ["x", "y", "z"])),
    ("encoding", _encoding),
    ("partition", _partition),
])
def test_round_trip_preserves_values_coords_and_attrs(tmp_path, schema, make):
    ds = make()
    ds.attrs["model"] = "demo"
    path = write_store(ds, tmp_path / "sub" / "store.zarr", schema)
    back = read_store(path, schema)
    for name in ds.data_vars:
        np.testing.assert_array_equal(back[name].values, ds[name].values)
        assert back[name].dims == ds[name].dims
    for name in ds.coords:
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    assert back.attrs["schema"] == schema
    assert back.attrs["model"] == "demo"


def test_attributes_are_json_encoded_and_decoded(tmp_path):
    path = write_store(_brain(), tmp_path / "b.zarr", "brain")
    back = read_store(path, "brain")
    assert json_attr(back, "nested") == {"alphas": [1.0, 10.0], "k": "v"}
    assert json_attr(back, "delays") == [1, 2]
    assert back.attrs["none_value"] == "none"
    assert back.attrs["count"] == 7 and isinstance(back.attrs["count"], int)
    assert back.attrs["tr"] == 1.5
    assert json_attr(back, "missing", default="d") == "d"


def test_object_and_pandas_strings_become_numpy_strings(tmp_path):
    ds = features_dataset(np.zeros((1, 3, 2)), ["a", "bb", "ccc"])
    ds = ds.assign_coords(stimulus_id=("stimulus", pd.array(["a", "bb", "ccc"], dtype="string")))
    ds = ds.assign(generated_text=("stimulus", np.array(["x", "yy", "zzz"], dtype=object)))
    back = read_store(write_store(ds, tmp_path / "f.zarr", "features"), "features")
    assert back["stimulus_id"].values.tolist() == ["a", "bb", "ccc"]
    assert back["generated_text"].values.tolist() == ["x", "yy", "zzz"]
    assert back["generated_text"].dtype.kind == "U"


def test_validate_names_missing_variable_dims_and_coords():
    enc = _encoding()
    with pytest.raises(StoreError, match="lacks variable 'r2'"):
        validate(enc.drop_vars("r2"), "encoding")
    with pytest.raises(StoreError, match=r"'r' has dims \('voxel', 'layer'\), expected \('layer', 'voxel'\)"):
        validate(enc.assign(r=enc["r"].T), "encoding")
    with pytest.raises(StoreError, match="lacks coordinate 'layer'"):
        validate(enc.drop_vars("layer"), "encoding")
    with pytest.raises(StoreError, match="unknown store schema 'nope'"):
        validate(enc, "nope")


def test_write_rejects_invalid_dataset_without_writing(tmp_path):
    with pytest.raises(StoreError):
        write_store(_encoding().drop_vars("alpha"), tmp_path / "e.zarr", "encoding")
    assert not (tmp_path / "e.zarr").exists()


def test_read_missing_store_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="store not found"):
        read_store(tmp_path / "absent.zarr", "encoding")


def test_failed_write_leaves_no_store_and_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "e.zarr"
    first = _encoding()
    write_store(first, path, "encoding")
    real_to_zarr = xr.Dataset.to_zarr

    def broken(self, store, *args, **kwargs):
        real_to_zarr(self, store, *args, **kwargs)  # the data land in the temporary store...
        raise OSError("disk full")  # ...then the job dies before the rename

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken)
    second = _encoding() * 0 + 5
    with pytest.raises(OSError, match="disk full"):
        write_store(second, path, "encoding")
    with pytest.raises(OSError):
        write_store(second, tmp_path / "new.zarr", "encoding")
    monkeypatch.undo()
    assert not (tmp_path / "new.zarr").exists()
    np.testing.assert_array_equal(read_store(path, "encoding")["r"].values, first["r"].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.zarr"]  # no temporary siblings left


def test_overwrite_replaces_store(tmp_path):
    path = tmp_path / "p.zarr"
    write_store(_partition(), path, "partition")
    new = _partition() + 1
    write_store(new, path, "partition")
    np.testing.assert_allclose(read_store(path, "partition")["shared"].values, new["shared"].values)


def test_provenance_records_versions_and_extras():
    attrs = provenance(model="m")
    for key in ("brainalign_version", "python", "numpy", "xarray", "created"):
        assert attrs[key]
    assert attrs["model"] == "m"
    assert set(stores.SCHEMAS) == {"brain", "features", "encoding", "partition"}


def test_open_reads_the_kind_a_store_records_and_refuses_unfinished_ones(tmp_path):
    import brainalign
    from brainalign.stores import MARKER, StoreError, write_store

    ds = xr.Dataset({k: ("voxel", np.zeros(3)) for k in ("shared", "unique_a", "unique_b", "joint")},
                    attrs={"subject": "sub-01"})
    path = write_store(ds, tmp_path / "p.zarr", "partition")
    opened = brainalign.stores.open(path)
    assert opened.attrs["schema"] == "partition" and opened.attrs["subject"] == "sub-01"
    with pytest.raises(StoreError, match=r"store not found: .*nope.zarr; remake it"):
        brainalign.stores.open(tmp_path / "nope.zarr")
    (path / MARKER).unlink()
    with pytest.raises(StoreError, match=r"p.zarr has no completion marker"):
        brainalign.stores.open(path)
