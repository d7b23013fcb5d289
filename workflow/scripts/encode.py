"""Encode every layer of one feature store for one subject."""

from brainalign.encode_store import encode_job
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
encode_job(
    snakemake.input.features,
    snakemake.input.brain,
    snakemake.output[0],
    snakemake.params.encoding,
    snakemake.params.stats,
)
