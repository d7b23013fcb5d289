"""Features of one model x instruction for one dataset (all layers, one store)."""

from pathlib import Path

from brainalign.envs import env_python
from brainalign.features.environment import extract_in
from brainalign.logs import snakemake_log

log = snakemake_log(snakemake)
stimuli = Path(snakemake.input.stimuli)
# Registry paths in the config are relative to the project root, not the working directory.
project = next(p for p in Path(snakemake.scriptdir).resolve().parents if (p / "workflow" / "Snakefile").exists())
try:
    extract_in(
        env_python(snakemake.params.environment, snakemake.params.envs_dir),
        stimuli_tsv=stimuli,
        stimuli_root=stimuli.parent,
        model=snakemake.params.model,
        instruction=snakemake.params.instruction,
        output=Path(snakemake.output[0]),
        models_yaml=project / snakemake.params.models_yaml,
        instructions_yaml=project / snakemake.params.instructions_yaml,
        feature_cache=snakemake.params.feature_cache,
        **snakemake.params.features,
    )
except Exception:
    log.exception("feature extraction failed")
    raise
