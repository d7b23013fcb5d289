"""Each study config against SPEC.md's parameters (tests/studies/spec_params.yaml).

A difference passes only when it is listed as an accepted deviation whose phrase
appears in the config's comments; a listed deviation that is no longer a difference
fails, so the list stays true.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from brainalign.config import load_config, read_instructions, resource_path

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((Path(__file__).with_name("spec_params.yaml")).read_text())["studies"]


def _rois(kind: str, block: dict[str, Any]) -> set[str]:
    """ROI names a dataset block yields (group names; NSD: also every label of its files)."""
    groups = yaml.safe_load(resource_path(block["roi_groups"]).read_text())["rois"]
    names = set(groups)
    if kind == "nsd":
        tables = ROOT / "resources/rois/nsd/label_tables"
        for f in block["roi_files"]:
            lines = (tables / f"{f}.mgz.ctab").read_text().splitlines()
            names |= {ln.split()[1] for ln in lines if ln.split() and ln.split()[0] != "0"}
    return names


def actual(cfg: dict[str, Any], key: str, want: Any) -> Any:
    """The config's value of SPEC parameter ``key`` (in ``want``'s form)."""
    (ds,) = cfg["datasets"].values()
    block, enc = ds.get(ds["kind"], {}), cfg["encoding"]
    simple = {
        "subjects": lambda: ds["subjects"], "train": lambda: block["train"],
        "test": lambda: block["test"], "models": lambda: sorted(ds["models"]),
        "instructions": lambda: sorted(ds["instructions"]), "delays": lambda: enc["delays"],
        "n_folds": lambda: enc["n_folds"], "stats_test": lambda: cfg["stats"]["test"],
        "banding": lambda: enc.get("banding", "none"),
        "allow_remote_code": lambda: cfg["features"]["allow_remote_code"],
        "nested_cv": lambda: int(enc.get("outer_folds", 0)) > 0,
        "ceiling": lambda: "nsd" if ds["kind"] == "nsd" else block["ceiling"],
        "alphas": lambda: {k: enc["alphas"][k] for k in want},
        "hub_ids": lambda: {m: cfg["registry"].models[m].get("hub_id") for m in want},
        "residual_targets": lambda: sorted({r["target"]["model"] for r in cfg["residual"]}),
    }
    if key in simple:
        return simple[key]()
    if key == "rois":  # every SPEC ROI must exist (others may too)
        return sorted(set(want) & _rois(ds["kind"], block))
    if key == "comparisons":  # every SPEC comparison must be configured
        return [c for c in want if c in cfg["stats"].get("comparisons", [])]
    if key == "instruction_texts":
        texts = read_instructions(ROOT / cfg["instructions_registry"])
        return {s: {c: texts.get(s, {}).get(c) for c in codes} for s, codes in want.items()}
    raise KeyError(f"spec_params.yaml: unknown parameter {key!r}")


def _normalise(key: str, value: Any) -> Any:
    return sorted(value) if key in ("models", "instructions", "residual_targets", "rois") else value


def _comments(path: Path) -> str:
    lines = [ln.split("#", 1)[1] for ln in path.read_text().splitlines() if "#" in ln]
    return re.sub(r"\s+", " ", " ".join(lines))


def differences(study: str) -> dict[str, tuple[Any, Any]]:
    path = ROOT / "config/studies" / f"{study}.yaml"
    cfg = load_config(yaml.safe_load(path.read_text()), root=ROOT)
    out = {}
    for key, want in SPEC[study]["spec"].items():
        got = actual(cfg, key, want)
        if _normalise(key, got) != _normalise(key, want):
            out[key] = (got, want)
    return out


@pytest.mark.parametrize("study", sorted(SPEC))
def test_study_config_matches_spec_or_lists_the_deviation(study):
    diffs = differences(study)
    accepted = SPEC[study].get("deviations") or {}
    unlisted = {k: v for k, v in diffs.items() if k not in accepted}
    assert not unlisted, f"{study}: differences from SPEC not listed as deviations (got, SPEC): {unlisted}"
    stale = sorted(set(accepted) - set(diffs))
    assert not stale, f"{study}: listed deviations that are no longer differences: {stale}"
    comments = _comments(ROOT / "config/studies" / f"{study}.yaml")
    for key, dev in accepted.items():
        assert dev["reason"] and dev["comment"] in comments, (
            f"{study}: deviation {key!r} is not explained in the config's comments ({dev['comment']!r})")


def test_every_study_config_has_spec_parameters():
    configs = {p.stem for p in (ROOT / "config/studies").glob("*.yaml")}
    assert configs == set(SPEC)


def test_a_difference_is_detected(monkeypatch):
    """The check can fail: a changed delay list is a difference."""
    spec = {**SPEC["movie10_multimodal"]["spec"], "delays": [1, 2, 3]}
    monkeypatch.setitem(SPEC, "movie10_multimodal", {"spec": spec, "deviations": {}})
    assert "delays" in differences("movie10_multimodal")
