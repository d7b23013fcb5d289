"""The user's own data (kind ``custom``), event or time-series designs.

Layout under the dataset's ``raw_dir`` (names configurable, see docs/datasets/custom.md):

``stimuli.tsv``                      events: ``stimulus_id, path|text, split[, run]``;
                                     time series: ``run, modality, onset, duration, path|text``
                                     (modality ``word``, ``frame``, ``audio`` or ``video``)
``{subject}/responses.npy``          events: samples x voxels
``{subject}/samples.tsv``            events: one ``stimulus_id`` per response row (repeats allowed)
``{subject}/runs/{run}.npy``         time series: TRs x voxels per run
``rois.npz``                         ROI name -> bool or 0/1 mask over voxels
``{subject}/noise_ceiling.npy``      optional correlation ceiling per voxel

Modules: ``files`` (settings, safe names and paths, reading and checking the user's
files), ``stimuli`` and ``brain`` (the two jobs), ``kind`` (the :class:`Custom` kind).
"""

from brainalign.datasets.custom.brain import prepare_brain
from brainalign.datasets.custom.files import CustomDataError, raw_inputs, run_lengths, settings
from brainalign.datasets.custom.kind import Custom
from brainalign.datasets.custom.stimuli import prepare_stimuli

__all__ = ["Custom", "CustomDataError", "prepare_brain", "prepare_stimuli", "raw_inputs", "run_lengths", "settings"]
