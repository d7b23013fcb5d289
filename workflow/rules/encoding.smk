# Voxelwise ridge models: per subject x model x instruction, all layers in one job.


rule encode:
    input:
        brain=BRAIN,
        features=FEATURES,
    output:
        directory(ENCODING),
    log:
        f"{LOGS}/encode/{{dataset}}/{{subject}}/{{model}}/{{instruction}}.log",
    benchmark:
        f"{BENCH}/encode/{{dataset}}/{{subject}}/{{model}}/{{instruction}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=config["encoding"]["mem_mb"],
    params:
        encoding=trigger_settings(config, "encoding"),
        stats=trigger_settings(config, "stats"),
    script:
        "../scripts/encode.py"
