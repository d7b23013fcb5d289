"""Across-subject statistics of the ROI tables."""

from brainalign.statistics.tables import stats_job
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
stats_job(
    snakemake.input.alignment,
    snakemake.input.residual,
    snakemake.input.partition,
    snakemake.output[0],
    snakemake.params.stats,
    registry=snakemake.params.registry,
    dataset=snakemake.params.dataset,
)
