"""Run one extraction in the environment its registry entry names.

Entries with ``environment: <name>`` (``family: remote``, ``backend: external``) run in
``<envs_dir>/<name>/bin/python`` (created with ``make env-<name>``, see
:mod:`brainalign.envs`); every other entry runs in the workflow's interpreter. The
extraction rule asks :func:`model_python` which interpreter, and :func:`extract_in`
runs :func:`brainalign.features.runner.extract_features` there: in this process, or as
``<python> -m brainalign.features.environment '<json arguments>'`` (``make env-<name>``
makes brainalign importable there: :func:`brainalign.envs.install_library`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from brainalign.envs import env_python
from brainalign.features.registry import get_model, load_registry

log = logging.getLogger(__name__)


def model_environment(models_yaml: str | os.PathLike, model: str) -> str | None:
    """The ``environment`` of a registry entry (None: the workflow's own)."""
    return get_model(load_registry(models_yaml), model).get("environment")


def model_python(models_yaml: str | os.PathLike, model: str, envs_dir: str | os.PathLike) -> str:
    """Interpreter that extracts ``model``'s features."""
    return env_python(model_environment(models_yaml, model), envs_dir)


def _same_interpreter(python: str) -> bool:
    return os.path.abspath(python) == os.path.abspath(sys.executable)


def extract_in(python: str, **kwargs: Any) -> Path:
    """:func:`extract_features` with ``python``; a missing environment names its make target."""
    if _same_interpreter(python):
        from brainalign.features.runner import extract_features

        return extract_features(**kwargs)
    if not Path(python).exists():
        env = Path(python).parent.parent
        raise FileNotFoundError(
            f"model {kwargs.get('model')!r} runs in its own environment {env}, which does not "
            f"exist: create it with `make env-{env.name}` (envs/requirements/{env.name}.txt)")
    payload = json.dumps({k: str(v) if isinstance(v, os.PathLike) else v for k, v in kwargs.items()})
    log.info("extracting %s in %s", kwargs.get("model"), python)
    subprocess.run([python, "-m", "brainalign.features.environment", payload], check=True)
    return Path(kwargs["output"])


def main(argv: list[str]) -> int:
    from brainalign.features.runner import extract_features

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.info("extraction in %s (%s)", sys.executable, sys.prefix)
    extract_features(**json.loads(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
