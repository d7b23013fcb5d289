"""CNeuroMod Movie10 and Friends (kind ``cneuromod``): fetch, cut stimuli into TR windows, build brain stores.

Two brain routes (``cneuromod.source``):

``algonauts2025``  public Algonauts 2025 release (DataLad, no credentials): one .h5
                   per subject and task, one dataset per run key such as
                   ``ses-001_task-s01e02a`` or ``ses-003_task-life01_run-1``, each
                   TRs x 1000 Schaefer parcels.
``fmriprep``       full-resolution fMRIPrep surface derivatives (data-use agreement;
                   S3 credentials from the environment), one GIfTI per hemisphere
                   and run.

Runs (movie segments or episode halves) are the cross-validation groups; the
configured ``train``/``test`` lists name movies (``bourne``), seasons (``s01``)
or single segments (``s01e02a``). Modules: ``runs`` (run keys, splits, settings),
``fetch``, ``stimuli``, ``rois``, ``brain`` and ``kind`` (the :class:`CNeuroMod` kind).
"""

from brainalign.datasets.cneuromod.brain import prepare_brain
from brainalign.datasets.cneuromod.fetch import fetch
from brainalign.datasets.cneuromod.kind import CNeuroMod
from brainalign.datasets.cneuromod.rois import write_schaefer_labels
from brainalign.datasets.cneuromod.runs import CNeuroModError, RunKey, parse_run_key, segment_group, settings
from brainalign.datasets.cneuromod.stimuli import prepare_stimuli

__all__ = ["CNeuroMod", "CNeuroModError", "RunKey", "fetch", "parse_run_key", "prepare_brain", "prepare_stimuli",
           "segment_group", "settings", "write_schaefer_labels"]
