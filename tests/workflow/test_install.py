"""``pip install .`` into a fresh venv outside the checkout, then the README's API example from elsewhere.

The venv sees this interpreter's packages (the dependencies, pip and setuptools) through a
``.pth`` file, so nothing is downloaded; brainalign itself must come from the venv's own
installation, with its package data (schemas, ROI definitions), not from the checkout.
"""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What `pip install .` reads: the project metadata and the package.
TREE = ("pyproject.toml", "README.md", "LICENSE", "src")


def readme_example() -> str:
    """The python block after the ``<!-- api-example -->`` marker of README.md (tests/core/test_api.py runs it too)."""
    return re.search(r"<!-- api-example -->\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)


def _copy_tree(dest: Path) -> Path:
    dest.mkdir()
    for name in TREE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _fresh_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    lib = next(where.glob("lib/python3*/site-packages"))
    (lib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return where / "bin" / "python"


def test_pip_install_outside_the_checkout_runs_the_readme_example(tmp_path):
    copy = _copy_tree(tmp_path / "copy")
    python = _fresh_venv(tmp_path / "venv")
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)}
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", str(copy)], check=True, env=env, cwd=tmp_path)
    shutil.rmtree(copy)  # the installed package must not need its source
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = ("import brainalign, sys; from brainalign.config import RESOURCES, load_schema, resource_path; "
             "print(brainalign.__file__); assert sys.prefix != sys.base_prefix; load_schema('config'); "
             "assert resource_path('resources/rois/nsd/groups.yaml').is_file()\n")
    run = subprocess.run([str(python), "-c", check + readme_example()], env=env, cwd=elsewhere,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    installed = run.stdout.splitlines()[0]
    assert installed.startswith(str(tmp_path / "venv" / "lib")), installed
    assert "test r per layer:" in run.stdout and (elsewhere / "scores.zarr").is_dir()
