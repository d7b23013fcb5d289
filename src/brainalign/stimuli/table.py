"""The stimulus table (``stimuli.tsv``): one row per image, frame, clip, audio window or word.

Columns (docs/data_model.md): ``stimulus_id``, ``modality``, ``path`` (relative to the
table's folder), ``text``, ``run``, ``onset``, ``duration``, ``split``. Datasets write
it; feature extraction reads it (:mod:`brainalign.features.inputs`).
"""

STIMULUS_COLUMNS = ["stimulus_id", "modality", "path", "text", "run", "onset", "duration", "split"]
