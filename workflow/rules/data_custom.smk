# The user's own data (kind "custom"): validated and converted to the store contracts.
# The raw files are inputs: replacing one (e.g. a subject's responses.npy) reruns its rules.
rule custom_stimuli:
    input:
        raw=lambda wc: custom_raw_inputs(wc.dataset),
    output:
        table=STIMULI,
        files=directory(STIMULUS_FILES),
    log:
        f"{LOGS}/custom_stimuli/{{dataset}}.log",
    benchmark:
        f"{BENCH}/custom_stimuli/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("custom"),
    conda:
        "../../envs/datasets.yaml"
    params:
        raw_dir=lambda wc: dataset_cfg(wc.dataset)["raw_dir"],
        block=custom_block,
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/custom_stimuli.py"


rule custom_brain:
    input:
        stimuli=STIMULI,
        raw=lambda wc: custom_raw_inputs(wc.dataset, wc.subject),
    output:
        directory(BRAIN),
    log:
        f"{LOGS}/custom_brain/{{dataset}}/{{subject}}.log",
    benchmark:
        f"{BENCH}/custom_brain/{{dataset}}/{{subject}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("custom"),
    conda:
        "../../envs/datasets.yaml"
    params:
        raw_dir=lambda wc: dataset_cfg(wc.dataset)["raw_dir"],
        block=custom_block,
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/custom_brain.py"
