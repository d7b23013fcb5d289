"""Download one key of the NSD bucket into the dataset's raw folder (verified, atomic)."""

from brainalign.datasets.nsd.fetch import download
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
download(snakemake.params.block, [snakemake.wildcards.key], snakemake.params.root)
