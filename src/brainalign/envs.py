"""Software environments: one pinned requirements file each, a venv or a conda file from it.

``envs/requirements/<name>.txt`` is the single source of an environment's versions:
``name==version`` lines, a ``# python: X.Y`` header, and ``# no-deps`` after a pin whose
own requirements must not be installed. From it

* :func:`create_venv` builds the venv ``<envs_dir>/<name>`` (pip, no conda needed);
* :func:`conda_yaml` writes ``envs/<name>.yaml`` for users with conda (same pins, under pip:).

Rules find an environment's interpreter with :func:`env_python`: ``features`` (and
``analysis``, ``datasets``) are the workflow's own interpreter (the project venv, which
``make`` installs); models with their own environment (registry ``environment: <name>``)
run in ``<envs_dir>/<name>/bin/python``.

Command line: ``python -m brainalign.envs create NAME [--envs-dir DIR]``,
``python -m brainalign.envs conda`` (rewrite every envs/<name>.yaml),
``python -m brainalign.envs check NAME`` (pins that differ from the running interpreter).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
REQUIREMENTS = PROJECT / "envs" / "requirements"
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


def requirements_file(name: str, root: Path = PROJECT) -> Path:
    path = root / "envs" / "requirements" / f"{name}.txt"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.txt"))
        raise FileNotFoundError(f"no environment {name!r}: {path} missing; known: {', '.join(known)}")
    return path


def read_spec(name: str, root: Path = PROJECT) -> EnvSpec:
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
    lines += [f"name: {spec.conda_name}", "channels:", "  - conda-forge", "  - nodefaults",
              "dependencies:", f"  - python={spec.python}", "  - pip", "  - pip:"]
    lines += [f"      - {pin}" for pin in spec.pins]
    return "\n".join(lines) + "\n"


def write_conda_files(root: Path = PROJECT) -> list[Path]:
    """Rewrite ``envs/<name>.yaml`` for every requirements file."""
    written = []
    for req in sorted((root / "envs" / "requirements").glob("*.txt")):
        out = root / "envs" / f"{req.stem}.yaml"
        out.write_text(conda_yaml(read_spec(req.stem, root)))
        written.append(out)
    return written


def env_python(name: str | None, envs_dir: str | Path = ".envs", root: Path = PROJECT) -> str:
    """Interpreter of environment ``name``: the running one for the main environments."""
    if name in (None, "", *MAIN_ENVS):
        return sys.executable
    requirements_file(name, root)  # unknown names fail here, naming the known ones
    prefix = Path(envs_dir)
    prefix = prefix if prefix.is_absolute() else root / prefix
    return str(prefix / name / "bin" / "python")


def pip_commands(spec: EnvSpec, python: str) -> list[list[str]]:
    """pip calls that install ``spec`` into the environment of ``python``."""
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    cmds = [pip + spec.pins]
    if spec.no_deps:
        cmds.append(pip + ["--no-deps"] + spec.no_deps)
    return cmds


def create_venv(name: str, envs_dir: str | Path = ".envs", root: Path = PROJECT,
                base_python: str = sys.executable) -> Path:
    """Create (or complete) the venv ``<envs_dir>/<name>`` from its pins; return its python."""
    spec = read_spec(name, root)
    python = Path(env_python(name, envs_dir, root))
    if name in MAIN_ENVS:
        python = (Path(envs_dir) if Path(envs_dir).is_absolute() else root / envs_dir) / name / "bin" / "python"
    if not python.exists():
        subprocess.run([base_python, "-m", "venv", str(python.parent.parent)], check=True)
    for cmd in pip_commands(spec, str(python)):
        subprocess.run(cmd, check=True)
    return python


def mismatches(name: str, root: Path = PROJECT) -> list[str]:
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
    sub.add_parser("conda", help="rewrite envs/<name>.yaml from the requirements files")
    check = sub.add_parser("check", help="pins the running interpreter does not match")
    check.add_argument("name")
    args = parser.parse_args(argv)
    if args.cmd == "create":
        print(create_venv(args.name, args.envs_dir, base_python=args.python))
    elif args.cmd == "conda":
        for path in write_conda_files():
            print(path.relative_to(PROJECT))
    else:
        wrong = mismatches(args.name)
        print("\n".join(wrong) or f"{args.name}: every pin matches")
        return 1 if wrong else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
