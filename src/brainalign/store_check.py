"""Verify every store a configuration produces; list (or remake) the missing and damaged ones.

Snakemake does not remake a deleted intermediate store while the tables made
from it are newer (snakemake#1978), and cannot see a lost or truncated chunk.
This command can::

    python -m brainalign.store_check [--configfile study.yaml] [--rerun] [--cores N]

It checks each expected store (completion marker, every file present with its
recorded size, every chunk readable) and prints the ``snakemake --forcerun``
command that remakes the bad ones and everything downstream; ``--rerun`` runs
it. Exit status: 0 when every store is sound (or was remade), 1 otherwise.
``make check-stores`` and ``make recover`` wrap it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

from brainalign.config import feature_sets, load_config, project_root, ref_name
from brainalign.result_paths import ANALYSIS_REFS, STORES, result_path
from brainalign.stores import StoreError, check_store, verify_store


def _stores_of(cfg: dict, dataset: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(store kind, path fields) of every store the workflow writes for one dataset."""
    ds = cfg["datasets"][dataset]
    pairs = list(feature_sets(cfg, dataset))
    analyses = {kind: [(ref_name(item[x]), ref_name(item[y])) for item in cfg[kind] if item["dataset"] == dataset]
                for kind, (x, y) in ANALYSIS_REFS.items()}
    for subject in ds["subjects"]:
        yield "brain", {"subject": subject}
        for model, instruction in pairs:
            yield "encoding", {"subject": subject, "model": model, "instruction": instruction}
        for kind, tokens in analyses.items():
            for a, b in tokens:
                yield kind, {"subject": subject, "a": a, "b": b}
    for model, instruction in pairs:
        yield "features", {"model": model, "instruction": instruction}


def _expected(cfg: dict) -> Iterator[tuple[str, str, str]]:
    """(dataset, store path, schema) of every store the workflow writes for ``cfg``."""
    for dataset in cfg["datasets"]:
        for kind, fields in _stores_of(cfg, dataset):
            yield dataset, result_path(cfg["results"], kind, dataset=dataset, **fields), STORES[kind].schema


def expected_stores(cfg: dict) -> dict[str, str]:
    """Store path -> schema of every store the workflow writes for ``cfg`` (brainalign.result_paths)."""
    return {path: schema for _, path, schema in _expected(cfg)}


def bad_stores(cfg: dict, workdir: str | Path = ".") -> dict[str, str]:
    """Expected stores that are missing or damaged -> the reason."""
    bad = {}
    for path, schema in expected_stores(cfg).items():
        try:
            verify_store(Path(workdir) / path, schema)
        except (StoreError, FileNotFoundError) as err:
            bad[path] = str(err).split("; remake it")[0]
    return bad


def stores_to_remake(cfg: dict, workdir: str | Path = ".") -> list[str]:
    """Quick check (no chunk is read) used when the workflow starts: stores Snakemake would miss.

    A store that exists but is unfinished or has lost files, and a missing store whose
    dataset already has its tables (Snakemake would not remake it).
    """
    out = []
    for dataset, path, schema in _expected(cfg):
        full = Path(workdir) / path
        if not full.exists():
            if (Path(workdir) / result_path(cfg["results"], "table", dataset=dataset, table="alignment")).exists():
                out.append(path)
            continue
        try:
            check_store(full, schema)
        except StoreError:
            out.append(path)
    return out


def rerun_command(paths: list[str], configfile: str | None, cores: str) -> list[str]:
    cmd = ["snakemake", "--cores", cores, "--rerun-incomplete"]
    project = project_root()
    if Path.cwd().resolve() != project:
        cmd += ["-s", str(project / "workflow" / "Snakefile")]
    if configfile:
        cmd += ["--configfile", configfile]
    return cmd + ["--forcerun", *paths]


def load(configfile: str | None) -> dict:
    """The validated config, read as the workflow reads it (the demo config by default)."""
    project = project_root()
    path = Path(configfile) if configfile else project / "config" / "config.yaml"
    return load_config(yaml.safe_load(path.read_text()) or {}, root=project, source=str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainalign.store_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", help="the study config (default: config/config.yaml)")
    parser.add_argument("--rerun", action="store_true", help="run the printed snakemake command")
    parser.add_argument("--cores", default="1", help="cores for --rerun (default 1)")
    args = parser.parse_args(argv)
    cfg = load(args.configfile)
    bad = bad_stores(cfg)
    n = len(expected_stores(cfg))
    if not bad:
        print(f"all {n} stores are complete and readable")
        return 0
    for path, reason in bad.items():
        print(f"{path}: {reason}")
    cmd = rerun_command(sorted(bad), args.configfile, args.cores)
    print(f"{len(bad)} of {n} stores to remake; run:\n  {' '.join(cmd)}")
    if not args.rerun:
        return 1
    return subprocess.run([sys.executable, "-m", *cmd]).returncode


if __name__ == "__main__":
    sys.exit(main())
