"""The ``cneuromod`` dataset kind: CNeuroMod Movie10 and Friends, fetched with DataLad."""

from __future__ import annotations

from collections.abc import Sequence

from brainalign.config import resource_path
from brainalign.datasets.base import BrainJob, DatasetKind, InputFiles, StimuliJob
from brainalign.datasets.cneuromod.brain import prepare_brain
from brainalign.datasets.cneuromod.runs import settings
from brainalign.datasets.cneuromod.stimuli import prepare_stimuli


class CNeuroMod(DatasetKind):
    """A fetch job writes the manifest (input ``manifest`` of both jobs) of what it got into ``raw_dir``;
    the brain job also reads the parcel label table (input ``labels``) and the ROI groups."""

    name = "cneuromod"

    def prepare_stimuli(self, job: StimuliJob) -> None:
        prepare_stimuli(job.raw_dir, job.inputs["manifest"], job.block, job.table, job.files)

    def prepare_brain(self, job: BrainJob) -> None:
        prepare_brain(job.raw_dir, job.inputs["manifest"], job.inputs["stimuli"], job.block, job.subject,
                      job.subjects, job.out, parcel_labels=job.inputs["labels"], roi_groups=job.inputs["roi_groups"])

    def rule_inputs(self, raw_dir: str, block: dict, subjects: Sequence[str], subject: str | None = None) -> InputFiles:
        """Brain: the ROI groups file (the parcel label table, input ``labels``, is configured or fetched)."""
        if subject is None:
            return {}
        return {"roi_groups": str(resource_path(settings(block)["roi_groups"]))}
