"""Fetch the images the subjects saw (ranged reads of nsd_stimuli.hdf5) and write the stimulus table."""

from brainalign.datasets.nsd import prepare_stimuli
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_stimuli(
    snakemake.params.raw_dir,
    snakemake.params.block,
    snakemake.params.subjects,
    snakemake.output.table,
    snakemake.output.files,
)
