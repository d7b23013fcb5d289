"""Models whose code is not in the installed libraries (``family: remote``).

Running code that comes with a model is off by default. An entry runs only when

* the config opts in (``features.allow_remote_code: true``), and
* the entry pins its code: ``code_revision`` (the upstream code commit) for
  ``backend: external``, plus ``revision`` (the hub commit) where it reads hub
  weights (``hub_id``); ``revision`` for ``hf_remote_code`` (a commit, not a branch name).

Backends:

* ``hf_remote_code``: a transformers model whose modelling code ships in its hub
  repository (``trust_remote_code``); read out like any encoder.
* ``external``: code that needs its own pinned environment
  (``environment: <name>``, pinned in envs/requirements/<name>.txt). ``adapter: module:function`` names a
  function importable in that environment, called as ``function(request)`` with the
  :class:`~brainalign.features.interface.ExtractionRequest` and returning an
  :class:`~brainalign.features.interface.Extractor`, as the built-in families do. A
  bare module name is looked up in ``brainalign.features.adapters`` first; the
  adapters there import their upstream package only when called.
"""

from __future__ import annotations

import importlib
from brainalign.features.interface import ExtractionRequest, Extractor
from brainalign.features.loading import ModelLoadError
from brainalign.features.registry import COMMIT, UNPINNED, RegistryError, check_remote_code

BACKENDS = ("hf_remote_code", "external")
__all__ = ["BACKENDS", "COMMIT", "UNPINNED", "import_adapter", "remote_extractor"]
ADAPTERS = "brainalign.features.adapters"


def import_adapter(module: str):
    """Import an adapter module: a bare name from :data:`ADAPTERS` first, else as given."""
    if "." not in module:
        try:
            return importlib.import_module(f"{ADAPTERS}.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"{ADAPTERS}.{module}":
                raise
    return importlib.import_module(module)


def _external(request: ExtractionRequest) -> Extractor:
    entry, name = request.entry, request.name
    env = entry.get("environment", "its own environment")
    spec = entry.get("adapter")
    if not spec or ":" not in spec:
        raise RegistryError(f"model {name!r}: backend external needs adapter: 'module:function'")
    module, _, func = spec.partition(":")

    def _missing(err: Exception) -> ModelLoadError:
        return ModelLoadError(
            f"model {name!r} needs {env}: its adapter {spec!r} cannot run here ({err}). "
            f"Create the environment (make env-{env}) and run the extraction through the "
            "workflow, which runs it there (README: Models that need their own environment)."
        )

    try:
        build = getattr(import_adapter(module), func)
    except ModuleNotFoundError as err:
        if "." not in module and err.name == module:  # neither in ADAPTERS nor on the path
            raise RegistryError(
                f"config/models.yaml: models.{name}.adapter names {spec!r}, but no module "
                f"{ADAPTERS}.{module} (or {module}) exists: this model's adapter is not written yet"
            ) from err
        raise _missing(err) from err
    except (ImportError, AttributeError) as err:
        raise _missing(err) from err
    try:
        return build(request)
    except ImportError as err:  # the adapter imports its upstream package when called
        raise _missing(err) from err


def remote_extractor(request: ExtractionRequest) -> Extractor:
    """Build the extractor of a ``family: remote`` entry after the opt-in checks."""
    entry, name = request.entry, request.name
    backend = entry.get("backend")
    if backend not in BACKENDS:
        raise RegistryError(f"model {name!r}: backend {backend!r}; allowed: {list(BACKENDS)}")
    check_remote_code(name, {**entry, "family": "remote"}, request.allow_remote_code,
                      where="config/models.yaml")
    if backend == "external":
        return _external(request)
    from brainalign.features.extractors import EncoderExtractor
    from brainalign.features.loading import load_hf

    model, processor = load_hf({**entry, "trust_remote_code": True}, name, request.dtype,
                               allow_remote_code=True)
    return EncoderExtractor(model.to(request.device), processor, entry, request.device,
                            request.dtype)
