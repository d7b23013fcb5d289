# Natural Scenes Dataset (kind "nsd"): one anonymous S3 download per needed key,
# images by ranged reads of nsd_stimuli.hdf5, one brain store per subject.
from brainalign.datasets import nsd_layout


def nsd_settings(dataset):
    return nsd_layout.settings(dataset_cfg(dataset).get("nsd", {}))


def nsd_raw_dir(dataset):
    return dataset_cfg(dataset).get("raw_dir", "data")


def nsd_roots_regex():
    """Regex of the raw folders of the configured NSD datasets (matches nothing without one)."""
    roots = sorted({nsd_raw_dir(d) for d in datasets_of_kind("nsd")})
    return "|".join(re.escape(r) for r in roots) if roots else "(?!x)x"


def nsd_source(root):
    """Block of the NSD dataset whose files live under ``root`` (bucket, endpoint...)."""
    blocks = [dataset_cfg(d).get("nsd", {}) for d in datasets_of_kind("nsd") if nsd_raw_dir(d) == root]
    return blocks[0]


def nsd_files(dataset, keys):
    return [f"{nsd_raw_dir(dataset)}/{k}" for k in keys]


def nsd_brain_inputs(wildcards):
    cfg = nsd_settings(wildcards.dataset)
    keys = list(nsd_layout.shared_keys(cfg).values())
    for group in nsd_layout.subject_keys(cfg, wildcards.subject).values():
        keys += group
    files = {"raw": nsd_files(wildcards.dataset, keys), "roi_groups": cfg["roi_groups"]}
    if cfg["glasser"]:
        files["glasser_groups"] = cfg["glasser_groups"]
    return files


rule nsd_download:
    output:
        "{nsd_root}/{key}",
    log:
        f"{LOGS}/nsd_download/{{nsd_root}}/{{key}}.log",
    wildcard_constraints:
        nsd_root=nsd_roots_regex(),
        key="(?!nsddata_stimuli/)[^ ]+",
    params:
        block=lambda wc: nsd_source(wc.nsd_root),
    resources:
        s3_transfers=1,
    script:
        "../scripts/nsd_download.py"


rule nsd_stimuli:
    input:
        lambda wc: nsd_files(wc.dataset, nsd_layout.shared_keys(nsd_settings(wc.dataset)).values()),
    output:
        table=f"{RESULTS}/{{dataset}}/stimuli.tsv",
        files=directory(f"{RESULTS}/{{dataset}}/stimuli"),
    log:
        f"{LOGS}/nsd_stimuli/{{dataset}}.log",
    benchmark:
        f"{BENCH}/nsd_stimuli/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=dataset_wildcard("nsd"),
    params:
        raw_dir=lambda wc: nsd_raw_dir(wc.dataset),
        block=lambda wc: dataset_cfg(wc.dataset).get("nsd", {}),
        subjects=lambda wc: subjects(wc.dataset),
    resources:
        s3_transfers=1,
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
    params:
        raw_dir=lambda wc: nsd_raw_dir(wc.dataset),
        block=lambda wc: dataset_cfg(wc.dataset).get("nsd", {}),
    resources:
        mem_mb=16000,
    script:
        "../scripts/nsd_brain.py"
