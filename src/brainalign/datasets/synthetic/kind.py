"""The synthetic (demo) dataset kind: generated stimuli, simulated brain stores and their ground truth."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from brainalign.datasets.base import BrainJob, DatasetKind, StimuliJob
from brainalign.datasets.synthetic.simulate import load_feature_stores, simulate_subject, write_ground_truth
from brainalign.datasets.synthetic.stimuli import make_image_set, make_movie
from brainalign.stores import staged_dir, write_store, write_tsv

log = logging.getLogger(__name__)


def simulate_stimuli(params: dict, table: Path, files: Path, truth: Path) -> None:
    """Generate stimuli files and table (written last, atomically) and the ground truth."""
    with staged_dir(files) as stage:
        if params["design"] == "images":
            df = make_image_set(stage, params["seed"], params["n_images"], params["n_test"],
                                params["n_sessions"], params["image_size"])
        else:
            df = make_movie(stage, params["seed"], params["n_runs"], params["trs_per_run"], params["tr"],
                            params["fps"], params["audio_rate"], params["image_size"], params["n_test_runs"])
    write_ground_truth(params, truth)
    write_tsv(df, table)
    log.info("wrote %d stimulus rows (%s)", len(df), df["modality"].value_counts().to_dict())


def simulate_brain(
    stimuli: str, drivers: dict[str, str], params: dict, subject: str, subject_index: int, output: str
) -> None:
    """Simulate and write one subject's brain store."""
    table = pd.read_csv(stimuli, sep="\t", keep_default_na=False, na_values={"onset": [""], "duration": [""]})
    ds = simulate_subject(table, load_feature_stores(drivers), params, subject, subject_index)
    write_store(ds, output, "brain")
    log.info("wrote %s: %d samples x %d voxels", output, ds.sizes["sample"], ds.sizes["voxel"])


class Synthetic(DatasetKind):
    """Stimuli and brain responses generated from a seed (no raw files).

    The brain job's inputs are the stimulus table (``stimuli``) and, by model name,
    the feature stores of the models that drive the ROIs; the stimulus job also
    writes the ground truth (output ``truth``).
    """

    name = "synthetic"

    def prepare_stimuli(self, job: StimuliJob) -> None:
        simulate_stimuli(job.block, Path(job.table), Path(job.files), Path(job.outputs["truth"]))

    def prepare_brain(self, job: BrainJob) -> None:
        drivers = {k: v for k, v in job.inputs.items() if k != "stimuli"}
        simulate_brain(job.inputs["stimuli"], drivers, job.block, job.subject, list(job.subjects).index(job.subject),
                       job.out)
