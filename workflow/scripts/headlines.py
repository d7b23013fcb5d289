"""Paper vs ours: the reported numbers next to this run's (ground truth for synthetic data)."""

from brainalign.headlines import headlines_job
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
headlines_job(
    snakemake.params.dataset,
    snakemake.input.alignment,
    snakemake.input.partition,
    snakemake.input.stats,
    snakemake.output[0],
    snakemake.params.headlines,
    snakemake.params.registry,
    truth=snakemake.input.truth[0] if snakemake.input.truth else None,
)
