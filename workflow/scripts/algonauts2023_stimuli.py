"""Link the Algonauts 2023 training images and write the stimulus table (with the train/test split)."""

from brainalign.datasets.algonauts2023 import prepare_stimuli
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_stimuli(
    snakemake.params.raw_dir,
    snakemake.params.block,
    snakemake.params.subjects,
    snakemake.output.table,
    snakemake.output.files,
)
