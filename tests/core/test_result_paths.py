"""Path templates of the workflow's results: one per kind, filled in by the rules and the store checker."""

from __future__ import annotations

import pytest

from brainalign.result_paths import STORES, pattern, result_path


def test_patterns_leave_wildcards_and_paths_fill_them():
    assert pattern("results", "brain") == "results/{dataset}/brain/{subject}.zarr"
    assert result_path("out", "residual", dataset="d", subject="sub-01", a="m@none@Lall", b="n@none@L3") == \
        "out/d/residual/sub-01/m@none@Lall__minus__n@none@L3.zarr"
    assert result_path("r", "table", dataset="d", table="stats") == "r/d/tables/stats.tsv"
    assert {k.schema for k in STORES.values()} == {"brain", "features", "encoding", "partition"}


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(KeyError, match="no result path 'maps'; known: brain, features, encoding"):
        pattern("results", "maps")
