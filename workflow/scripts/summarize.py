"""Tidy ROI tables of alignment, residual and partition results."""

from brainalign.summaries import summarize_dataset
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
summarize_dataset(
    snakemake.params.dataset,
    list(snakemake.input.brains),
    list(snakemake.input.encoding),
    list(snakemake.input.residual),
    list(snakemake.input.partition),
    snakemake.output.alignment,
    snakemake.output.residual,
    snakemake.output.partition,
)
