"""Draw one figure of a dataset from its tables."""

from brainalign.figures import draw_figure
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
draw_figure(
    snakemake.params.figure,
    snakemake.input.alignment,
    snakemake.input.residual,
    snakemake.input.partition,
    snakemake.output[0],
    dpi=snakemake.params.dpi,
)
