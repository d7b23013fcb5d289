"""The ``nsd`` dataset kind: the Natural Scenes Dataset, read from its public S3 bucket."""

from __future__ import annotations

from collections.abc import Sequence

from brainalign.config import resource_path
from brainalign.datasets.base import BrainJob, DatasetKind, InputFiles, StimuliJob
from brainalign.datasets.nsd.brain import prepare_brain
from brainalign.datasets.nsd.layout import brain_keys, settings, shared_keys
from brainalign.datasets.nsd.stimuli import prepare_stimuli


class NSD(DatasetKind):
    """Raw files mirror the bucket's keys under ``raw_dir`` (one download job per key);
    images are read remotely. The brain job also reads the ROI group files."""

    name = "nsd"

    def prepare_stimuli(self, job: StimuliJob) -> None:
        prepare_stimuli(job.raw_dir, job.block, job.subjects, job.table, job.files)

    def prepare_brain(self, job: BrainJob) -> None:
        prepare_brain(job.raw_dir, job.block, job.subject, job.out, roi_groups=job.inputs["roi_groups"],
                      glasser_groups=job.inputs.get("glasser_groups"))

    def rule_inputs(self, raw_dir: str, block: dict, subjects: Sequence[str], subject: str | None = None) -> InputFiles:
        """Stimuli: the design and stimulus tables (images are read remotely); brain: every raw file of
        the subject and the ROI group files."""
        cfg = settings(block)
        if subject is None:
            return {"raw": [f"{raw_dir}/{k}" for k in shared_keys(cfg).values()]}
        out: InputFiles = {"raw": [f"{raw_dir}/{k}" for k in brain_keys(cfg, subject)],
                           "roi_groups": str(resource_path(cfg["roi_groups"]))}
        if cfg["glasser"]:
            out["glasser_groups"] = str(resource_path(cfg["glasser_groups"]))
        return out
