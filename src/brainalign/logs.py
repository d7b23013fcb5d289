"""Logging for workflow scripts: everything a job prints goes to its rule's log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to(path: str | Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send logging output, warnings and stderr (progress bars) to ``path``."""
    handlers: list[logging.Handler] = []
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stderr = stream
        handlers.append(logging.StreamHandler(stream))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)
    logging.captureWarnings(True)
    return logging.getLogger("brainalign")


def snakemake_log(snakemake) -> logging.Logger:  # noqa: ANN001 - Snakemake's script object
    """Configure logging for a Snakemake ``script:`` from its ``log`` directive."""
    path = snakemake.log[0] if len(snakemake.log) else None
    return log_to(path)
