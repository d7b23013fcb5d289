import os
import re

from snakemake.logging import logger

from brainalign.config import (
    feature_sets,
    ref_name,
    registry_of,
    remote_code_problems,
)
from brainalign.features.environment import model_environment
from brainalign.features.lock import lock_path, read_lock, unpinned
from brainalign.features.resources import rule_resources
from brainalign.figure_sets import (
    figure_caption,
    figure_spec,
    figure_specs,
    map_feature_set,
)
from brainalign.rerun import feature_job_params, trigger_settings
from brainalign.result_paths import ANALYSIS_REFS, TABLES, pattern, result_path

RESULTS = config["results"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
# Path patterns of the stores and tables (wildcards in braces), from brainalign.result_paths.
BRAIN = pattern(RESULTS, "brain")
FEATURES = pattern(RESULTS, "features")
ENCODING = pattern(RESULTS, "encoding")
RESIDUAL = pattern(RESULTS, "residual")
PARTITION = pattern(RESULTS, "partition")
TABLE = pattern(RESULTS, "table")
FIGURE = pattern(RESULTS, "figure")
GROUND_TRUTH = pattern(RESULTS, "ground_truth")
STIMULI = pattern(RESULTS, "stimuli")
STIMULUS_FILES = pattern(RESULTS, "stimulus_files")

for _problem in remote_code_problems(config):
    logger.warning(f"WARNING: {_problem}")


wildcard_constraints:
    subject="[A-Za-z0-9-]+",
    instruction="[A-Za-z0-9_-]+",
    model="[^/@]+",


def datasets_of_kind(kind):
    """Names of configured datasets of one kind."""
    return [n for n, d in config["datasets"].items() if d["kind"] == kind]


def dataset_wildcard(kind):
    """Regex matching only the datasets of one kind (matches nothing if there are none)."""
    names = datasets_of_kind(kind)
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def dataset_cfg(name):
    """The configuration block of a dataset."""
    return config["datasets"][name]


def subjects(dataset):
    return dataset_cfg(dataset)["subjects"]


def store_path(kind, **fields):
    """The path of one store (brainalign.result_paths.STORES) under the results folder."""
    return result_path(RESULTS, kind, **fields)


def features_path(dataset, model, instruction):
    return store_path("features", dataset=dataset, model=model, instruction=instruction)


def brain_path(dataset, subject):
    return store_path("brain", dataset=dataset, subject=subject)


def encoding_paths(dataset, sets=None):
    """Encoding stores of every subject for ``sets`` (default: every feature set of the dataset)."""
    return [
        store_path("encoding", dataset=dataset, subject=s, model=m, instruction=i)
        for s in subjects(dataset)
        for m, i in (sets or feature_sets(config, dataset))
    ]


def analysis_items(kind, dataset):
    """Residual or partition entries of the config that concern ``dataset``."""
    return [a for a in config[kind] if a["dataset"] == dataset]


def analysis_paths(kind, dataset):
    """Residual or partition stores of a dataset: one per configured pair and subject."""
    ref_a, ref_b = ANALYSIS_REFS[kind]
    return [
        store_path(
            kind,
            dataset=dataset,
            subject=s,
            a=ref_name(item[ref_a]),
            b=ref_name(item[ref_b]),
        )
        for item in analysis_items(kind, dataset)
        for s in subjects(dataset)
    ]


def figure_names(dataset):
    return [s["name"] for s in figure_specs(config, dataset)]


def figure_formats():
    fmt = config["figures"]
    return [fmt["format"]] + [
        v for v in [fmt["vector"]] if v not in ("none", fmt["format"])
    ]


def table_pattern(table):
    """Path pattern of one table of a dataset (``{dataset}`` left as a wildcard)."""
    return TABLE.replace("{table}", table)


def table_paths(dataset):
    return {t: result_path(RESULTS, "table", dataset=dataset, table=t) for t in TABLES}


def figure_inputs(wildcards):
    """Tables of the dataset; a brain map also reads its feature set's stores."""
    inputs = table_paths(wildcards.dataset)
    spec = figure_spec(config, wildcards.dataset, wildcards.figure)
    if spec["type"] == "brain_map":
        model_instruction = map_feature_set(config, wildcards.dataset, spec)
        inputs["encoding"] = encoding_paths(wildcards.dataset, [model_instruction])
        inputs["brains"] = [
            brain_path(wildcards.dataset, s) for s in subjects(wildcards.dataset)
        ]
    return inputs


def figure_labels(wildcards):
    """Report labels: the figure's place in the paper's order, its name and format."""
    names = figure_names(wildcards.dataset)
    order = names.index(wildcards.figure) + 1 if wildcards.figure in names else 0
    return {
        "#": f"{order:02d}",
        "figure": wildcards.figure,
        "format": wildcards.ext,
    }


def all_targets():
    out = []
    for d in config["datasets"]:
        out += [
            result_path(RESULTS, "figure", dataset=d, figure=n, ext=fmt)
            for n in figure_names(d)
            for fmt in figure_formats()
        ]
        out += [
            result_path(RESULTS, "table", dataset=d, table=t)
            for t in ("stats", "headlines")
        ]
    return out


def ground_truth_input(dataset):
    """Synthetic datasets: the ground truth the headlines compare with."""
    if dataset_cfg(dataset)["kind"] == "synthetic":
        return [result_path(RESULTS, "ground_truth", dataset=dataset)]
    return []


# ---- analyses
def ref_store(dataset, token):
    ref = parse_ref(token)
    return features_path(dataset, ref["model"], ref["instruction"])


def partition_metric(wildcards):
    for item in analysis_items("partition", wildcards.dataset):
        if ref_name(item["a"]) == wildcards.a and ref_name(item["b"]) == wildcards.b:
            return item["metric"]
    raise ValueError(
        f"no partition {wildcards.a} vs {wildcards.b} for {wildcards.dataset}"
    )


# ---- datasets: every kind's jobs get the same description (brainalign.datasets.DatasetKind)
def raw_dir(dataset):
    """The dataset's raw folder, without a trailing slash."""
    from brainalign.datasets import raw_folder

    return raw_folder(dataset_cfg(dataset))


def dataset_block(dataset):
    """The options block of a dataset's kind (defaults filled by config validation)."""
    cfg = dataset_cfg(dataset)
    return cfg.get(cfg["kind"]) or {}


def dataset_job(wildcards):
    """Params of a stimulus or brain job: the dataset's kind, raw folder, options and subjects."""
    name = wildcards.dataset
    return {
        "kind": dataset_cfg(name)["kind"],
        "raw_dir": raw_dir(name),
        "block": dataset_block(name),
        "subjects": subjects(name),
    }


def dataset_inputs(wildcards):
    """Raw files the kind's stimulus job (or a subject's brain job) reads; replacing one reruns the job."""
    from brainalign.datasets import kind

    name = wildcards.dataset
    return kind(dataset_cfg(name)["kind"]).rule_inputs(
        raw_dir(name),
        dataset_block(name),
        subjects(name),
        getattr(wildcards, "subject", None),
    )


def cneuromod_labels(wildcards):
    """Parcel label table: the configured file, or the one fetched with nilearn."""
    given = dataset_block(wildcards.dataset).get("parcel_labels")
    if given:
        return given
    return f"{RESULTS}/atlases/schaefer1000_7net.tsv"


def nsd_roots():
    """Raw folders of the configured NSD datasets (one download rule each)."""
    return sorted({raw_dir(d) for d in datasets_of_kind("nsd")})


def nsd_source(root):
    """``nsd`` block (bucket, endpoint...) of the first NSD dataset stored under ``root``."""
    return next(dataset_block(d) for d in datasets_of_kind("nsd") if raw_dir(d) == root)


def synthetic_drivers(wildcards):
    """Feature stores of the models that drive the synthetic ROIs."""
    rois = dataset_block(wildcards.dataset)["rois"]
    models = sorted(
        {d["model"] for roi in rois.values() for d in roi.get("drivers", [])}
    )
    return {m: features_path(wildcards.dataset, m, "none") for m in models}


# ---- features
def extraction_resources(wildcards):
    """Cluster resources of one extraction job (registry entry + features block)."""
    return rule_resources(MODELS_YAML, wildcards.model, config["features"])


def extraction_partition(wildcards):
    """SLURM partition: config `partitions.gpu` for jobs that ask for a GPU, else `.cpu`."""
    gpu = extraction_resources(wildcards)["gpu"]
    return config["partitions"]["gpu" if gpu else "cpu"]


def locked_inputs(wildcards):
    """The lock file, for hub models it pins (a new pin reruns their extraction)."""
    pinned = os.path.exists(MODELS_LOCK) and wildcards.model in read_lock(MODELS_LOCK)
    return [MODELS_LOCK] if pinned else []
