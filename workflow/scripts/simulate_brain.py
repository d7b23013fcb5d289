"""Simulate one subject's brain responses from the driver models' features."""

from brainalign.datasets.synthetic_workflow import simulate_brain
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
drivers = {k: v for k, v in snakemake.input.items() if k != "stimuli"}
simulate_brain(
    snakemake.input.stimuli,
    drivers,
    snakemake.params.synthetic,
    snakemake.wildcards.subject,
    snakemake.params.subject_index,
    snakemake.output[0],
)
