# Model features: every layer of one model for one instruction, in one GPU job.
# Threads and resources come from the model's registry entry
# (brainalign.features.runner.job_resources): gpu=1 for GPU-class models, host memory
# for the weights, runtime, and threads for the DataLoader workers, so a cluster
# profile (workflow/profiles/slurm) can place the job.

from snakemake.logging import logger

from brainalign.features.environment import model_environment
from brainalign.features.lock import lock_path, read_lock, unpinned
from brainalign.features.runner import rule_features, rule_resources

MODELS_YAML = PROJECT / config["models_registry"]
MODELS_LOCK = os.path.relpath(lock_path(MODELS_YAML))
_unpinned = unpinned(
    config["_models"], [m for d in config["datasets"].values() for m in d["models"]], MODELS_YAML
)
if _unpinned:
    logger.warning(
        f"unpinned model revisions (no commit in {MODELS_LOCK}): {', '.join(_unpinned)}; "
        "pin them with: snakemake lock_models"
    )


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


rule lock_models:
    output:
        MODELS_LOCK,
    log:
        f"{LOGS}/lock_models.log",
    localrule: True
    params:
        models_yaml=config["models_registry"],
    script:
        "../scripts/lock_models.py"


rule extract_features:
    input:
        stimuli=f"{RESULTS}/{{dataset}}/stimuli.tsv",
        lock=locked_inputs,
    output:
        directory(f"{RESULTS}/{{dataset}}/features/{{model}}/{{instruction}}.zarr"),
    log:
        f"{LOGS}/extract_features/{{dataset}}/{{model}}/{{instruction}}.log",
    benchmark:
        f"{BENCH}/extract_features/{{dataset}}/{{model}}/{{instruction}}.tsv"
    conda:
        "../../envs/features.yaml"
    threads: lambda wc: extraction_resources(wc)["threads"]
    resources:
        gpu=lambda wc: extraction_resources(wc)["gpu"],
        mem_mb=lambda wc: extraction_resources(wc)["mem_mb"],
        runtime=lambda wc: extraction_resources(wc)["runtime"],
        slurm_partition=extraction_partition,
    params:
        model="{model}",
        instruction="{instruction}",
        features=rule_features(config["features"]),
        models_yaml=config["models_registry"],
        instructions_yaml=config["instructions_registry"],
        # the model's own environment (registry `environment:`; "" = this interpreter)
        environment=lambda wc: model_environment(MODELS_YAML, wc.model) or "",
        envs_dir=config["envs_dir"],
        feature_cache=config["feature_cache"],
    script:
        "../scripts/extract_features.py"
