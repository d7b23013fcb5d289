# Algonauts 2023 challenge release (kind "algonauts2023"): files placed in raw_dir by
# the user (the release needs a sign-up), converted to the store contracts.
from brainalign.datasets import nsd_workflow as nsdw


rule algonauts2023_stimuli:
    input:
        raw=lambda wc: algonauts2023_raw_inputs(wc.dataset),
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
        raw_dir=lambda wc: nsdw.raw_dir(config, wc.dataset),
        block=lambda wc: nsdw.block(config, wc.dataset, "algonauts2023"),
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/algonauts2023_stimuli.py"


rule algonauts2023_brain:
    input:
        stimuli=STIMULI,
        roi_groups=lambda wc: nsdw.algonauts2023_roi_groups(config, wc.dataset),
        raw=lambda wc: algonauts2023_raw_inputs(wc.dataset, wc.subject),
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
        raw_dir=lambda wc: nsdw.raw_dir(config, wc.dataset),
        block=lambda wc: nsdw.block(config, wc.dataset, "algonauts2023"),
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/algonauts2023_brain.py"
