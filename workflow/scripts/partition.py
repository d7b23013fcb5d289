"""Variance partitioning between two feature spaces for one subject."""

from brainalign.partition import partition_job
from brainalign.logs import snakemake_log
from brainalign.rerun import job_settings

snakemake_log(snakemake)
partition_job(
    snakemake.input.a,
    snakemake.input.b,
    snakemake.input.brain,
    snakemake.output[0],
    snakemake.params.a,
    snakemake.params.b,
    snakemake.params.metric,
    job_settings(snakemake.config, snakemake.params.encoding, "encoding"),
)
