# CNeuroMod Movie10 / Friends: DataLad fetch, movies cut into TR windows, brain stores.


rule cneuromod_fetch:
    output:
        f"{RESULTS}/{{dataset}}/raw/manifest.tsv",
    log:
        f"{LOGS}/cneuromod_fetch/{{dataset}}.log",
    benchmark:
        f"{BENCH}/cneuromod_fetch/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("cneuromod"),
    conda:
        "../../envs/datasets.yaml"
    params:
        raw_dir=lambda wc: raw_dir(wc.dataset),
        block=lambda wc: dataset_block(wc.dataset),
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/cneuromod_fetch.py"


rule cneuromod_parcel_labels:
    output:
        f"{RESULTS}/atlases/schaefer1000_7net.tsv",
    log:
        f"{LOGS}/cneuromod_parcel_labels.log",
    conda:
        "../../envs/datasets.yaml"
    script:
        "../scripts/cneuromod_parcel_labels.py"


rule cneuromod_stimuli:
    input:
        manifest=f"{RESULTS}/{{dataset}}/raw/manifest.tsv",
    output:
        table=STIMULI,
        files=directory(STIMULUS_FILES),
    log:
        f"{LOGS}/cneuromod_stimuli/{{dataset}}.log",
    benchmark:
        f"{BENCH}/cneuromod_stimuli/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("cneuromod"),
    conda:
        "../../envs/datasets.yaml"
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_stimuli.py"


rule cneuromod_brain:
    input:
        unpack(dataset_inputs),
        manifest=f"{RESULTS}/{{dataset}}/raw/manifest.tsv",
        stimuli=STIMULI,
        labels=cneuromod_labels,
    output:
        directory(BRAIN),
    log:
        f"{LOGS}/cneuromod_brain/{{dataset}}/{{subject}}.log",
    benchmark:
        f"{BENCH}/cneuromod_brain/{{dataset}}/{{subject}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("cneuromod"),
    conda:
        "../../envs/datasets.yaml"
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_brain.py"
