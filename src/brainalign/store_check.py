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
from pathlib import Path

import yaml

from brainalign.config import feature_sets, load_config, ref_name
from brainalign.stores import StoreError, check_store, verify_store

PROJECT = Path(__file__).resolve().parents[2]


def expected_stores(cfg: dict) -> dict[str, str]:
    """Store path -> schema of every store the workflow writes for ``cfg`` (as in workflow/rules)."""
    out: dict[str, str] = {}
    res = cfg["results"]
    for name, ds in cfg["datasets"].items():
        pairs = list(feature_sets(cfg, name))
        for subject in ds["subjects"]:
            out[f"{res}/{name}/brain/{subject}.zarr"] = "brain"
            for model, instr in pairs:
                out[f"{res}/{name}/encoding/{subject}/{model}/{instr}.zarr"] = "encoding"
            for item in cfg["residual"]:
                if item["dataset"] == name:
                    token = f"{ref_name(item['target'])}__minus__{ref_name(item['remove'])}"
                    out[f"{res}/{name}/residual/{subject}/{token}.zarr"] = "encoding"
            for item in cfg["partition"]:
                if item["dataset"] == name:
                    token = f"{ref_name(item['a'])}__{ref_name(item['b'])}"
                    out[f"{res}/{name}/partition/{subject}/{token}.zarr"] = "partition"
        for model, instr in pairs:
            out[f"{res}/{name}/features/{model}/{instr}.zarr"] = "features"
    return out


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
    for path, schema in expected_stores(cfg).items():
        full = Path(workdir) / path
        if not full.exists():
            dataset = Path(path).relative_to(cfg["results"]).parts[0]
            if (Path(workdir) / cfg["results"] / dataset / "tables" / "alignment.tsv").exists():
                out.append(path)
            continue
        try:
            check_store(full, schema)
        except StoreError:
            out.append(path)
    return out


def rerun_command(paths: list[str], configfile: str | None, cores: str) -> list[str]:
    cmd = ["snakemake", "--cores", cores, "--rerun-incomplete"]
    if Path.cwd().resolve() != PROJECT:
        cmd += ["-s", str(PROJECT / "workflow" / "Snakefile")]
    if configfile:
        cmd += ["--configfile", configfile]
    return cmd + ["--forcerun", *paths]


def load(configfile: str | None) -> dict:
    """The validated config, read as the workflow reads it (the demo config by default)."""
    path = Path(configfile) if configfile else PROJECT / "config" / "config.yaml"
    return load_config(yaml.safe_load(path.read_text()) or {}, root=PROJECT, source=str(path))


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
