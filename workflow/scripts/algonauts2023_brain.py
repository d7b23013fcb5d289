"""Build one subject's brain store from the Algonauts 2023 training fMRI and ROI masks."""

from brainalign.datasets.algonauts2023 import prepare_brain
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_brain(
    snakemake.params.raw_dir,
    snakemake.params.block,
    snakemake.wildcards.subject,
    snakemake.params.subjects,
    snakemake.input.stimuli,
    snakemake.output[0],
    roi_groups=snakemake.input.roi_groups,
)
