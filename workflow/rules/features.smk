# Model features: every layer of one model for one instruction, in one GPU job.
# Threads and resources come from the model's registry entry
# (brainalign.features.resources.job_resources): gpu=1 for GPU-class models, host memory
# for the weights, runtime, and threads for the DataLoader workers, so a cluster
# profile (workflow/profiles/slurm) can place the job.


MODELS_YAML = PROJECT / config["models_registry"]
MODELS_LOCK = os.path.relpath(lock_path(MODELS_YAML))
_unpinned = unpinned(
    registry_of(config).models,
    [m for d in config["datasets"].values() for m in d["models"]],
    MODELS_YAML,
)
if _unpinned:
    logger.warning(
        f"unpinned model revisions (no commit in {MODELS_LOCK}): {', '.join(_unpinned)}; "
        "pin them with: snakemake lock_models"
    )


rule lock_models:
    output:
        MODELS_LOCK,
    log:
        f"{LOGS}/lock_models.log",
    localrule: True
    conda:
        "../../envs/features.yaml"
    params:
        models_yaml=config["models_registry"],
    script:
        "../scripts/lock_models.py"


rule extract_features:
    input:
        stimuli=STIMULI,
        lock=locked_inputs,
    output:
        directory(FEATURES),
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
        # what the store depends on (rerun triggers); runtime keys come from the config
        features=trigger_settings(config, "features"),
        depends=lambda wc: feature_job_params(config, wc.model, wc.instruction),
        # the model's own environment (registry `environment:`; "" = this interpreter)
        environment=lambda wc: model_environment(MODELS_YAML, wc.model) or "",
    script:
        "../scripts/extract_features.py"
