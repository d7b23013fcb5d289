"""Resolve every hub entry's revision to a commit once and write config/models.lock.yaml."""

from brainalign.config import project_root
from brainalign.features.lock import resolve_lock, write_lock
from brainalign.features.registry import load_registry
from brainalign.logs import snakemake_log

log = snakemake_log(snakemake)
project = project_root(snakemake.scriptdir)
try:
    locked = resolve_lock(load_registry(project / snakemake.params.models_yaml))
    write_lock(snakemake.output[0], locked)
    log.info("pinned %d hub models in %s", len(locked), snakemake.output[0])
except Exception:
    log.exception("resolving model revisions failed")
    raise
