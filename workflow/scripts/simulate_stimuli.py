"""Generate the synthetic stimuli of a demo dataset and its ground truth."""

from pathlib import Path

from brainalign.datasets.synthetic_workflow import simulate_stimuli
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
simulate_stimuli(
    snakemake.params.synthetic,
    Path(snakemake.output.table),
    Path(snakemake.output.files),
    Path(snakemake.output.truth),
)
