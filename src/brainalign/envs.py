"""Software environments: one pinned requirements file each, a venv or a conda file from it.

``envs/requirements/<name>.txt`` is the single source of an environment's versions:
``name==version`` lines, a ``# python: X.Y`` header, and ``# no-deps`` after a pin whose
own requirements must not be installed. From it

* :func:`create_venv` builds the venv ``<envs_dir>/<name>`` (pip, no conda needed) and makes
  brainalign importable in it (:func:`install_library`);
* :func:`conda_yaml` writes ``envs/<name>.yaml`` for users with conda (same pins, under pip:).

Rules find an environment's interpreter with :func:`env_python`: ``features`` (and
``analysis``, ``datasets``) are the workflow's own interpreter (the project venv, which
``make`` installs); models with their own environment (registry ``environment: <name>``)
run in ``<envs_dir>/<name>/bin/python``.

Command line: ``python -m brainalign.envs create NAME [--envs-dir DIR]``,
``python -m brainalign.envs link NAME`` (brainalign into an environment made otherwise, e.g. conda),
``python -m brainalign.envs conda`` (rewrite every envs/<name>.yaml),
``python -m brainalign.envs check NAME`` (pins that differ from the running interpreter).
"""

from __future__ import annotations

import argparse
import re
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from brainalign.config import PACKAGE, project_root

MAIN_ENVS = ("features", "analysis", "datasets")
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)$")


@dataclass
class EnvSpec:
    """An environment read from its requirements file."""

    name: str
    python: str
    pins: list[str] = field(default_factory=list)
    no_deps: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    conda_name: str = ""


def requirements_file(name: str, root: Path | None = None) -> Path:
    """``envs/requirements/<name>.txt`` of the project ``root`` (default: :func:`~brainalign.config.project_root`)."""
    path = (root or project_root()) / "envs" / "requirements" / f"{name}.txt"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.txt"))
        raise FileNotFoundError(f"no environment {name!r}: {path} missing; known: {', '.join(known)}")
    return path


def read_spec(name: str, root: Path | None = None) -> EnvSpec:
    """Parse ``envs/requirements/<name>.txt``; every requirement must be an exact pin."""
    path = requirements_file(name, root)
    spec = EnvSpec(name=name, python="", conda_name=f"brainalign-{name}")
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line, _, note = raw.partition("#")
        line, note = line.strip(), note.strip()
        if not line:
            header = raw.lstrip("# ").strip()
            if header.startswith("python:"):
                spec.python = header.split(":", 1)[1].strip()
            elif header.startswith("conda-name:"):
                spec.conda_name = header.split(":", 1)[1].strip()
            elif header:
                spec.comments.append(header)
            continue
        if not PIN.match(line):
            raise ValueError(f"{path}:{n}: {line!r} is not an exact pin (name==version)")
        (spec.no_deps if note.startswith("no-deps") else spec.pins).append(line)
    if not spec.python:
        raise ValueError(f"{path}: missing '# python: X.Y' header")
    return spec


def conda_yaml(spec: EnvSpec) -> str:
    """The conda environment file of ``spec``: its Python from conda-forge, the pins via pip."""
    lines = [f"# {c}" for c in spec.comments]
    lines += [
        f"# Generated from envs/requirements/{spec.name}.txt (python -m brainalign.envs conda);",
        "# edit the requirements file, not this one. Without conda: make env-" + spec.name,
    ]
    if spec.no_deps:
        lines.append("# then, in the environment: pip install --no-deps " + " ".join(spec.no_deps))
    if spec.name not in MAIN_ENVS:
        lines.append(f"# With conda: conda env create -p .envs/{spec.name} -f envs/{spec.name}.yaml, then "
                     f"python -m brainalign.envs link {spec.name}")
    lines += [f"name: {spec.conda_name}", "channels:", "  - conda-forge", "  - nodefaults",
              "dependencies:", f"  - python={spec.python}", "  - pip", "  - pip:"]
    lines += [f"      - {pin}" for pin in spec.pins]
    return "\n".join(lines) + "\n"


def write_conda_files(root: Path | None = None) -> list[Path]:
    """Rewrite ``envs/<name>.yaml`` for every requirements file."""
    root = root or project_root()
    written = []
    for req in sorted((root / "envs" / "requirements").glob("*.txt")):
        out = root / "envs" / f"{req.stem}.yaml"
        out.write_text(conda_yaml(read_spec(req.stem, root)))
        written.append(out)
    return written


def env_python(name: str | None, envs_dir: str | Path = ".envs", root: Path | None = None) -> str:
    """Interpreter of environment ``name``: the running one for the main environments."""
    if name in (None, "", *MAIN_ENVS):
        return sys.executable
    requirements_file(name, root)  # unknown names fail here, naming the known ones
    prefix = Path(envs_dir)
    prefix = prefix if prefix.is_absolute() else (root or project_root()) / prefix
    return str(prefix / name / "bin" / "python")


def pip_commands(spec: EnvSpec, python: str) -> list[list[str]]:
    """pip calls that install ``spec`` into the environment of ``python``."""
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    cmds = [pip + spec.pins]
    if spec.no_deps:
        cmds.append(pip + ["--no-deps"] + spec.no_deps)
    return cmds


def create_venv(name: str, envs_dir: str | Path = ".envs", root: Path | None = None,
                base_python: str = sys.executable) -> Path:
    """Create (or complete) the venv ``<envs_dir>/<name>`` from its pins, with brainalign; return its python."""
    spec = read_spec(name, root)
    if name in MAIN_ENVS:
        prefix = Path(envs_dir) if Path(envs_dir).is_absolute() else (root or project_root()) / envs_dir
        python = prefix / name / "bin" / "python"
    else:
        python = Path(env_python(name, envs_dir, root))
    if not python.exists():
        subprocess.run([base_python, "-m", "venv", str(python.parent.parent)], check=True)
    for cmd in pip_commands(spec, str(python)):
        subprocess.run(cmd, check=True)
    install_library(python)
    return python


def install_library(python: str | Path) -> Path:
    """Make this brainalign importable in the environment of ``python``; return the file or folder written.

    From a source folder (an editable install, as in development) a ``brainalign.pth``
    points the environment at the same folder, so it runs the same code as the workflow;
    an installed brainalign is copied into the environment's site-packages. Its
    dependencies are the environment's own (its pins).
    """
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    source = PACKAGE.parent
    if str(source) not in {*site.getsitepackages(), site.getusersitepackages()}:
        pth = purelib / "brainalign.pth"
        pth.write_text(f"{source}\n")
        return pth
    target = purelib / "brainalign"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def mismatches(name: str, root: Path | None = None) -> list[str]:
    """Pins of ``name`` that the running interpreter does not have at that version."""
    spec = read_spec(name, root)
    wrong = []
    for pin in spec.pins + spec.no_deps:
        dist, version = pin.split("==")
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have != version:
            wrong.append(f"{pin} (installed: {have})")
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainalign.envs", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    create = sub.add_parser("create", help="build the venv <envs-dir>/NAME from its pins")
    create.add_argument("name")
    create.add_argument("--envs-dir", default=".envs")
    create.add_argument("--python", default=sys.executable, help="base interpreter of the venv")
    link = sub.add_parser("link", help="make brainalign importable in the existing environment <envs-dir>/NAME")
    link.add_argument("name")
    link.add_argument("--envs-dir", default=".envs")
    sub.add_parser("conda", help="rewrite envs/<name>.yaml from the requirements files")
    check = sub.add_parser("check", help="pins the running interpreter does not match")
    check.add_argument("name")
    args = parser.parse_args(argv)
    if args.cmd == "create":
        print(create_venv(args.name, args.envs_dir, base_python=args.python))
    elif args.cmd == "link":
        print(install_library(env_python(args.name, args.envs_dir)))
    elif args.cmd == "conda":
        for path in write_conda_files():
            print(path.relative_to(project_root()))
    else:
        wrong = mismatches(args.name)
        print("\n".join(wrong) or f"{args.name}: every pin matches")
        return 1 if wrong else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
