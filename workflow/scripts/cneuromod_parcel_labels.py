"""Fetch the Schaefer 2018 1000-parcel atlas and write its label table with centroids."""

from brainalign.datasets.cneuromod import write_schaefer_labels
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
write_schaefer_labels(snakemake.output[0])
