"""Snakemake script: features of one model x instruction for one dataset."""

import logging
from pathlib import Path

from brainalign.features import extract_features

logging.basicConfig(
    filename=snakemake.log[0],  # noqa: F821 - injected by Snakemake
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
)
logging.captureWarnings(True)

opts = dict(snakemake.params.get("features", {}) or {})  # noqa: F821
stimuli = Path(snakemake.input.stimuli)  # noqa: F821
try:
    extract_features(
        stimuli_tsv=stimuli,
        stimuli_root=Path(opts.pop("stimuli_root", stimuli.parent)),
        model=snakemake.params.model,  # noqa: F821
        instruction=snakemake.params.instruction,  # noqa: F821
        output=Path(snakemake.output[0]),  # noqa: F821
        **opts,
    )
except Exception:
    logging.getLogger("extract_features").exception("feature extraction failed")
    raise
