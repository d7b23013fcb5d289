"""`snakemake -n` over the cneuromod/custom data rules with each movie study config.

A small Snakefile includes the shared helpers (common.smk) and the real rule files, targeting every brain store and stimulus table,
so the DAG is built with no data present. When the full workflow is present it
is dry-run as well and must stay under 10,000 jobs.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ["movie10_multimodal", "movie10_video_audio_mllm", "friends_vision_language", "nsd_mllm"]

STUB = """
from pathlib import Path
from brainalign.config import load_config

PROJECT = Path("ROOT")
config.update(load_config(config, root=PROJECT))


include: "ROOT/workflow/rules/common.smk"
include: "ROOT/workflow/rules/data_cneuromod.smk"
include: "ROOT/workflow/rules/data_custom.smk"
include: "ROOT/workflow/rules/data_nsd.smk"
include: "ROOT/workflow/rules/data_algonauts2023.smk"
rule all:
    input:
        [f"{RESULTS}/{d}/brain/{s}.zarr" for d in config["datasets"] for s in subjects(d)],
        [f"{RESULTS}/{d}/stimuli.tsv" for d in config["datasets"]],
"""


def pinned_registry(folder: Path) -> Path:
    """The model registry with a placeholder commit for remote-code entries still at "main".

    The workflow refuses remote code without a pinned commit before building any DAG;
    these dry runs load no weights, so a placeholder lets the DAG of every study be built.
    """
    from brainalign.features.registry import is_pinned, runs_remote_code

    registry = yaml.safe_load((ROOT / "config/models.yaml").read_text())
    for entry in registry["models"].values():
        if runs_remote_code(entry) and not is_pinned(entry.get("revision")):
            entry["revision"] = "0" * 40
    path = folder / "models.pinned.yaml"
    path.write_text(yaml.safe_dump(registry))
    return path


def dry_run(snakefile: Path, configfile: Path, workdir: Path) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(snakefile), "--configfile", str(configfile),
           "--directory", str(workdir), "--cores", "1", "--quiet", "rules",
           "--config", f"models_registry={pinned_registry(workdir if workdir != ROOT else Path(tempfile.mkdtemp()))}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def job_counts(text: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.M)}


@pytest.mark.parametrize("study", STUDIES)
def test_data_rules_build_dag_without_data(study, tmp_path):
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(STUB.replace("ROOT", str(ROOT)))
    cfg = yaml.safe_load((ROOT / "config/studies" / f"{study}.yaml").read_text())
    cfg["results"] = str(tmp_path / "results")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "resources/rois").mkdir(parents=True)
    (tmp_path / "resources/rois/schaefer1000_7net_groups.yaml").write_text("rois: {}\n")
    counts = job_counts(dry_run(snakefile, tmp_path / "config.yaml", tmp_path))
    (name, ds), = cfg["datasets"].items()
    n_sub = len(ds["subjects"])
    if ds["kind"] == "nsd":  # one download per key: 2 shared + per subject 40 sessions, ncsnr, mask, 5 ROIs + tables
        assert counts["nsd_stimuli"] == 1 and counts["nsd_brain"] == n_sub
        assert counts["nsd_download"] == 2 + n_sub * (40 + 1 + 1 + 2 * len(ds["nsd"]["roi_files"]))
        return
    assert counts["cneuromod_fetch"] == 1 and counts["cneuromod_stimuli"] == 1
    assert counts["cneuromod_brain"] == n_sub and counts["cneuromod_parcel_labels"] == 1


@pytest.mark.parametrize("study", STUDIES)
def test_full_workflow_dry_run_job_count(study, tmp_path):
    snakefile = ROOT / "workflow/Snakefile"
    if not snakefile.exists() or "data_cneuromod" not in snakefile.read_text():
        pytest.skip("the main Snakefile does not include the cneuromod rules yet")
    text = dry_run(snakefile, ROOT / "config/studies" / f"{study}.yaml", ROOT)
    total = re.search(r"^total\s+(\d+)$", text, re.M)
    assert total and 0 < int(total[1]) < 10_000, text[-2000:]
    cfg = yaml.safe_load((ROOT / "config/studies" / f"{study}.yaml").read_text())
    counts = job_counts(text)
    assert counts["headlines"] == 1 and cfg["headlines"]  # the paper-vs-ours table, with SPEC's numbers
    assert counts["figure"] == 2 * len(cfg["figures"]["set"])  # the paper's figure set, raster and vector
