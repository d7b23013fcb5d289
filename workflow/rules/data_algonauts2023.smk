# Algonauts 2023 challenge release (kind "algonauts2023"): files placed in raw_dir by
# the user (the release needs a sign-up), converted to the store contracts.


rule algonauts2023_stimuli:
    input:
        unpack(dataset_inputs),
    output:
        table=STIMULI,
        files=directory(STIMULUS_FILES),
    log:
        f"{LOGS}/algonauts2023_stimuli/{{dataset}}.log",
    benchmark:
        f"{BENCH}/algonauts2023_stimuli/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("algonauts2023"),
    conda:
        "../../envs/datasets.yaml"
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_stimuli.py"


rule algonauts2023_brain:
    input:
        unpack(dataset_inputs),
        stimuli=STIMULI,
    output:
        directory(BRAIN),
    log:
        f"{LOGS}/algonauts2023_brain/{{dataset}}/{{subject}}.log",
    benchmark:
        f"{BENCH}/algonauts2023_brain/{{dataset}}/{{subject}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("algonauts2023"),
    conda:
        "../../envs/datasets.yaml"
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_brain.py"
