"""Algonauts 2023 challenge release (NSD subset; kind ``algonauts2023``).

The release's layout is described in :mod:`.release`; the test fMRI is not public,
so the test set is carved out of the training images (:mod:`.stimuli`); the
release has no noise ceiling (:mod:`.brain`). Details: docs/datasets/algonauts2023.md.
"""

from brainalign.datasets.algonauts2023.brain import prepare_brain
from brainalign.datasets.algonauts2023.kind import Algonauts2023
from brainalign.datasets.algonauts2023.release import AlgonautsError, raw_inputs, read_mapping, settings
from brainalign.datasets.algonauts2023.stimuli import prepare_stimuli

__all__ = ["Algonauts2023", "AlgonautsError", "prepare_brain", "prepare_stimuli", "raw_inputs", "read_mapping",
           "settings"]
