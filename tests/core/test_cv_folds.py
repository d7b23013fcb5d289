"""Run folds in natural order, contiguous blocks, nested CV kept apart from outer test runs."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.encoding.cv_folds import block_groups, group_folds, natural_order


def test_natural_order_puts_run_2_before_run_10():
    names = ["run10", "run2", "run1", "run11", "run-3"]
    assert natural_order(names) == ["run1", "run2", "run10", "run11", "run-3"]
    assert natural_order(["s01e10a", "s01e02b", "s01e02a", "s02e01a"]) == ["s01e02a", "s01e02b", "s01e10a", "s02e01a"]


def test_folds_are_contiguous_blocks_in_natural_order():
    runs = [f"run{i}" for i in range(1, 13)]
    groups = np.repeat(runs, 3)
    folds = group_folds(groups, 4)
    blocks = [sorted(set(groups[val]), key=lambda r: int(r[3:])) for _, val in folds]
    assert blocks == [runs[0:3], runs[3:6], runs[6:9], runs[9:12]]  # run10 and run11 with run12, not with run1


def test_fold_validation():
    with pytest.raises(ValueError, match="at least 2 runs"):
        group_folds(np.array(["a"] * 4), 3)
    assert len(group_folds(np.repeat(["a", "b", "c"], 2), 10)) == 3
    np.testing.assert_array_equal(block_groups(7, 3), [0, 0, 0, 1, 1, 2, 2])
