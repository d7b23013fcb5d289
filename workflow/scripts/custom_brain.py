"""Validate one subject's responses and write its brain store."""

from brainalign.datasets.custom import prepare_brain
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_brain(
    snakemake.params.raw_dir,
    snakemake.params.block,
    snakemake.wildcards.subject,
    snakemake.input.stimuli,
    snakemake.output[0],
    subjects=list(snakemake.params.subjects),
)
