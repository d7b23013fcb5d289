"""The cluster profile on a real (one-node, loopback) SLURM cluster.

A reduced demo (one synthetic image dataset, one model, two subjects: 10 sbatch jobs)
runs through ``--profile workflow/profiles/slurm`` while the test

* cancels one running encoding job (``scancel``, as a node failure or preemption would):
  the profile's ``retries: 1`` resubmits it and the failure is reported;
* then stops the submitting snakemake (SIGTERM, as Ctrl-C or a closed login session;
  snakemake cancels its jobs) and reruns the same command, which resumes: finished
  jobs are not submitted again.

It then checks every job in ``sacct`` (partition, CPUs, memory and GPU mapped from the
rules), one log per job, and tables byte-identical to a local run.
The extraction job is a CPU stand-in for a GPU model (``features.gpu: 1``): it is
placed on the ``gpu`` partition with ``--gpus=1`` and runs on the CPU.

The local run is the ``local-gpu`` profile's CPU stand-in run (it needs no SLURM): the
extraction job asks for ``gpu=1`` of the profile's one GPU and runs on the CPU.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import LocalSlurm, skip_reason

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"
PROFILE = ROOT / "workflow" / "profiles" / "slurm"
DATASET = "demo-images"
# The plugin checks job states through squeue (this cluster keeps no accounting database;
# sacct reads the job-completion record) and checks early, as the jobs are short.
PLUGIN_ARGS = ("--jobs", "2", "--slurm-status-command", "squeue",
               "--slurm-init-seconds-before-status-checks", "2")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def reduced_config() -> dict:
    """The demo's image dataset with one model and fewer stimuli."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    images = cfg["datasets"][DATASET]
    images.update(models=["vit-tiny"], instructions=[])
    images["synthetic"].update(n_images=96, n_test=24, voxels_per_roi=20, rois={
        "EV": {"noise_sd": 1.0, "drivers": [{"model": "vit-tiny", "layer": 1}]},
        "HV": {"noise_sd": 1.0, "drivers": [{"model": "vit-tiny", "layer": 3}]},
        "NOISE": {"noise_sd": 1.0},
    })
    cfg["datasets"] = {DATASET: images}
    cfg["features"]["gpu"] = 1
    cfg["stats"].update(n_permutations=20, n_bootstrap=50)
    cfg.update(residual=[], partition=[])
    return cfg


def prepare(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(reduced_config()))
    return workdir


def snakemake(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(workdir / "config.yaml"), *args]


def slurm_run(workdir: Path) -> list[str]:
    return snakemake(workdir, "--profile", str(PROFILE), *PLUGIN_ARGS)


def job_env(base: dict | None = None) -> dict:
    return {**(base or os.environ), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def wait_for(condition, what: str, timeout: float = 900, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"snakemake ended (rc {proc.returncode}) before: {what}")
        time.sleep(1)
    raise AssertionError(f"timed out waiting for: {what}")


def running_job(cluster: LocalSlurm, rule: str) -> str | None:
    """SLURM id of a running job of ``rule`` (the plugin puts the rule in the comment)."""
    out = cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i|%k")
    for line in out.splitlines():
        jobid, _, comment = line.partition("|")
        if comment.startswith(f"rule_{rule}_") or comment == f"rule_{rule}":
            return jobid
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    c = LocalSlurm(tmp_path_factory.mktemp("cluster")).start()
    yield c
    c.stop()


LOCAL_GPU = ROOT / "workflow" / "profiles" / "local-gpu"


@pytest.fixture(scope="module")
def local_gpu_run(tmp_path_factory):
    """(workdir, log) of the reduced demo through the local-gpu profile on 2 CPU cores."""
    local = prepare(tmp_path_factory.mktemp("local"))
    out = subprocess.run(snakemake(local, "--profile", str(LOCAL_GPU), "--cores", "2"),
                         capture_output=True, text=True, env=job_env(), timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return local, out.stdout + out.stderr


def test_local_gpu_profile_dry_run_and_cpu_stand_in(local_gpu_run):
    local, log = local_gpu_run
    extraction = log[log.index("rule extract_features:"):]
    assert re.search(r"resources: .*gpu=1", extraction.split("\n\n")[0]), extraction[:800]
    assert (local / "results" / DATASET / "tables" / "stats.tsv").exists()
    assert dag_total(demo_dry_run("workflow/profiles/local-gpu")) == dag_total(demo_dry_run(None))


def demo_dry_run(profile: str | None) -> str:
    """`snakemake --profile <profile> -n` on the demo, as the README spells it (no profile: the default)."""
    args = ["--profile", profile] if profile else []
    out = subprocess.run([sys.executable, "-m", "snakemake", *args, "-n"], cwd=ROOT,
                         capture_output=True, text=True, env=job_env(), timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def test_slurm_profile_dry_run_without_a_cluster():
    """The plugin is installed with the project; a dry run needs no SLURM."""
    log = demo_dry_run("workflow/profiles/slurm")
    assert dag_total(log) == dag_total(demo_dry_run(None))  # the profile maps resources, not the DAG
    assert "slurm_partition=gpu" not in log  # the demo's models are CPU-class


@pytest.fixture(scope="module")
def runs(cluster, local_gpu_run, tmp_path_factory):
    """(local workdir, slurm workdir, first run's log, second run's log, cancelled job id)."""
    local, _ = local_gpu_run
    work = prepare(tmp_path_factory.mktemp("slurm"))
    first_log = work / "first.log"
    env = job_env(cluster.env)
    with open(first_log, "w") as log:
        proc = subprocess.Popen(slurm_run(work), stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        cancelled = wait_for(lambda: running_job(cluster, "encode"), "a running encode job",
                             proc=proc)
        cluster.run("scancel", cancelled)
        wait_for(lambda: "Trying to restart job" in first_log.read_text(),
                 "the cancelled job's resubmission", proc=proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    second = subprocess.run(slurm_run(work), capture_output=True, text=True, env=env, timeout=1200)
    assert second.returncode == 0, (second.stdout[-4000:] + second.stderr[-4000:]
                                    + cluster.logs_tail())
    return local, work, first_log.read_text(), second.stdout + second.stderr, cancelled


def submitted(log: str) -> dict[str, str]:
    """SLURM job id -> rule, from a snakemake log of a slurm-profile run."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", log)
    return {jobid: rule for jobid, rule in found}


def test_every_job_is_an_sbatch_job_in_sacct(runs, cluster):
    _, _, first, second, _ = runs
    jobs = {**submitted(first), **submitted(second)}
    records = {r["jobid"]: r for r in cluster.completed_jobs()}
    assert set(jobs) <= set(records), set(jobs) - set(records)
    done = [j for j in submitted(second) if records[j]["state"] == "COMPLETED"]
    assert len(done) == len(submitted(second)) > 0
    # The whole DAG less the target rule `all`: each rule completed in sacct.
    completed_rules = sorted(jobs[j] for j in jobs if records[j]["state"] == "COMPLETED")
    assert completed_rules.count("extract_features") == 1
    assert completed_rules.count("encode") == 2
    assert {"simulate_stimuli", "simulate_brain", "summarize", "stats", "figure"} <= set(completed_rules)
    local = runs[0]
    assert len(completed_rules) == dag_total(dry_run_log(local)) - 1, completed_rules  # all jobs but `all`


def dag_total(log: str) -> int:
    """The job count of a dry run's job stats."""
    match = re.search(r"total\s+(\d+)", log)
    assert match, log[-2000:]
    return int(match.group(1))


def dry_run_log(workdir: Path) -> str:
    """A dry run of the whole DAG of ``workdir``'s config, as if nothing had run."""
    out = subprocess.run(snakemake(workdir, "-n", "--forceall", "--cores", "1"), capture_output=True, text=True,
                         env=job_env(), timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def tres(record: dict[str, str]) -> dict[str, float]:
    """TRES ``cpu=8,mem=62.50G`` and TresPerJob ``gres:gpu:1`` -> cpu, mem_mb, gpu.

    (Without slurmdbd, gres/gpu cannot be a tracked TRES; the request is in TresPerJob.)"""
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}
    out = {}
    for item in record["TRES"].split(","):
        key, _, value = item.partition("=")
        if key == "mem":
            out["mem_mb"] = round(float(value[:-1]) * scale[value[-1]])
        else:
            out[key] = float(value)
    per_job = record.get("TresPerJob", "")
    out["gpu"] = int(per_job.rsplit(":", 1)[1]) if per_job.startswith("gres:gpu:") else 0
    return out


def test_resources_mapped_from_the_rules(runs, cluster):
    _, _, first, second, _ = runs
    jobs = {**submitted(first), **submitted(second)}
    expected = {  # rule -> (partition, cpus, mem_mb, gpus, time limit): profile, registry
        "extract_features": ("gpu", 1, 8000, 1, "02:00:00"),  # CPU-class model, GPU floor
        "encode": ("cpu", 8, 64000, 0, "08:00:00"),
    }
    for jobid, rule in jobs.items():
        record = cluster.job_record(jobid)
        got = tres(record)
        want = expected.get(rule, ("cpu", 1, 8000, 0, "02:00:00"))
        assert (record["Partition"], got["cpu"], got["mem_mb"], got["gpu"],
                record["TimeLimit"]) == want, (rule, record["TRES"])


def test_failed_job_retried_once_and_reported(runs):
    _, _, first, _, cancelled = runs
    assert re.search(rf"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'", first), first[-3000:]
    assert "Trying to restart job" in first


def test_rerun_resumes_after_the_submitter_was_killed(runs):
    _, _, first, second, _ = runs
    assert submitted(first) and "extract_features" in submitted(first).values()
    # Jobs finished by the killed run are not submitted again.
    assert "extract_features" not in submitted(second).values()
    assert "simulate_stimuli" not in submitted(second).values()


def test_one_log_per_job(runs):
    _, work, first, second, _ = runs
    logs = work / ".snakemake" / "slurm_logs"
    for jobid, rule in submitted(second).items():
        assert list((logs / f"rule_{rule}").rglob(f"{jobid}.log")), (rule, jobid)
    rule_logs = list((work / "results" / "logs").rglob("*.log"))
    assert len(rule_logs) >= 10


def test_tables_identical_to_a_local_run(runs):
    local, work, *_ = runs
    tables = sorted((local / "results" / DATASET / "tables").glob("*.tsv"))
    assert {t.name for t in tables} >= {"alignment.tsv", "stats.tsv"}
    for table in tables:
        other = work / "results" / DATASET / "tables" / table.name
        assert other.read_bytes() == table.read_bytes(), table.name
