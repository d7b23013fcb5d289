# The embedded demo data: stimuli and brain responses generated from a seed.


rule simulate_stimuli:
    output:
        table=STIMULI,
        files=directory(STIMULUS_FILES),
        truth=GROUND_TRUTH,
    log:
        f"{LOGS}/simulate_stimuli/{{dataset}}.log",
    wildcard_constraints:
        dataset=dataset_wildcard("synthetic"),
    conda:
        "../../envs/datasets.yaml"
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_stimuli.py"


rule simulate_brain:
    input:
        unpack(synthetic_drivers),
        stimuli=STIMULI,
    output:
        directory(BRAIN),
    log:
        f"{LOGS}/simulate_brain/{{dataset}}/{{subject}}.log",
    benchmark:
        f"{BENCH}/simulate_brain/{{dataset}}/{{subject}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("synthetic"),
    conda:
        "../../envs/datasets.yaml"
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_brain.py"
