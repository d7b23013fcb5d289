# Natural Scenes Dataset (kind "nsd"): one anonymous S3 download per needed key,
# images by ranged reads of nsd_stimuli.hdf5, one brain store per subject.

# One download rule per raw folder (usually one): each job fetches one key of the bucket.
for _index, _root in enumerate(nsd_roots()):

    rule:
        name:
            "nsd_download" if _index == 0 else f"nsd_download_{_index}"
        output:
            f"{_root}/{{key}}",
        log:
            f"{LOGS}/nsd_download/{_index}/{{key}}.log",
        wildcard_constraints:
            key="(?:nsddata|nsddata_betas)/[^ ]+",
        conda:
            "../../envs/datasets.yaml"
        resources:
            s3_transfers=1,
        params:
            block=nsd_source(_root),
            root=_root,
        script:
            "../scripts/nsd_download.py"


rule nsd_stimuli:
    input:
        unpack(dataset_inputs),
    output:
        table=STIMULI,
        files=directory(STIMULUS_FILES),
    log:
        f"{LOGS}/nsd_stimuli/{{dataset}}.log",
    benchmark:
        f"{BENCH}/nsd_stimuli/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("nsd"),
    conda:
        "../../envs/datasets.yaml"
    resources:
        s3_transfers=1,
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_stimuli.py"


rule nsd_brain:
    input:
        unpack(dataset_inputs),
    output:
        directory(BRAIN),
    log:
        f"{LOGS}/nsd_brain/{{dataset}}/{{subject}}.log",
    benchmark:
        f"{BENCH}/nsd_brain/{{dataset}}/{{subject}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("nsd"),
    conda:
        "../../envs/datasets.yaml"
    resources:
        mem_mb=16000,
    params:
        job=dataset_job,
    script:
        "../scripts/dataset_brain.py"
