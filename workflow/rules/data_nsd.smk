# Natural Scenes Dataset (kind "nsd"): one anonymous S3 download per needed key,
# images by ranged reads of nsd_stimuli.hdf5, one brain store per subject.
from brainalign.datasets import nsd_layout
from brainalign.datasets.nsd_rois import resource_path


def nsd_settings(dataset):
    return nsd_layout.settings(dataset_cfg(dataset).get("nsd", {}))


def nsd_raw_dir(dataset):
    return dataset_cfg(dataset).get("raw_dir", "data")


def nsd_roots():
    """Raw folders of the configured NSD datasets."""
    return sorted({nsd_raw_dir(d).rstrip("/") for d in datasets_of_kind("nsd")})


def nsd_source(root):
    """Block of the NSD dataset whose files live under ``root`` (bucket, endpoint...)."""
    blocks = [
        dataset_cfg(d).get("nsd", {})
        for d in datasets_of_kind("nsd")
        if nsd_raw_dir(d).rstrip("/") == root
    ]
    return blocks[0]


def nsd_files(dataset, keys):
    return [f"{nsd_raw_dir(dataset).rstrip('/')}/{k}" for k in keys]


def nsd_brain_inputs(wildcards):
    cfg = nsd_settings(wildcards.dataset)
    keys = list(nsd_layout.shared_keys(cfg).values())
    for group in nsd_layout.subject_keys(cfg, wildcards.subject).values():
        keys += group
    files = {
        "raw": nsd_files(wildcards.dataset, keys),
        "roi_groups": str(resource_path(cfg["roi_groups"])),
    }
    if cfg["glasser"]:
        files["glasser_groups"] = str(resource_path(cfg["glasser_groups"]))
    return files


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
        lambda wc: nsd_files(
            wc.dataset, nsd_layout.shared_keys(nsd_settings(wc.dataset)).values()
        ),
    output:
        table=f"{RESULTS}/{{dataset}}/stimuli.tsv",
        files=directory(f"{RESULTS}/{{dataset}}/stimuli"),
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
        raw_dir=lambda wc: nsd_raw_dir(wc.dataset),
        block=lambda wc: dataset_cfg(wc.dataset).get("nsd", {}),
        subjects=lambda wc: subjects(wc.dataset),
    script:
        "../scripts/nsd_stimuli.py"


rule nsd_brain:
    input:
        unpack(nsd_brain_inputs),
    output:
        directory(f"{RESULTS}/{{dataset}}/brain/{{subject}}.zarr"),
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
        raw_dir=lambda wc: nsd_raw_dir(wc.dataset),
        block=lambda wc: dataset_cfg(wc.dataset).get("nsd", {}),
    script:
        "../scripts/nsd_brain.py"
