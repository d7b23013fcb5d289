"""Encode target features after regressing out another feature space."""

from brainalign.residual import residual_job
from brainalign.logs import snakemake_log
from brainalign.rerun import job_settings

snakemake_log(snakemake)
residual_job(
    snakemake.input.target,
    snakemake.input.removed,
    snakemake.input.brain,
    snakemake.output[0],
    snakemake.params.target,
    snakemake.params.removed,
    job_settings(snakemake.config, snakemake.params.encoding, "encoding"),
    job_settings(snakemake.config, snakemake.params.stats, "stats"),
)
