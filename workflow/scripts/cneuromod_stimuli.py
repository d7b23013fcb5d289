"""Cut the used CNeuroMod movie segments into TR windows (frames, audio, words, clips)."""

from brainalign.datasets.cneuromod import prepare_stimuli
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
prepare_stimuli(
    snakemake.params.raw_dir,
    snakemake.input.manifest,
    snakemake.params.block,
    snakemake.output.table,
    snakemake.output.files,
)
