"""Encode every layer of one feature store for one subject."""

from brainalign.encoding.layerwise import encode_job
from brainalign.logs import snakemake_log
from brainalign.rerun import job_settings

snakemake_log(snakemake)
encode_job(
    snakemake.input.features,
    snakemake.input.brain,
    snakemake.output[0],
    job_settings(snakemake.config, snakemake.params.encoding, "encoding"),
    job_settings(snakemake.config, snakemake.params.stats, "stats"),
)
