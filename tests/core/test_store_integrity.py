"""Store integrity: completion marker, lost or truncated chunks, the store checker command.

Wrong behaviour 7: a deleted chunk read as NaN (tables with empty values, exit 0)
and a truncated chunk failed with a codec error naming no store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from brainalign import store_check
from brainalign.stores import MARKER, StoreError, check_store, read_store, verify_store, write_store
from brainalign.summaries import summarize_dataset

from .test_summaries import _write_tree


def big_encoding(path: Path) -> Path:
    """An encoding store of several chunks per variable."""
    r = np.random.default_rng(0).uniform(0, 0.5, (3, 400)).astype(np.float32)
    ds = xr.Dataset({k: (("layer", "voxel"), r) for k in ("r", "r2", "alpha", "normalized")},
                    coords={"layer": np.arange(3), "voxel": np.arange(400)},
                    attrs={"model": "m", "instruction": "none"})
    enc = {k: {"chunks": (1, 100)} for k in ("r", "r2", "alpha", "normalized")}
    return write_store(ds, path, "encoding", encoding=enc)


def chunk(store: Path, variable: str = "r") -> Path:
    return sorted(p for p in (store / variable).iterdir() if not p.name.startswith("."))[0]


def test_marker_lists_every_file_and_is_checked(tmp_path):
    store = big_encoding(tmp_path / "e.zarr")
    check_store(store, "encoding")
    verify_store(store)
    (store / MARKER).unlink()
    with pytest.raises(StoreError, match=r"e.zarr has no completion marker .* not finished; remake it: "
                                         r"snakemake --forcerun .*e.zarr"):
        read_store(store, "encoding")


def test_7_deleted_chunk_is_an_error_naming_the_store(tmp_path):
    store = big_encoding(tmp_path / "e.zarr")
    chunk(store).unlink()
    with pytest.raises(StoreError, match=r"store .*e.zarr is damaged: missing files \['r/0.0'\]"):
        read_store(store, "encoding")
    with pytest.raises(StoreError, match="damaged"):
        read_store(store, "encoding", load=False)


def test_7_truncated_chunk_is_an_error_naming_the_store(tmp_path):
    store = big_encoding(tmp_path / "e.zarr")
    data = chunk(store).read_bytes()
    chunk(store).write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"e.zarr is damaged: files of another size \(truncated\?\) \['r/0.0'\]"):
        read_store(store, "encoding")


def test_7_garbled_chunk_of_the_same_size_is_an_error_naming_the_store(tmp_path):
    store = big_encoding(tmp_path / "e.zarr")
    data = chunk(store).read_bytes()
    chunk(store).write_bytes(bytes(len(data)))
    check_store(store)  # sizes match: only reading finds it
    with pytest.raises(StoreError, match=r"cannot read store .*e.zarr: .*remake it"):
        read_store(store, "encoding")


def test_7_summarize_stops_on_a_lost_chunk_and_writes_no_table(tmp_path):
    brain, enc, res, part = _write_tree(tmp_path)
    chunk(Path(enc), "normalized").unlink()
    out = [tmp_path / f"{n}.tsv" for n in ("alignment", "residual", "partition")]
    with pytest.raises(StoreError, match=r"none.zarr is damaged: missing files \['normalized/"):
        summarize_dataset("demo", [str(brain)], [str(enc)], [str(res)], [str(part)], *map(str, out))
    assert not out[0].exists()


CONFIG = {
    "results": "results",
    "datasets": {"tiny": {"kind": "synthetic", "subjects": ["sub-01"], "models": ["vit-tiny", "minilm"],
                          "synthetic": {"design": "images", "rois": {"EV": {"noise_sd": 1.0}}}}},
    "partition": [{"dataset": "tiny", "a": {"model": "vit-tiny", "layer": 1}, "b": {"model": "minilm", "layer": 1}}],
}


def test_store_checker_lists_missing_and_damaged_stores(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    cfg = store_check.load("c.yaml")
    expected = store_check.expected_stores(cfg)
    assert expected == {
        "results/tiny/brain/sub-01.zarr": "brain",
        "results/tiny/encoding/sub-01/vit-tiny/none.zarr": "encoding",
        "results/tiny/encoding/sub-01/minilm/none.zarr": "encoding",
        "results/tiny/partition/sub-01/vit-tiny@none@L1__minilm@none@L1.zarr": "partition",
        "results/tiny/features/vit-tiny/none.zarr": "features",
        "results/tiny/features/minilm/none.zarr": "features",
    }
    damaged = big_encoding(tmp_path / "results/tiny/encoding/sub-01/vit-tiny/none.zarr")
    chunk(damaged).unlink()
    assert store_check.stores_to_remake(cfg) == ["results/tiny/encoding/sub-01/vit-tiny/none.zarr"]
    (tmp_path / "results/tiny/tables").mkdir(parents=True)
    (tmp_path / "results/tiny/tables/alignment.tsv").write_text("x\n")
    assert len(store_check.stores_to_remake(cfg)) == 6  # missing stores under existing tables count too
    assert store_check.main(["--configfile", "c.yaml"]) == 1
    out = capsys.readouterr().out
    assert "results/tiny/encoding/sub-01/vit-tiny/none.zarr: store" in out and "damaged" in out
    assert "6 of 6 stores to remake" in out
    assert "--forcerun results/tiny/brain/sub-01.zarr" in out and "--configfile c.yaml" in out
