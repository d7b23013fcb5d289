"""The public API: ``brainalign.encode``, ``brainalign.stores.open``; the README example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    """The python block after the ``<!-- api-example -->`` marker of README.md."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.S)
    assert found, "README.md lost its <!-- api-example --> python block"
    return found.group(1)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "test r per layer:" in out and "sub-01 my-model" in out
    assert (tmp_path / "scores.zarr").is_dir()


def test_import_is_light():
    code = ("import sys, brainalign; heavy = {'numpy', 'xarray', 'torch', 'pandas', 'scipy'} & set(sys.modules); "
            "print(sorted(heavy)); brainalign.stores; print('xarray' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split("\n")
    assert out[:2] == ["[]", "True False"]


def test_encode_reads_stores_and_fills_defaults_from_the_schema(tmp_path, event_data):
    import numpy as np
    import pytest

    import brainalign
    from brainalign.config import ConfigError
    from brainalign.stores import write_store

    brain, features = event_data
    paths = [write_store(features, tmp_path / "f.zarr", "features"), write_store(brain, tmp_path / "b.zarr", "brain")]
    settings = {"alphas": {"min_exp": -1, "max_exp": 3, "num": 5}, "n_folds": 3}
    from_paths = brainalign.encode(*paths, encoding=settings, stats={"n_permutations": 10})
    in_memory = brainalign.encode(features, brain, encoding=settings, stats={"n_permutations": 10})
    np.testing.assert_array_equal(from_paths["r"].values, in_memory["r"].values)
    assert from_paths.attrs["n_folds"] == 3 and from_paths.attrs["ceiling_min"] == 0.05  # schema default
    with pytest.raises(ConfigError, match="config key 'encoding': Additional properties .*'n_fold'"):
        brainalign.encode(features, brain, encoding={"n_fold": 3})
