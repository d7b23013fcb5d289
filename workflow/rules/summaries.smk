# Tidy ROI tables, statistics across subjects, figures.


rule summarize:
    input:
        brains=lambda wc: [brain_path(wc.dataset, s) for s in subjects(wc.dataset)],
        encoding=lambda wc: encoding_paths(wc.dataset),
        residual=lambda wc: residual_paths(wc.dataset),
        partition=lambda wc: partition_paths(wc.dataset),
    output:
        alignment=report(
            f"{RESULTS}/{{dataset}}/tables/alignment.tsv",
            caption="../report/alignment.rst",
            category="{dataset}",
            subcategory="tables",
        ),
        residual=f"{RESULTS}/{{dataset}}/tables/residual.tsv",
        partition=f"{RESULTS}/{{dataset}}/tables/partition.tsv",
    log:
        f"{LOGS}/summarize/{{dataset}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dataset="{dataset}",
    script:
        "../scripts/summarize.py"


rule stats:
    input:
        alignment=f"{RESULTS}/{{dataset}}/tables/alignment.tsv",
        residual=f"{RESULTS}/{{dataset}}/tables/residual.tsv",
        partition=f"{RESULTS}/{{dataset}}/tables/partition.tsv",
    output:
        report(
            f"{RESULTS}/{{dataset}}/tables/stats.tsv",
            caption="../report/stats.rst",
            category="{dataset}",
            subcategory="tables",
        ),
    log:
        f"{LOGS}/stats/{{dataset}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        stats=config["stats"],
        registry=registry_of(config).models,
        dataset="{dataset}",
    script:
        "../scripts/stats.py"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        report(
            f"{RESULTS}/{{dataset}}/figures/{{figure}}.{{ext}}",
            caption="../report/figure.rst",
            category="{dataset}",
            subcategory="figures",
            labels=figure_labels,
        ),
    log:
        f"{LOGS}/figure/{{dataset}}/{{figure}}.{{ext}}.log",
    wildcard_constraints:
        figure="[A-Za-z0-9_-]+",
        ext="png|pdf|svg",
    conda:
        "../../envs/analysis.yaml"
    params:
        spec=lambda wc: figure_spec(config, wc.dataset, wc.figure),
        caption=lambda wc: figure_caption(wc.dataset, wc.figure),
        figures=config["figures"],
        stats=config["stats"],
        registry=registry_of(config).models,
        dataset="{dataset}",
        all_sets=[
            list(fs) for d in config["datasets"] for fs in feature_sets(config, d)
        ],
    script:
        "../scripts/figure.py"


rule headlines:
    input:
        alignment=f"{RESULTS}/{{dataset}}/tables/alignment.tsv",
        partition=f"{RESULTS}/{{dataset}}/tables/partition.tsv",
        stats=f"{RESULTS}/{{dataset}}/tables/stats.tsv",
        truth=lambda wc: ground_truth_input(wc.dataset),
    output:
        report(
            f"{RESULTS}/{{dataset}}/tables/headlines.tsv",
            caption="../report/headlines.rst",
            category="{dataset}",
            subcategory="tables",
        ),
    log:
        f"{LOGS}/headlines/{{dataset}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        headlines=lambda wc: [
            h
            for h in config["headlines"]
            if h.get("dataset", wc.dataset) == wc.dataset
        ],
        registry=registry_of(config).models,
        dataset="{dataset}",
    script:
        "../scripts/headlines.py"
