# The user's own data (kind "custom"): validated and converted to the store contracts.
# The raw files are inputs: replacing one (e.g. a subject's responses.npy) reruns its rules.
rule custom_stimuli:
    input:
        unpack(dataset_inputs),
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
        job=dataset_job,
    script:
        "../scripts/dataset_stimuli.py"


rule custom_brain:
    input:
        unpack(dataset_inputs),
        stimuli=STIMULI,
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
        job=dataset_job,
    script:
        "../scripts/dataset_brain.py"
