"""Build one NSD subject's brain store: scaled, session-z-scored, repeat-averaged betas, ceiling, ROIs."""

from brainalign.datasets.nsd import prepare_brain
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_brain(
    snakemake.params.raw_dir,
    snakemake.params.block,
    snakemake.wildcards.subject,
    snakemake.output[0],
    roi_groups=snakemake.input.roi_groups,
    glasser_groups=snakemake.input.get("glasser_groups"),
)
