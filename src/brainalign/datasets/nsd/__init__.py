"""Natural Scenes Dataset (kind ``nsd``): S3 download, stimulus table, brain stores.

Modules: ``layout`` (settings, subjects, sessions, bucket keys), ``fetch`` (downloads),
``design`` (trials, images, test set), ``images`` (ranged image reads), ``rois``
(label tables and ROI groups), ``space`` (one subject's volume or surface files),
``stimuli`` and ``brain`` (the two jobs), ``kind`` (the :class:`NSD` kind).
"""

from brainalign.datasets.nsd.brain import prepare_brain
from brainalign.datasets.nsd.kind import NSD
from brainalign.datasets.nsd.layout import NSDError, settings
from brainalign.datasets.nsd.stimuli import IMAGE_CACHE, prepare_stimuli

__all__ = ["IMAGE_CACHE", "NSD", "NSDError", "prepare_brain", "prepare_stimuli", "settings"]
