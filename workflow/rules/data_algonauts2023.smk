# Algonauts 2023 challenge release (kind "algonauts2023"): files placed in raw_dir by
# the user (the release needs a sign-up), converted to the store contracts.
from brainalign.datasets.nsd_rois import resource_path


def algonauts2023_block(wildcards):
    return dataset_cfg(wildcards.dataset).get("algonauts2023", {})


def algonauts2023_roi_groups(wildcards):
    path = algonauts2023_block(wildcards).get(
        "roi_groups", "resources/rois/nsd/groups.yaml"
    )
    return str(resource_path(path))


rule algonauts2023_stimuli:
    output:
        table=f"{RESULTS}/{{dataset}}/stimuli.tsv",
        files=directory(f"{RESULTS}/{{dataset}}/stimuli"),
    log:
        f"{LOGS}/algonauts2023_stimuli/{{dataset}}.log",
    benchmark:
        f"{BENCH}/algonauts2023_stimuli/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("algonauts2023"),
    conda:
        "../../envs/datasets.yaml"
    params:
        raw_dir=lambda wc: dataset_cfg(wc.dataset).get("raw_dir", "data"),
        block=algonauts2023_block,
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/algonauts2023_stimuli.py"


rule algonauts2023_brain:
    input:
        stimuli=f"{RESULTS}/{{dataset}}/stimuli.tsv",
        roi_groups=algonauts2023_roi_groups,
    output:
        directory(f"{RESULTS}/{{dataset}}/brain/{{subject}}.zarr"),
    log:
        f"{LOGS}/algonauts2023_brain/{{dataset}}/{{subject}}.log",
    benchmark:
        f"{BENCH}/algonauts2023_brain/{{dataset}}/{{subject}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("algonauts2023"),
    conda:
        "../../envs/datasets.yaml"
    params:
        raw_dir=lambda wc: dataset_cfg(wc.dataset).get("raw_dir", "data"),
        block=algonauts2023_block,
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/algonauts2023_brain.py"
