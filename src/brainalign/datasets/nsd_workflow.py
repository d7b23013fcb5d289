"""Input and parameter helpers of the NSD and Algonauts 2023 Snakemake rules (config in, paths out)."""

from __future__ import annotations

from brainalign.datasets import nsd_layout
from brainalign.datasets.nsd_rois import resource_path


def datasets_of(config: dict, kind: str) -> list[str]:
    return [n for n, d in config["datasets"].items() if d["kind"] == kind]


def raw_dir(config: dict, dataset: str) -> str:
    """The dataset's raw folder, without a trailing slash."""
    return str(config["datasets"][dataset].get("raw_dir", "data")).rstrip("/") or "/"


def block(config: dict, dataset: str, kind: str = "nsd") -> dict:
    return config["datasets"][dataset].get(kind, {}) or {}


def settings(config: dict, dataset: str) -> dict:
    return nsd_layout.settings(block(config, dataset))


def nsd_roots(config: dict) -> list[str]:
    """Raw folders of the configured NSD datasets (one download rule each)."""
    return sorted({raw_dir(config, d) for d in datasets_of(config, "nsd")})


def nsd_source(config: dict, root: str) -> dict:
    """``nsd`` block (bucket, endpoint...) of the first NSD dataset stored under ``root``."""
    return next(block(config, d) for d in datasets_of(config, "nsd") if raw_dir(config, d) == root)


def files(config: dict, dataset: str, keys) -> list[str]:
    return [f"{raw_dir(config, dataset)}/{k}" for k in keys]


def stimuli_inputs(config: dict, dataset: str) -> list[str]:
    """Design and stimulus tables (the images themselves are read remotely)."""
    return files(config, dataset, nsd_layout.shared_keys(settings(config, dataset)).values())


def brain_inputs(config: dict, dataset: str, subject: str) -> dict:
    """Every raw file of one subject's brain store, plus the ROI group files."""
    cfg = settings(config, dataset)
    keys = list(nsd_layout.shared_keys(cfg).values())
    for group in nsd_layout.subject_keys(cfg, subject).values():
        keys += group
    out = {"raw": files(config, dataset, keys), "roi_groups": str(resource_path(cfg["roi_groups"]))}
    if cfg["glasser"]:
        out["glasser_groups"] = str(resource_path(cfg["glasser_groups"]))
    return out


def algonauts2023_roi_groups(config: dict, dataset: str) -> str:
    path = block(config, dataset, "algonauts2023").get("roi_groups", "resources/rois/nsd/groups.yaml")
    return str(resource_path(path))
