"""Tidy ROI tables from encoding, residual and partition stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainalign.stores import StoreError, read_store, write_store
from brainalign.summaries import (
    COLUMNS,
    alignment_table,
    best_layers,
    partition_table,
    read_table,
    residual_table,
    roi_rows,
    summarize_dataset,
    write_table,
)

from .conftest import brain_dataset

MASK = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1]], dtype=bool)


def encoding_store(r: np.ndarray, nba: np.ndarray, **attrs) -> xr.Dataset:
    return xr.Dataset(
        {"r": (("layer", "voxel"), r), "r2": (("layer", "voxel"), r**2), "alpha": (("layer", "voxel"), np.ones_like(r)),
         "normalized": (("layer", "voxel"), nba), "roi_p_perm": (("layer", "roi"), np.full((r.shape[0], 2), 0.01))},
        coords={"layer": np.arange(r.shape[0]), "voxel": np.arange(r.shape[1]), "roi": ["EV", "HV"]},
        attrs={"model": "vit", "instruction": "none", **attrs},
    )


def test_roi_rows_by_hand():
    r = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    nba = np.array([[0.2, np.nan, 1.2, -0.1, 0.5]])
    mask = xr.DataArray(MASK, dims=("roi", "voxel"), coords={"roi": ["EV", "HV"]})
    rows = pd.DataFrame(roi_rows(encoding_store(r, nba), mask, {"dataset": "d", "subject": "s", "model": "vit",
                                                                 "instruction": "none"}))
    val = rows.set_index(["roi", "metric"])["value"]
    assert val["EV", "r"] == pytest.approx(0.2)
    assert val["EV", "r2"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)
    assert val["EV", "normalized"] == pytest.approx((0.2 + 1.2) / 2)  # NaN (low ceiling) voxels left out
    assert val["EV", "n_voxels"] == 2 and val["EV", "n_outside_0_1"] == 1
    assert val["HV", "normalized"] == pytest.approx((1.2 - 0.1 + 0.5) / 3)
    assert val["HV", "n_outside_0_1"] == 2  # 1.2 and -0.1 counted, not clipped
    assert val["HV", "p_perm"] == pytest.approx(0.01)
    assert set(rows["layer"]) == {0}


def _write_tree(root):
    brain = brain_dataset(np.zeros((4, 5)), ["a", "a", "b", "b"], ["train", "train", "test", "test"],
                          roi_mask=MASK)
    brain = brain.assign_coords(roi=["EV", "HV"])
    write_store(brain, root / "brain" / "sub-01.zarr", "brain")
    r = np.array([[0.1, 0.1, 0.1, 0.1, 0.1], [0.3, 0.3, 0.3, 0.2, 0.2]])
    enc = write_store(encoding_store(r, r * 2, subject="sub-01"), root / "encoding" / "sub-01" / "vit" / "none.zarr", "encoding")
    res = encoding_store(r / 2, r, subject="sub-01", removed_model="minilm", removed_instruction="none", removed_layer=3)
    resp = write_store(res, root / "residual" / "sub-01" / "vit@none@Lall__minus__minilm@none@L3.zarr", "encoding")
    part = xr.Dataset(
        {k: ("voxel", np.full(5, v)) for k, v in
         {"shared": 0.2, "unique_a": 0.1, "unique_b": 0.05, "joint": 0.35, "score_a": 0.3, "score_b": 0.25,
          "score_ab": 0.35}.items()},
        coords={"voxel": np.arange(5), "roi": ["EV", "HV"], "roi_mask": (("roi", "voxel"), MASK)},
        attrs={"metric": "normalized", "subject": "sub-01", "a_model": "vit", "a_instruction": "none", "a_layer": 1,
               "b_model": "minilm", "b_instruction": "none", "b_layer": 3},
    )
    partp = write_store(part, root / "partition" / "sub-01" / "vit@none@L1__minilm@none@L3.zarr", "partition")
    return root / "brain" / "sub-01.zarr", enc, resp, partp


def test_tables_from_stores(tmp_path):
    brain_path, enc, res, part = _write_tree(tmp_path)
    out = [tmp_path / f"{n}.tsv" for n in ("alignment", "residual", "partition")]
    summarize_dataset("demo", [str(brain_path)], [str(enc)], [str(res)], [str(part)], *map(str, out))
    align = read_table(out[0])
    assert list(align.columns) == COLUMNS + ["ceiling"]
    assert set(align["subject"]) == {"sub-01"} and set(align["dataset"]) == {"demo"}
    assert set(align["metric"]) == {"r", "r2", "normalized", "n_voxels", "n_outside_0_1", "p_perm", "noise_ceiling"}
    nba = align[(align.metric == "normalized")].set_index(["roi", "layer"])["value"]
    assert nba["EV", 1] == pytest.approx(0.6) and nba["HV", 1] == pytest.approx((0.6 + 0.4 + 0.4) / 3)
    resid = read_table(out[1])
    assert list(resid.columns) == COLUMNS + ["removed"]
    assert set(resid["removed"]) == {"minilm@none@L3"} and set(resid["subject"]) == {"sub-01"}
    parts = read_table(out[2])
    assert set(parts["a"]) == {"vit@none@L1"} and set(parts["b"]) == {"minilm@none@L3"}
    shared = parts[parts.metric == "shared"]["value"]
    assert np.allclose(shared, 0.2) and set(parts["score"]) == {"normalized"}
    assert not list(tmp_path.glob("*.tmp"))


def test_tables_read_subjects_from_the_stores_not_their_paths(tmp_path):
    """Stores anywhere (here: one flat folder) are summarised by the subject they record."""
    brain, enc, res, part = (Path(p) for p in _write_tree(tmp_path / "tree"))
    flat = tmp_path / "flat"
    flat.mkdir()
    for name, store in (("b.zarr", brain), ("e.zarr", enc), ("r.zarr", res), ("p.zarr", part)):
        shutil.copytree(store, flat / name)
    out = [tmp_path / f"{n}.tsv" for n in ("alignment", "residual", "partition")]
    summarize_dataset("demo", [str(flat / "b.zarr")], [str(flat / "e.zarr")], [str(flat / "r.zarr")],
                      [str(flat / "p.zarr")], *map(str, out))
    assert {set(read_table(o)["subject"]) == {"sub-01"} for o in out} == {True}


def test_store_without_its_subject_is_an_error_naming_it(tmp_path):
    brain, *_ = _write_tree(tmp_path)
    anonymous = write_store(encoding_store(np.zeros((1, 5)), np.zeros((1, 5))), tmp_path / "anon.zarr", "encoding")
    brains = {"sub-01": read_store(brain, "brain")}
    with pytest.raises(StoreError, match=r"anon.zarr lacks the attributes \['subject'\]"):
        alignment_table("d", brains, [str(anonymous)])
    other = write_store(encoding_store(np.zeros((1, 5)), np.zeros((1, 5)), subject="sub-02"), tmp_path / "o.zarr",
                        "encoding")
    with pytest.raises(StoreError, match=r"o.zarr is of subject 'sub-02', whose brain store is not among"):
        alignment_table("d", brains, [str(other)])


def test_tables_with_no_stores_have_columns(tmp_path):
    assert list(alignment_table("d", {}, []).columns) == COLUMNS + ["ceiling"]
    assert list(residual_table("d", {}, []).columns) == COLUMNS + ["removed"]
    assert "score" in partition_table("d", []).columns


def test_write_read_table_round_trip(tmp_path):
    df = pd.DataFrame({"subject": ["sub-01"], "roi": ["EV"], "value": [0.5]})
    write_table(df, tmp_path / "t.tsv")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.tsv"), df)
    assert [p.name for p in tmp_path.iterdir()] == ["t.tsv"]


def test_best_layers_picks_highest_layer_per_group():
    rows = []
    for subject, best in (("s1", 2), ("s2", 0)):
        for layer in range(3):
            rows.append({"dataset": "d", "subject": subject, "roi": "EV", "model": "m", "instruction": "none",
                         "layer": layer, "metric": "normalized", "value": 0.5 if layer == best else 0.1 * layer})
            rows.append({"dataset": "d", "subject": subject, "roi": "EV", "model": "m", "instruction": "none",
                         "layer": layer, "metric": "r", "value": 9.0})
    rows.append({**rows[0], "layer": 5, "value": np.nan})
    best = best_layers(pd.DataFrame(rows))
    assert sorted(zip(best["subject"], best["best_layer"], best["value"])) == [("s1", 2, 0.5), ("s2", 0, 0.5)]
    empty = best_layers(pd.DataFrame(rows).assign(metric="r"))
    assert empty.empty and "best_layer" in empty.columns


def test_roi_rows_carry_cv_score_and_fraction_of_significant_voxels():
    import xarray as xr

    from brainalign.summaries import roi_rows

    n_vox = 6
    p = np.array([[0.001, 0.001, 0.001, 0.9, 0.9, 0.9], [0.9] * 6])
    ds = xr.Dataset({name: (("layer", "voxel"), np.full((2, n_vox), 0.2)) for name in ("r", "r2", "normalized")}
                    | {"cv_score": (("layer", "voxel"), np.array([[0.1] * 6, [0.3] * 6])),
                       "p_perm": (("layer", "voxel"), p)}, coords={"layer": [0, 1]})
    mask = xr.DataArray(np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], bool), dims=("roi", "voxel"),
                        coords={"roi": ["A", "B"]})
    rows = pd.DataFrame(roi_rows(ds, mask, {"subject": "s"}, ceiling=np.full(n_vox, 0.5)))
    get = rows.set_index(["roi", "layer", "metric"])["value"]
    assert get[("A", 0, "frac_sig_voxels")] == 1.0 and get[("B", 0, "frac_sig_voxels")] == 0.0
    assert get[("A", 1, "frac_sig_voxels")] == 0.0
    assert get[("A", 1, "cv_r")] == pytest.approx(0.3) and get[("A", 0, "noise_ceiling")] == 0.5
