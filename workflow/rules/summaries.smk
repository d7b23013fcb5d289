# Tidy ROI tables, statistics across subjects, figures.


rule summarize:
    input:
        brains=lambda wc: [brain_path(wc.dataset, s) for s in subjects(wc.dataset)],
        encoding=lambda wc: encoding_paths(wc.dataset),
        residual=lambda wc: analysis_paths("residual", wc.dataset),
        partition=lambda wc: analysis_paths("partition", wc.dataset),
    output:
        alignment=report(
            table_pattern("alignment"),
            caption="../report/alignment.rst",
            category="{dataset}",
            subcategory="tables",
        ),
        residual=table_pattern("residual"),
        partition=table_pattern("partition"),
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
        alignment=table_pattern("alignment"),
        residual=table_pattern("residual"),
        partition=table_pattern("partition"),
    output:
        report(
            table_pattern("stats"),
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
            FIGURE,
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
        caption=lambda wc: figure_caption(config, wc.dataset, wc.figure),
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
        alignment=table_pattern("alignment"),
        partition=table_pattern("partition"),
        stats=table_pattern("stats"),
        truth=lambda wc: ground_truth_input(wc.dataset),
    output:
        report(
            table_pattern("headlines"),
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
