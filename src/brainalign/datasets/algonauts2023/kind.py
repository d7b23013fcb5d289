"""The ``algonauts2023`` dataset kind: the Algonauts 2023 challenge release, placed in ``raw_dir`` by the user."""

from __future__ import annotations

from collections.abc import Sequence

from brainalign.config import resource_path
from brainalign.datasets.algonauts2023.brain import prepare_brain
from brainalign.datasets.algonauts2023.release import raw_inputs, settings
from brainalign.datasets.algonauts2023.stimuli import prepare_stimuli
from brainalign.datasets.base import BrainJob, DatasetKind, InputFiles, StimuliJob


class Algonauts2023(DatasetKind):
    """The release's files a job reads are its inputs (``raw``); the brain job also reads the ROI groups."""

    name = "algonauts2023"

    def prepare_stimuli(self, job: StimuliJob) -> None:
        prepare_stimuli(job.raw_dir, job.block, job.subjects, job.table, job.files)

    def prepare_brain(self, job: BrainJob) -> None:
        prepare_brain(job.raw_dir, job.block, job.subject, job.subjects, job.inputs["stimuli"], job.out,
                      roi_groups=job.inputs["roi_groups"])

    def rule_inputs(self, raw_dir: str, block: dict, subjects: Sequence[str], subject: str | None = None) -> InputFiles:
        out: InputFiles = {"raw": raw_inputs(raw_dir, block, subjects, subject)}
        if subject is not None:
            out["roi_groups"] = str(resource_path(settings(block)["roi_groups"]))
        return out
