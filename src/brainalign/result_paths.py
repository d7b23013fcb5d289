"""Where the workflow writes each result: one path template per kind, under the config's ``results``.

The rules (``workflow/rules/common.smk``) turn the templates into path patterns whose
fields are Snakemake wildcards; :mod:`brainalign.store_check` fills them in to list the
stores a configuration produces. The library itself never reads identities from these
paths: every store records its subject, model and instruction in its attributes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoreKind:
    """A kind of zarr store the workflow writes: its path template and the schema it holds."""

    template: str
    schema: str


STORES: dict[str, StoreKind] = {
    "brain": StoreKind("{dataset}/brain/{subject}.zarr", "brain"),
    "features": StoreKind("{dataset}/features/{model}/{instruction}.zarr", "features"),
    "encoding": StoreKind("{dataset}/encoding/{subject}/{model}/{instruction}.zarr", "encoding"),
    "residual": StoreKind("{dataset}/residual/{subject}/{a}__minus__{b}.zarr", "encoding"),
    "partition": StoreKind("{dataset}/partition/{subject}/{a}__{b}.zarr", "partition"),
}

#: Analysis stores: the keys of their config entries (``residual:``, ``partition:``) naming the
#: two feature references that fill ``{a}`` and ``{b}`` of the template.
ANALYSIS_REFS: dict[str, tuple[str, str]] = {"residual": ("target", "remove"), "partition": ("a", "b")}

#: The ROI tables of a dataset that the statistics and figures read (``tables/{table}.tsv``).
TABLES: tuple[str, ...] = ("alignment", "residual", "partition", "stats")

FILES: dict[str, str] = {
    "stimuli": "{dataset}/stimuli.tsv",
    "stimulus_files": "{dataset}/stimuli",  # the files the stimulus table names (frames, audio, images)
    "ground_truth": "{dataset}/ground_truth.json",
    "table": "{dataset}/tables/{table}.tsv",
    "figure": "{dataset}/figures/{figure}.{ext}",
}


def template(kind: str) -> str:
    """The template of a store kind or of a file of :data:`FILES`, naming the known kinds otherwise."""
    if kind in STORES:
        return STORES[kind].template
    if kind in FILES:
        return FILES[kind]
    raise KeyError(f"no result path {kind!r}; known: {', '.join([*STORES, *FILES])}")


def pattern(results: str, kind: str) -> str:
    """The path pattern of ``kind`` under ``results``, its fields left as (Snakemake) wildcards."""
    return f"{results}/{template(kind)}"


def result_path(results: str, kind: str, **fields: str) -> str:
    """The path of one result of ``kind`` under ``results``."""
    return pattern(results, kind).format(**fields)
