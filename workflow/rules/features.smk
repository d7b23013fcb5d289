# Model features: every layer of one model for one instruction, in one GPU job.


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
    resources:
        gpu=config["features"]["gpu"],
        mem_mb=config["features"]["mem_mb"],
        runtime=config["features"]["runtime"],
    params:
        model="{model}",
        instruction="{instruction}",
        features={
            k: v
            for k, v in config["features"].items()
            if k not in ("gpu", "mem_mb", "runtime")
        },
        models_yaml=config["models_registry"],
        instructions_yaml=config["instructions_registry"],
    script:
        "../scripts/extract_features.py"
