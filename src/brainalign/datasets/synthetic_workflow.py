"""Workflow entry points of the synthetic (demo) dataset kind."""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

import pandas as pd

from brainalign.datasets.synthetic import load_feature_stores, simulate_subject, write_ground_truth
from brainalign.datasets.synthetic_stimuli import make_image_set, make_movie
from brainalign.stores import write_store

log = logging.getLogger(__name__)


def simulate_stimuli(params: dict, table: Path, files: Path, truth: Path) -> None:
    """Generate stimuli files and table (written last, atomically) and the ground truth."""
    tmp = files.with_name(f".{files.name}.{uuid.uuid4().hex[:8]}.tmp")
    stage = tmp / "stimuli"
    if params["design"] == "images":
        df = make_image_set(stage, params["seed"], params["n_images"], params["n_test"],
                            params["n_sessions"], params["image_size"])
    else:
        df = make_movie(stage, params["seed"], params["n_runs"], params["trs_per_run"], params["tr"],
                        params["fps"], params["audio_rate"], params["image_size"], params["n_test_runs"])
    if files.exists():
        shutil.rmtree(files)
    stage.rename(files)
    shutil.rmtree(tmp, ignore_errors=True)
    write_ground_truth(params, truth)
    tmp_table = table.with_suffix(".tsv.tmp")
    df.to_csv(tmp_table, sep="\t", index=False)
    tmp_table.replace(table)
    log.info("wrote %d stimulus rows (%s)", len(df), df["modality"].value_counts().to_dict())


def simulate_brain(
    stimuli: str, drivers: dict[str, str], params: dict, subject: str, subject_index: int, output: str
) -> None:
    """Simulate and write one subject's brain store."""
    table = pd.read_csv(stimuli, sep="\t", keep_default_na=False, na_values={"onset": [""], "duration": [""]})
    ds = simulate_subject(table, load_feature_stores(drivers), params, subject, subject_index)
    write_store(ds, output, "brain")
    log.info("wrote %s: %d samples x %d voxels", output, ds.sizes["sample"], ds.sizes["voxel"])
