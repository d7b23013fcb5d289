"""Write one subject's CNeuroMod brain store (TR rows, noise ceiling, ROI masks)."""

from brainalign.datasets.cneuromod import prepare_brain
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_brain(
    snakemake.params.raw_dir,
    snakemake.input.manifest,
    snakemake.input.stimuli,
    snakemake.params.block,
    snakemake.wildcards.subject,
    snakemake.params.subjects,
    snakemake.output[0],
    parcel_labels=snakemake.input.labels,
    roi_groups=snakemake.input.roi_groups,
)
