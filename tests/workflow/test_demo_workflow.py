"""End to end: the demo DAG through Snakemake on a small config.

One run is killed while a job is running and then resumed without clean-up; a
second run goes straight through. Both must give identical results, the outputs
must be complete, and the workflow must recover the synthetic ground truth.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def small_config() -> dict:
    """The demo config with fewer stimuli, so the DAG runs in a few minutes."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    images = cfg["datasets"]["demo-images"]["synthetic"]
    images.update(n_images=240, n_test=48)
    movie = cfg["datasets"]["demo-movie"]["synthetic"]
    movie.update(n_runs=4, trs_per_run=50)
    cfg["stats"].update(n_permutations=50, n_bootstrap=200)
    return cfg


def snakemake(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def prepare(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(small_config()))


def run_to_end(workdir: Path) -> None:
    out = subprocess.run(snakemake(workdir), capture_output=True, text=True, env=env(), timeout=1500)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]


def run_killed_then_resumed(workdir: Path) -> None:
    """Kill the workflow and its running job (SIGTERM to the process group, as Ctrl-C,
    `kill` or a cluster's scancel do) while an encoding job runs, then rerun."""
    proc = subprocess.Popen(snakemake(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env(), start_new_session=True)
    logs = workdir / "results" / "logs" / "encode"
    deadline = time.time() + 1200
    try:
        while time.time() < deadline and proc.poll() is None:
            if logs.exists() and any(logs.rglob("*.log")):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "workflow ended before it could be interrupted"
        time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    run_to_end(workdir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    straight = tmp_path_factory.mktemp("straight")
    resumed = tmp_path_factory.mktemp("resumed")
    prepare(straight)
    prepare(resumed)
    run_killed_then_resumed(resumed)
    run_to_end(straight)
    return straight, resumed


def results(workdir: Path, dataset: str) -> Path:
    return workdir / "results" / dataset


def read_table(workdir: Path, dataset: str, name: str) -> pd.DataFrame:
    return pd.read_csv(results(workdir, dataset) / "tables" / f"{name}.tsv", sep="\t")


def truth(workdir: Path, dataset: str) -> dict:
    return json.loads((results(workdir, dataset) / "ground_truth.json").read_text())


def mean_over_subjects(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    sel = table[table["metric"] == metric]
    return sel.groupby(["roi", "model", "instruction", "layer"], as_index=False)["value"].mean()


# ------------------------------------------------------------------ outputs


@pytest.mark.parametrize("dataset", ["demo-images", "demo-movie"])
def test_figures_and_tables_written(runs, dataset):
    straight, _ = runs
    figures = results(straight, dataset) / "figures"
    expected = {"alignment", "alignment_groups", "layerwise", "layer_hierarchy", "map_vit", "map_vit_layer"}
    if dataset == "demo-images":
        expected |= {"instruction_roi", "partition", "partition_matrix", "residual"}
    assert {p.stem for p in figures.glob("*.png")} == expected
    for name in expected:
        for ext, size in (("png", 5000), ("pdf", 2000)):
            path = figures / f"{name}.{ext}"
            assert path.exists() and path.stat().st_size > size, path
    table = read_table(straight, dataset, "alignment")
    assert list(table.columns) == ["dataset", "subject", "roi", "model", "instruction", "layer", "metric", "value",
                                   "ceiling"]
    assert set(table["subject"]) == {"sub-01", "sub-02"}
    assert {"r", "r2", "normalized", "noise_ceiling"} <= set(table["metric"])
    stats = read_table(straight, dataset, "stats")
    assert set(stats["test"].dropna()) == {"ttest"}  # two subjects: the default is the t-test
    assert "comparison" in set(stats["analysis"])
    headlines = read_table(straight, dataset, "headlines")
    best = headlines[headlines["claim"] == "best model"]
    assert len(best) >= 3 and (best["paper"] == best["ours"]).all()  # the ground truth is recovered


def test_instruction_axis_reaches_the_tables(runs):
    table = read_table(runs[0], "demo-images", "alignment")
    llava = table[table["model"] == "llava-tiny"]
    assert set(llava["instruction"]) == {"IC", "VQ1"}
    assert set(table[table["model"] == "vit-tiny"]["instruction"]) == {"none"}


def test_report_html(runs, tmp_path):
    straight, _ = runs
    report = straight / "report.html"
    out = subprocess.run(snakemake(straight, "--report", str(report)), capture_output=True, text=True,
                         env=env(), timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert report.stat().st_size > 100_000


# ------------------------------------------------------------------ ground truth


@pytest.mark.parametrize("dataset", ["demo-images", "demo-movie"])
def test_best_model_and_layer_per_roi(runs, dataset):
    straight, _ = runs
    scores = mean_over_subjects(read_table(straight, dataset, "alignment"), "r")
    for roi, info in truth(straight, dataset)["rois"].items():
        if not info.get("best"):
            continue
        roi_scores = scores[scores["roi"] == roi].sort_values("value", ascending=False)
        top = roi_scores.iloc[0]
        assert top["model"] == info["best"]["model"], (roi, roi_scores.head(5))
        if len(info["drivers"]) == 1:
            same_model = roi_scores[roi_scores["model"] == info["best"]["model"]]
            assert int(same_model.iloc[0]["layer"]) == info["best"]["layer"], (roi, same_model.head(5))


@pytest.mark.parametrize("dataset", ["demo-images", "demo-movie"])
def test_pure_noise_roi_is_not_predicted(runs, dataset):
    scores = mean_over_subjects(read_table(runs[0], dataset, "alignment"), "r")
    noise = scores[scores["roi"] == "NOISE"]["value"]
    assert noise.abs().max() < 0.1


@pytest.mark.parametrize("dataset", ["demo-images", "demo-movie"])
def test_noise_ceiling_within_0_05_of_truth(runs, dataset):
    straight, _ = runs
    for subject in ("sub-01", "sub-02"):
        group = zarr.open_group(str(results(straight, dataset) / "brain" / f"{subject}.zarr"), mode="r")
        estimated = np.asarray(group["noise_ceiling"])
        true = np.asarray(group["true_noise_ceiling"])
        masks = np.asarray(group["roi_mask"]).astype(bool)
        signal_rois = [m for m in masks if np.mean(true[m]) > 0]
        assert len(signal_rois) >= 3
        for m in signal_rois:
            assert abs(np.nanmean(estimated[m]) - np.nanmean(true[m])) < 0.05
        # A pure-noise ROI (true ceiling 0) is estimated low; split-half values are
        # clipped at 0, so its estimate is biased upwards, never to signal levels.
        for m in masks:
            if np.mean(true[m]) == 0:
                assert np.nanmean(estimated[m]) < 0.5 * min(np.nanmean(estimated[s]) for s in signal_rois)


def test_shared_and_unique_variance_sign_and_order(runs):
    table = read_table(runs[0], "demo-images", "partition")
    pair = table[(table["a"].str.startswith("vit-tiny")) & (table["b"].str.startswith("minilm"))]
    value = pair.groupby(["roi", "metric"])["value"].mean()
    # EV is driven by the vision layer only, LANG by the text layer only, MIX by both (2:1).
    assert value["EV", "unique_a"] > value["EV", "unique_b"]
    assert value["LANG", "unique_b"] > value["LANG", "unique_a"]
    assert value["MIX", "unique_a"] > value["MIX", "unique_b"] > 0
    assert value["MIX", "shared"] > 0


# ------------------------------------------------------------------ kill and resume


def digest(path: Path) -> str:
    """Hash of a store's arrays (values, not chunk layout) or of a table's text."""
    h = hashlib.sha256()
    if path.suffix == ".zarr":
        group = zarr.open_group(str(path), mode="r")
        for name, array in sorted(group.arrays()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(np.asarray(array)).tobytes())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def outputs(workdir: Path) -> dict[str, Path]:
    found = {}
    for dataset in ("demo-images", "demo-movie"):
        base = results(workdir, dataset)
        for path in list(base.rglob("*.zarr")) + list((base / "tables").glob("*.tsv")):
            found[str(path.relative_to(workdir))] = path
    return found


def test_killed_run_resumes_with_identical_results(runs):
    straight, resumed = runs
    a, b = outputs(straight), outputs(resumed)
    assert a.keys() == b.keys()
    assert len(a) > 20
    different = [name for name in a if digest(a[name]) != digest(b[name])]
    assert not different, different


def test_nothing_left_to_do_after_resume(runs):
    _, resumed = runs
    out = subprocess.run(snakemake(resumed, "-n"), capture_output=True, text=True, env=env(), timeout=300)
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr
