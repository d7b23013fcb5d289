"""Tidy ROI tables of alignment, residual and partition results."""

from brainalign.summaries import summarize_dataset
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
summarize_dataset(
    snakemake.params.dataset,
    brain_paths=list(snakemake.input.brains),
    encoding_paths=list(snakemake.input.encoding),
    residual_paths=list(snakemake.input.residual),
    partition_paths=list(snakemake.input.partition),
    out_alignment=snakemake.output.alignment,
    out_residual=snakemake.output.residual,
    out_partition=snakemake.output.partition,
)
