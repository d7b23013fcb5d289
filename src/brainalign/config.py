"""Load and validate a workflow configuration; resolve model and instruction registries.

A validated config carries its registries as a :class:`~brainalign.features.registry.Registry`
under ``cfg["registry"]`` (read them with :func:`registry_of`).

Validation happens before any job runs: JSON-schema checks (with defaults
filled in), the dataset kind's own schema, and cross-references (models and
instructions must exist in the registries and be used consistently). Errors
name the offending key and the allowed values.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Iterator

import yaml
from jsonschema import Draft202012Validator, validators

from brainalign.features.registry import (
    Registry,
    RegistryError,
    instruction_texts,
    parse_models,
    remote_code_problem,
)

PACKAGE = Path(__file__).resolve().parent
SCHEMA_DIR = PACKAGE / "schemas"  # package data; workflow/schemas links here
RESOURCES = PACKAGE / "resources"  # package data (ROI definitions); resources/rois of the project links here


def load_schema(name: str) -> dict:
    """The JSON schema ``name`` (``config`` or ``dataset.<kind>``) shipped with the package (a fresh copy)."""
    return copy.deepcopy(_parsed_schema(name))


@functools.cache
def _parsed_schema(name: str) -> dict:
    """Each schema file is parsed once per process (config validation asks for some several times)."""
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    if not path.exists():
        known = sorted(p.name.removesuffix(".schema.yaml") for p in SCHEMA_DIR.glob("*.schema.yaml"))
        raise ConfigError(f"no schema {name!r}; known: {', '.join(known)}")
    return yaml.safe_load(path.read_text())


class ConfigError(ValueError):
    """The configuration is invalid; the message says where and what is allowed."""


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


DefaultingValidator = _with_defaults(Draft202012Validator)


def _describe(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        message += f"; allowed keys: {', '.join(allowed)}"
    elif error.validator == "required":
        message += f"; required keys: {', '.join(error.validator_value)}"
    elif error.validator == "uniqueItems":
        message = f"{error.instance!r} lists an entry twice; allowed: each entry once"
    elif error.validator == "pattern" and error.schema.get("description", "").startswith("a name used"):
        message = f"{error.instance!r} is not an allowed name; allowed: {error.schema['description'].split(': ', 1)[1]}"
    return f"config key '{where}': {message}"


def validate_against(instance: dict, schema: dict, prefix: str = "") -> None:
    """Validate ``instance`` in place (filling defaults); raise one message listing every problem."""
    errors = sorted(DefaultingValidator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [_describe(e) for e in errors]
        if prefix:
            lines = [line.replace("config key '", f"config key '{prefix}.", 1) for line in lines]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def config_section(section: str, given: dict | None = None) -> dict:
    """A top-level block of the config (``encoding``, ``stats``, ...): ``given`` checked, defaults from the schema."""
    schema = load_schema("config")
    if section not in schema["properties"]:
        raise ConfigError(f"no config section {section!r}; known: {', '.join(schema['properties'])}")
    wrapped = {section: copy.deepcopy(given or {})}
    validate_against(wrapped, {"type": "object", "properties": {section: schema["properties"][section]},
                               "$defs": schema.get("$defs", {})})
    return wrapped[section]


def dataset_kinds() -> list[str]:
    """The dataset kinds the config schema allows (one ``dataset.<kind>`` schema and implementation each)."""
    return list(load_schema("config")["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]["enum"])


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with a clear error if the file is missing or not a mapping."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a mapping at top level")
    return data


def read_models(path: str | Path) -> dict[str, dict]:
    """Model registry: name -> entry (entries need family, input, instruction_set)."""
    try:
        return parse_models(load_yaml(path), str(path))
    except RegistryError as err:
        raise ConfigError(str(err)) from err


def read_instructions(path: str | Path) -> dict[str, dict[str, str]]:
    """Instruction registry: set name (image, video, audio) -> code -> text."""
    return instruction_texts(load_yaml(path), as_text=True)


def registry_of(cfg: dict) -> Registry:
    """The model and instruction registries of a config validated by :func:`load_config`."""
    if "registry" not in cfg:
        raise ConfigError("the config was not validated by brainalign.config.load_config "
                          "(it has no registry)")
    return cfg["registry"]


def _close_matches(name: str, options: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, options, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def resource_path(path: str | Path) -> Path:
    """``path`` as given, or the package's copy of a ``resources/...`` path that does not exist as given.

    Lets configs name the data shipped with brainalign (``resources/rois/...``) from any
    working directory, with the library installed anywhere.
    """
    path = Path(path)
    if path.exists() or path.is_absolute() or path.parts[:1] != ("resources",):
        return path
    return RESOURCES.joinpath(*path.parts[1:])


def project_root(start: str | Path | None = None) -> Path:
    """The project (the folder holding ``workflow/Snakefile``) at or above ``start``.

    Without ``start``: at or above the working directory, else the checkout this library
    is installed from (an editable install). Registry paths of a config are relative to it.
    """
    starts = [Path(start)] if start is not None else [Path.cwd(), PACKAGE]
    for base in starts:
        for folder in (base.resolve(), *base.resolve().parents):
            if (folder / "workflow" / "Snakefile").is_file():
                return folder
    raise ConfigError(f"no brainalign project (a folder holding workflow/Snakefile) at or above "
                      f"{' or '.join(map(str, starts))}")


def load_config(config: dict, root: str | Path = ".", source: str = "") -> dict:
    """Validate ``config`` (a copy, defaults filled) against the schemas and registries.

    ``source`` names the config file(s) in error messages.
    """
    try:
        return _load_config(config, Path(root))
    except ConfigError as err:
        if source:
            raise ConfigError(f"{source}: {err}") from err
        raise


def _load_config(config: dict, root: Path) -> dict:
    cfg = copy.deepcopy(config)
    validate_against(cfg, load_schema("config"))
    models = read_models(root / cfg["models_registry"])
    instructions = read_instructions(root / cfg["instructions_registry"])
    for name, ds in cfg["datasets"].items():
        ds.setdefault(ds["kind"], {})
        validate_against(ds[ds["kind"]], load_schema(f"dataset.{ds['kind']}"), prefix=f"datasets.{name}.{ds['kind']}")
        _check_dataset(name, ds, models, instructions)
    cfg["registry"] = Registry(models, instructions)
    for key in ("residual", "partition"):
        for i, item in enumerate(cfg[key]):
            _check_analysis(f"{key}[{i}]", item, cfg, models)
    _check_figures_and_comparisons(cfg)
    from brainalign.config_checks import check_all

    check_all(cfg, models)
    return cfg


def _check_figures_and_comparisons(cfg: dict) -> None:
    """Figure names are unique; named datasets exist."""
    items = [(f"figures.set[{i}]", s) for i, s in enumerate(cfg["figures"].get("set", []))]
    items += [(f"stats.comparisons[{i}]", c) for i, c in enumerate(cfg["stats"].get("comparisons", []))]
    for where, item in items:
        if "dataset" in item and item["dataset"] not in cfg["datasets"]:
            raise ConfigError(f"config key '{where}.dataset': unknown dataset {item['dataset']!r}; "
                              f"allowed: {', '.join(cfg['datasets'])}")
    names = [s["name"] for s in cfg["figures"].get("set", [])]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"config key 'figures.set': figure names must be unique; repeated: {', '.join(dupes)}")


def _check_dataset(name: str, ds: dict, models: dict, instructions: dict) -> None:
    known = sorted(models)
    for m in ds["models"]:
        if m not in models:
            raise ConfigError(
                f"config key 'datasets.{name}.models': unknown model {m!r}{_close_matches(m, known)}; "
                f"known models: {', '.join(known)}"
            )
    sets = {models[m]["instruction_set"] for m in ds["models"] if models[m]["instruction_set"]}
    allowed = sorted({code for s in sets for code in instructions.get(s, {})})
    for code in ds["instructions"]:
        if code not in allowed:
            raise ConfigError(
                f"config key 'datasets.{name}.instructions': unknown instruction {code!r} for the "
                f"instruction sets of this dataset's models ({', '.join(sorted(sets)) or 'none'}); "
                f"allowed: {', '.join(allowed) or '(no instruction-following model listed)'}"
            )
    if ds["kind"] == "synthetic":
        for roi, spec in ds["synthetic"].get("rois", {}).items():
            for drv in spec.get("drivers", []):
                if drv["model"] not in ds["models"]:
                    raise ConfigError(
                        f"config key 'datasets.{name}.synthetic.rois.{roi}': driver model "
                        f"{drv['model']!r} must be listed in datasets.{name}.models ({', '.join(ds['models'])})"
                    )
                if models[drv["model"]]["instruction_set"]:
                    raise ConfigError(
                        f"config key 'datasets.{name}.synthetic.rois.{roi}': driver model {drv['model']!r} "
                        "takes instructions; drivers must be models without instructions"
                    )


def _check_analysis(where: str, item: dict, cfg: dict, models: dict) -> None:
    dsname = item["dataset"]
    if dsname not in cfg["datasets"]:
        raise ConfigError(
            f"config key '{where}.dataset': unknown dataset {dsname!r}; allowed: {', '.join(cfg['datasets'])}"
        )
    ds = cfg["datasets"][dsname]
    for role in ("target", "remove", "a", "b"):
        if role not in item:
            continue
        ref = item[role]
        if ref["model"] not in ds["models"]:
            raise ConfigError(
                f"config key '{where}.{role}.model': model {ref['model']!r} is not among "
                f"datasets.{dsname}.models: {', '.join(ds['models'])}"
            )
        allowed = registry_of(cfg).instructions_for(ds["instructions"], ref["model"])
        if ref["instruction"] not in allowed:
            raise ConfigError(
                f"config key '{where}.{role}.instruction': {ref['instruction']!r} not allowed for "
                f"{ref['model']!r}; allowed: {', '.join(allowed)}"
            )
        if role != "target" and ref.get("layer") is None:
            raise ConfigError(f"config key '{where}.{role}.layer': must be an integer layer index")


def remote_code_problems(cfg: dict) -> list[str]:
    """One line per remote-code model of the config that cannot run as configured.

    Lists entries whose code or hub commit is not pinned (naming the registry key to
    set); a missing ``features.allow_remote_code`` is a config error before this runs.
    """
    if "registry" not in cfg:  # a config not validated by load_config (registry not read)
        return []
    allowed = cfg.get("features", {}).get("allow_remote_code", False)
    models = registry_of(cfg).models
    out: list[str] = []
    for name in sorted({m for ds in cfg["datasets"].values() for m in ds["models"]}):
        problem = remote_code_problem(name, models[name], allowed, where=cfg["models_registry"])
        if problem:
            out.append(f"{problem} (its extraction jobs stop until then)")
    return out


def instructions_for(ds: dict, models: dict, instructions: dict, model: str) -> list[str]:
    """Instruction codes a model is run with in a dataset (``["none"]`` without instructions).

    Only the dataset's codes that belong to the model's own instruction set are used,
    so a study can list video and audio codes together.
    """
    return Registry(models, instructions).instructions_for(ds["instructions"], model)


def feature_sets(cfg: dict, dataset: str) -> Iterator[tuple[str, str]]:
    """Every (model, instruction) pair extracted for ``dataset``."""
    ds = cfg["datasets"][dataset]
    registry = registry_of(cfg)
    for model in ds["models"]:
        for instr in registry.instructions_for(ds["instructions"], model):
            yield model, instr


def ref_name(ref: dict) -> str:
    """File-name token of a feature reference: ``model@instruction@Llayer`` (``Lall`` for every layer)."""
    layer = "all" if ref.get("layer") is None else str(ref["layer"])
    return f"{ref['model']}@{ref.get('instruction', 'none')}@L{layer}"


def parse_ref(token: str) -> dict:
    """Inverse of :func:`ref_name`."""
    model, instruction, layer = token.split("@")
    return {"model": model, "instruction": instruction, "layer": None if layer == "Lall" else int(layer[1:])}
