"""How feature sets are named, typed and coloured in tables and figures.

A feature set is a (model, instruction) pair. Its model type comes from the model
registry (``type``, or derived from ``family``, ``stream`` and ``init``); its
display name from ``display`` (or the registry name) plus the instruction code;
its colour from ``color`` or a palette fixed by the sorted list of all feature
sets of a run, so a model keeps its colour in every figure.
"""

from __future__ import annotations

import colorsys

import matplotlib
import numpy as np
import pandas as pd

FAMILY_TYPES = {
    "image": "image", "clip": "image", "video": "video", "audio": "audio", "text": "language",
    "imagebind": "cross-modal", "tvlt": "jointly pretrained",
    "mllm_image": "image MLLM", "mllm_video": "video MLLM", "mllm_audio": "audio MLLM",
}


def model_type(name: str, registry: dict[str, dict]) -> str:
    """The model's type: registry ``type``; else ``random-init`` for untrained controls of pretrained
    architectures (``init: random`` without a ``config`` block; small models built from a config block,
    like the demo's, keep their family's type); else by family (remote: instruction-following -> MLLM)."""
    entry = registry.get(name) or {}
    family = str(entry.get("family", ""))
    if entry.get("type"):
        return str(entry["type"])
    if entry.get("init") == "random" and "config" not in entry:  # a pretrained architecture, untrained
        return "random-init"
    if family.startswith("mllm_") and entry.get("stream") in ("vision", "audio"):
        return "MLLM tower"
    if family == "remote":
        return f"{entry['instruction_set']} MLLM" if entry.get("instruction_set") else "jointly pretrained"
    return FAMILY_TYPES.get(family, "other")


def display_name(model: str, instruction: str = "none", registry: dict[str, dict] | None = None) -> str:
    """``display`` of the registry entry (or the name), with the instruction code in brackets."""
    entry = (registry or {}).get(model) or {}
    base = str(entry.get("display", model))
    return base if instruction in ("none", "", None) or pd.isna(instruction) else f"{base} [{instruction}]"


def distinct_colors(n: int) -> list[tuple[float, float, float]]:
    """``n`` distinct colours: tab20, tab20b and tab20c (up to 60), evenly spaced hues beyond."""
    if n <= 60:
        cols = []
        for name in ("tab20", "tab20b", "tab20c"):
            cols += list(matplotlib.colormaps[name].colors)
        order = list(range(0, 20, 2)) + list(range(1, 20, 2))  # strong tab20 hues first
        order += list(range(20, 60))
        return [tuple(cols[i][:3]) for i in order[:n]]
    return [colorsys.hsv_to_rgb(h, 0.55 + 0.4 * (i % 2), 0.95 - 0.3 * (i % 3) / 2)
            for i, h in enumerate(np.linspace(0, 1, n, endpoint=False))]


def palette(labels: list[str], fixed: dict[str, str] | None = None) -> dict[str, tuple]:
    """Colour per label: the same label set gives the same colours in every figure."""
    unique = sorted(set(labels))
    cols = dict(zip(unique, distinct_colors(len(unique))))
    for label, colour in (fixed or {}).items():
        if label in cols:
            cols[label] = matplotlib.colors.to_rgb(colour)
    return cols


def feature_set_table(alignment: pd.DataFrame, registry: dict[str, dict] | None = None,
                      all_sets: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """One row per feature set of a table (or of ``all_sets``, e.g. every dataset of a config, so that a
    model keeps its colour across datasets): model, instruction, label, type, colour."""
    registry = registry or {}
    fs = alignment[["model", "instruction"]]
    if all_sets:
        fs = pd.concat([fs, pd.DataFrame(list(all_sets), columns=["model", "instruction"])])
    fs = fs.drop_duplicates().sort_values(["model", "instruction"])
    fs = fs.assign(label=[display_name(m, i, registry) for m, i in zip(fs["model"], fs["instruction"])],
                   type=[model_type(m, registry) for m in fs["model"]])
    fixed = {display_name(m, i, registry): registry[m]["color"] for m, i in zip(fs["model"], fs["instruction"])
             if registry.get(m, {}).get("color")}
    cols = palette(list(fs["label"]), fixed)
    return fs.assign(color=[cols[label] for label in fs["label"]]).reset_index(drop=True)
