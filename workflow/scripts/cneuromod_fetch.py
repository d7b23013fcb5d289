"""Install the CNeuroMod DataLad dataset and fetch the files the study needs."""

from brainalign.datasets.cneuromod import fetch
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
fetch(snakemake.params.raw_dir, snakemake.params.block, snakemake.params.subjects, snakemake.output[0])
