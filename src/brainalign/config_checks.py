"""Checks across config keys that a JSON schema cannot express, run before any job.

Each check raises :class:`brainalign.config.ConfigError` naming the key, the bad
value and what is allowed: safe paths (results, files inside ``raw_dir``), kind
blocks that match the kind, sizes that fit together, layer indices within the
model's layer count, distinct analyses, and the remote-code opt-in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from brainalign.features.registry import RegistryError, check_remote_code, resolve_local_path
from brainalign.safe_paths import UnsafeNameError, check_name, check_results_root, inside

CUSTOM_PATH_KEYS = ("stimuli", "responses", "samples", "runs", "rois", "noise_ceiling")


def _error(message: str) -> Exception:
    from brainalign.config import ConfigError

    return ConfigError(message)


def check_all(cfg: dict, models: dict) -> None:
    """Every cross-field check of a validated config (defaults filled)."""
    try:
        check_results_root(cfg["results"])
        for name, ds in cfg["datasets"].items():
            _check_kind_blocks(name, ds)
            if ds["kind"] == "custom":
                _check_custom_paths(name, ds)
            if ds["kind"] == "synthetic":
                _check_synthetic(name, ds, models)
            for model in ds["models"]:
                check_remote_code(model, models[model], cfg["features"]["allow_remote_code"],
                                  where=f"{cfg['models_registry']} (used by datasets.{name}.models)",
                                  require_pin=False)
    except (UnsafeNameError, RegistryError) as err:
        raise _error(str(err)) from err
    alphas = cfg["encoding"]["alphas"]
    if alphas["min_exp"] > alphas["max_exp"]:
        raise _error(f"config key 'encoding.alphas': min_exp {alphas['min_exp']} is above max_exp "
                     f"{alphas['max_exp']}; allowed: min_exp <= max_exp")
    for key in ("residual", "partition"):
        _check_analyses(key, cfg[key], models)


def _check_kind_blocks(name: str, ds: dict) -> None:
    from brainalign.config import dataset_kinds

    other = [k for k in dataset_kinds() if k in ds and k != ds["kind"]]
    if other:
        raise _error(f"config key 'datasets.{name}.{other[0]}': dataset of kind {ds['kind']!r} takes only "
                     f"the options block '{ds['kind']}'")


def _check_custom_paths(name: str, ds: dict) -> None:
    block, raw = ds["custom"], ds["raw_dir"]
    for subject in ds["subjects"]:
        for key in CUSTOM_PATH_KEYS:
            inside(raw, block[key].format(subject=subject, run="run"), f"config key 'datasets.{name}.custom.{key}'")
    for run in block["test_runs"]:
        check_name(run, f"config key 'datasets.{name}.custom.test_runs'")
    for run, path in block["test_repeats"].items():
        check_name(run, f"config key 'datasets.{name}.custom.test_repeats'")
        for subject in ds["subjects"]:
            inside(raw, path.format(subject=subject), f"config key 'datasets.{name}.custom.test_repeats.{run}'")


def _check_synthetic(name: str, ds: dict, models: dict) -> None:
    syn = ds["synthetic"]
    where = f"config key 'datasets.{name}.synthetic"
    if syn["design"] == "images" and syn["n_images"] - syn["n_test"] < syn["n_sessions"]:
        raise _error(f"{where}.n_test': {syn['n_test']} leaves too few training images of n_images "
                     f"{syn['n_images']}; allowed: n_test <= n_images - n_sessions ({syn['n_images'] - syn['n_sessions']})")
    if syn["design"] == "movie" and syn["n_test_runs"] >= syn["n_runs"] - 1:
        raise _error(f"{where}.n_test_runs': {syn['n_test_runs']} of n_runs {syn['n_runs']}; allowed: "
                     "n_test_runs <= n_runs - 2 (cross-validation needs two training runs)")
    for roi, spec in syn["rois"].items():
        for i, driver in enumerate(spec.get("drivers", [])):
            if driver["model"] in models:
                check_layer(models[driver["model"]], driver["model"], driver["layer"],
                            f"{where}.rois.{roi}.drivers[{i}].layer'")


def _check_analyses(key: str, items: list[dict], models: dict) -> None:
    seen: dict[str, int] = {}
    roles = ("target", "remove") if key == "residual" else ("a", "b")
    for i, item in enumerate(items):
        refs = [item[r] for r in roles]
        token = json.dumps([item["dataset"], refs], sort_keys=True)
        if token in seen:
            raise _error(f"config key '{key}[{i}]': the same analysis as {key}[{seen[token]}]; list each once")
        seen[token] = i
        if refs[0] == refs[1]:
            raise _error(f"config key '{key}[{i}]': {roles[0]} and {roles[1]} are the same feature space "
                         f"{refs[0]}; allowed: two different ones")
        for role, ref in zip(roles, refs):
            if ref.get("layer") is not None and ref["model"] in models:
                check_layer(models[ref["model"]], ref["model"], ref["layer"], f"config key '{key}[{i}].{role}.layer'")


def known_layer_count(entry: dict[str, Any]) -> int | None:
    """Hidden states a model's features have (embeddings included), where the registry tells."""
    if isinstance(entry.get("layers"), list):
        return len(entry["layers"])
    cfg = entry.get("config") if isinstance(entry.get("config"), dict) else None
    if cfg is None and entry.get("local_path") and entry.get("family") in ("image", "text", "audio", "video"):
        try:
            path = Path(resolve_local_path(entry["local_path"])) / "config.json"
            cfg = json.loads(path.read_text()) if path.exists() else None
        except (RegistryError, OSError, ValueError):
            cfg = None
    if cfg is None or entry.get("family") not in ("image", "text", "audio", "video", "clip"):
        return None
    n = cfg.get("num_hidden_layers")
    return int(n) + 1 if isinstance(n, int) else None


def check_layer(entry: dict[str, Any], model: str, layer: int, where: str) -> None:
    """A layer index must address one of the model's hidden states (negative from the end)."""
    n = known_layer_count(entry)
    if n is not None and not -n <= layer < n:
        raise _error(f"{where}: layer {layer} of model {model!r}, which has {n} hidden states "
                     f"(embeddings included); allowed: {-n} to {n - 1}")
