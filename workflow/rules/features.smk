# Model features: every layer of one model for one instruction, in one GPU job.
# Threads and resources come from the model's registry entry
# (brainalign.features.runner.job_resources): gpu=1 for GPU-class models, host memory
# for the weights, runtime, and threads for the DataLoader workers, so a cluster
# profile (workflow/profiles/slurm) can place the job.

from brainalign.features.runner import rule_resources
from brainalign.rerun import feature_job_params, trigger_settings

MODELS_YAML = PROJECT / config["models_registry"]


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
    threads: lambda wc: rule_resources(MODELS_YAML, wc.model, config["features"])["threads"]
    resources:
        gpu=lambda wc: rule_resources(MODELS_YAML, wc.model, config["features"])["gpu"],
        mem_mb=lambda wc: rule_resources(MODELS_YAML, wc.model, config["features"])[
            "mem_mb"
        ],
        runtime=lambda wc: rule_resources(MODELS_YAML, wc.model, config["features"])[
            "runtime"
        ],
    params:
        model="{model}",
        instruction="{instruction}",
        # what the store depends on (rerun triggers); runtime keys come from the config
        features=trigger_settings(config, "features"),
        depends=lambda wc: feature_job_params(config, wc.model, wc.instruction),
    script:
        "../scripts/extract_features.py"
