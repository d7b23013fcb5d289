# Model features: every layer of one model for one instruction, in one GPU job.
# Resources come from the model's registry entry (brainalign.features.runner.job_resources):
# gpu=1 for GPU-class models, host memory for the weights, runtime, and threads for
# the DataLoader workers, so a cluster profile (workflow/profiles/slurm) can place it.

import functools

from brainalign.features.registry import get_model, load_registry
from brainalign.features.runner import job_resources


@functools.lru_cache(maxsize=None)
def extraction_resources_of(model):
    """Resources of one extraction job, from the registry entry of its model."""
    registry = load_registry(config["models_registry"])
    return job_resources(get_model(registry, model), config["features"])


def extraction_resources(wildcards):
    return extraction_resources_of(wildcards.model)


def extraction_params(wildcards):
    """extract_features keyword arguments; DataLoader workers fill the job's threads."""
    params = {
        k: v
        for k, v in config["features"].items()
        if k not in ("gpu", "mem_mb", "runtime")
    }
    res = extraction_resources(wildcards)
    if res["gpu"] and not params.get("num_workers"):
        params["num_workers"] = res["threads"] - 1
    return params


rule extract_features:
    input:
        stimuli=f"{RESULTS}/{{dataset}}/stimuli.tsv",
    output:
        directory(f"{RESULTS}/{{dataset}}/features/{{model}}/{{instruction}}.zarr"),
    log:
        f"{LOGS}/extract_features/{{dataset}}/{{model}}/{{instruction}}.log",
    benchmark:
        f"{BENCH}/extract_features/{{dataset}}/{{model}}/{{instruction}}.tsv"
    threads: lambda wildcards: extraction_resources(wildcards)["threads"]
    resources:
        gpu=lambda wildcards: extraction_resources(wildcards)["gpu"],
        mem_mb=lambda wildcards: extraction_resources(wildcards)["mem_mb"],
        runtime=lambda wildcards: extraction_resources(wildcards)["runtime"],
    params:
        model="{model}",
        instruction="{instruction}",
        features=extraction_params,
        models_yaml=config["models_registry"],
        instructions_yaml=config["instructions_registry"],
    script:
        "../scripts/extract_features.py"
