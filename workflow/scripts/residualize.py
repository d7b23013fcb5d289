"""Encode target features after regressing out another feature space."""

from brainalign.residual import residual_job
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
residual_job(
    snakemake.input.target,
    snakemake.input.removed,
    snakemake.input.brain,
    snakemake.output[0],
    snakemake.params.target,
    snakemake.params.removed,
    snakemake.params.encoding,
    snakemake.params.stats,
)
