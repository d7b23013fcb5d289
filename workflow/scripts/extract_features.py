"""Features of one model x instruction for one dataset (all layers, one store)."""

import sys
from pathlib import Path

from brainalign.config import project_root
from brainalign.envs import env_python
from brainalign.features.environment import extract_in
from brainalign.features.registry import RegistryError
from brainalign.features.resources import rule_features
from brainalign.logs import snakemake_log
from brainalign.rerun import job_settings

log = snakemake_log(snakemake)
stimuli = Path(snakemake.input.stimuli)
# Registry paths in the config are relative to the project root, not the working directory.
project = project_root(snakemake.scriptdir)
try:
    extract_in(
        env_python(snakemake.params.environment, snakemake.config["envs_dir"]),
        stimuli_tsv=stimuli,
        stimuli_root=stimuli.parent,
        model=snakemake.params.model,
        instruction=snakemake.params.instruction,
        output=Path(snakemake.output[0]),
        models_yaml=project / snakemake.config["models_registry"],
        instructions_yaml=project / snakemake.config["instructions_registry"],
        feature_cache=snakemake.config["feature_cache"],
        **rule_features(job_settings(snakemake.config, snakemake.params.features, "features")),
    )
except RegistryError as err:  # a registry or opt-in setting to fix: one line, no traceback
    log.error("feature extraction refused: %s", err)
    sys.exit(1)
except Exception:
    log.exception("feature extraction failed")
    raise
