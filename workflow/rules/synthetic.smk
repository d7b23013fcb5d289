# The embedded demo data: stimuli and brain responses generated from a seed.


rule simulate_stimuli:
    output:
        table=f"{RESULTS}/{{dataset}}/stimuli.tsv",
        files=directory(f"{RESULTS}/{{dataset}}/stimuli"),
        truth=f"{RESULTS}/{{dataset}}/ground_truth.json",
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
        stimuli=f"{RESULTS}/{{dataset}}/stimuli.tsv",
    output:
        directory(f"{RESULTS}/{{dataset}}/brain/{{subject}}.zarr"),
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
