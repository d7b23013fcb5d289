"""The ``custom`` dataset kind: the user's own responses and stimuli, in the layout of docs/datasets/custom.md."""

from __future__ import annotations

from collections.abc import Sequence

from brainalign.datasets.base import BrainJob, DatasetKind, InputFiles, StimuliJob
from brainalign.datasets.custom.brain import prepare_brain
from brainalign.datasets.custom.files import raw_inputs
from brainalign.datasets.custom.stimuli import prepare_stimuli


class Custom(DatasetKind):
    """Every file of the user that a job reads is an input (input ``raw``): replacing one reruns the job."""

    name = "custom"

    def prepare_stimuli(self, job: StimuliJob) -> None:
        prepare_stimuli(job.raw_dir, job.block, list(job.subjects), job.table, job.files)

    def prepare_brain(self, job: BrainJob) -> None:
        prepare_brain(job.raw_dir, job.block, job.subject, job.inputs["stimuli"], job.out,
                      subjects=list(job.subjects))

    def rule_inputs(self, raw_dir: str, block: dict, subjects: Sequence[str], subject: str | None = None) -> InputFiles:
        return {"raw": raw_inputs(raw_dir, block, subject)}
