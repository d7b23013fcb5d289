"""Draw one figure of a dataset from its tables (brain maps also from its stores)."""

from brainalign.figure_sets import figure_job
from brainalign.logs import snakemake_log
from brainalign.result_paths import TABLES

snakemake_log(snakemake)
figure_job(
    snakemake.params.spec,
    snakemake.params.dataset,
    {table: snakemake.input[table] for table in TABLES},
    snakemake.output[0],
    snakemake.params.figures,
    snakemake.params.stats,
    snakemake.params.registry,
    encoding=list(snakemake.input.get("encoding", [])),
    brains=list(snakemake.input.get("brains", [])),
    all_sets=snakemake.params.all_sets,
)
