"""Validate the user's stimulus table and copy or cut its files."""

from brainalign.datasets.custom import prepare_stimuli
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_stimuli(
    snakemake.params.raw_dir,
    snakemake.params.block,
    snakemake.params.subjects,
    snakemake.output.table,
    snakemake.output.files,
)
