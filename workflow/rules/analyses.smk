# Residual ("remove one feature space") and variance-partitioning analyses.
from brainalign.config import parse_ref
from brainalign.rerun import trigger_settings


wildcard_constraints:
    a="[^/@]+@[A-Za-z0-9_-]+@L(-?[0-9]+|all)",
    b="[^/@]+@[A-Za-z0-9_-]+@L(-?[0-9]+|all)",


rule residualize:
    input:
        brain=BRAIN,
        target=lambda wc: ref_store(wc.dataset, wc.a),
        removed=lambda wc: ref_store(wc.dataset, wc.b),
    output:
        directory(RESIDUAL),
    log:
        f"{LOGS}/residualize/{{dataset}}/{{subject}}/{{a}}__minus__{{b}}.log",
    benchmark:
        f"{BENCH}/residualize/{{dataset}}/{{subject}}/{{a}}__minus__{{b}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=config["encoding"]["mem_mb"],
    params:
        target=lambda wc: parse_ref(wc.a),
        removed=lambda wc: parse_ref(wc.b),
        encoding=trigger_settings(config, "encoding"),
        stats=trigger_settings(config, "stats"),
    script:
        "../scripts/residualize.py"


rule partition:
    input:
        brain=BRAIN,
        a=lambda wc: ref_store(wc.dataset, wc.a),
        b=lambda wc: ref_store(wc.dataset, wc.b),
    output:
        directory(PARTITION),
    log:
        f"{LOGS}/partition/{{dataset}}/{{subject}}/{{a}}__{{b}}.log",
    benchmark:
        f"{BENCH}/partition/{{dataset}}/{{subject}}/{{a}}__{{b}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=config["encoding"]["mem_mb"],
    params:
        a=lambda wc: parse_ref(wc.a),
        b=lambda wc: parse_ref(wc.b),
        metric=partition_metric,
        encoding=trigger_settings(config, "encoding"),
    script:
        "../scripts/partition.py"
