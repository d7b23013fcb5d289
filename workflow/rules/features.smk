# Model features: every layer of one model for one instruction, in one GPU job.
# Threads and resources come from the model's registry entry
# (brainalign.features.runner.job_resources): gpu=1 for GPU-class models, host memory
# for the weights, runtime, and threads for the DataLoader workers, so a cluster
# profile (workflow/profiles/slurm) can place the job.

from brainalign.features.environment import model_environment
from brainalign.features.runner import rule_features, rule_resources

MODELS_YAML = PROJECT / config["models_registry"]


def extraction_resources(wildcards):
    """Cluster resources of one extraction job (registry entry + features block)."""
    return rule_resources(MODELS_YAML, wildcards.model, config["features"])


def extraction_partition(wildcards):
    """SLURM partition: config `partitions.gpu` for jobs that ask for a GPU, else `.cpu`."""
    gpu = extraction_resources(wildcards)["gpu"]
    return config["partitions"]["gpu" if gpu else "cpu"]


rule extract_features:
    input:
        stimuli=f"{RESULTS}/{{dataset}}/stimuli.tsv",
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
