"""Model and instruction registries (``config/models.yaml``, ``config/instructions.yaml``)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import yaml

FAMILIES = (
    "image",
    "video",
    "audio",
    "text",
    "clip",
    "imagebind",
    "tvlt",
    "mllm_image",
    "mllm_video",
    "mllm_audio",
    "remote",
)
INPUTS = ("image", "video", "audio", "audiovisual", "video_text", "text")
INSTRUCTION_SETS = ("image", "video", "audio")
INITS = ("pretrained", "random")
POOLINGS = ("mean", "cls", "first", "last", "mean_frames")
MLLM_FAMILIES = ("mllm_image", "mllm_video", "mllm_audio")
# MLLM ``stream``: joint = the language model's layers; vision/audio = the modality tower
MLLM_STREAMS = {"mllm_image": ("joint", "vision"), "mllm_video": ("joint", "vision"),
                "mllm_audio": ("joint", "audio")}


def is_tower(entry: dict[str, Any]) -> bool:
    """Whether an MLLM entry reads out a modality tower rather than the language model."""
    return entry.get("family") in MLLM_FAMILIES and entry.get("stream", "joint") != "joint"


class RegistryError(KeyError):
    """A model or instruction is not in its registry, or an entry is malformed."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def load_registry(models_yaml: str | os.PathLike = "config/models.yaml") -> dict[str, dict]:
    """Read the model registry and check every entry's required keys."""
    path = Path(models_yaml)
    if not path.exists():
        raise FileNotFoundError(f"model registry not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    models = raw.get("models", raw)
    if not isinstance(models, dict):
        raise RegistryError(f"{path}: expected a mapping of model name -> entry")
    for name, entry in models.items():
        check_entry(name, entry, where=str(path))
    return models


def check_entry(name: str, entry: dict[str, Any], where: str = "models.yaml") -> None:
    """Raise :class:`RegistryError` naming the entry and key that is wrong."""
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: model {name!r} entry must be a mapping")

    def _one_of(key: str, allowed: tuple, required: bool = True) -> None:
        if key not in entry:
            if required:
                raise RegistryError(f"{where}: model {name!r} lacks required key {key!r}")
            return
        if entry[key] not in allowed:
            raise RegistryError(
                f"{where}: model {name!r} has {key}={entry[key]!r}; allowed: {list(allowed)}"
            )

    _one_of("family", FAMILIES)
    _one_of("input", INPUTS)
    if "instruction_set" not in entry:
        raise RegistryError(f"{where}: model {name!r} lacks required key 'instruction_set'")
    _one_of("instruction_set", INSTRUCTION_SETS + (None,))
    _one_of("init", INITS, required=False)
    _one_of("pooling", POOLINGS, required=False)
    if entry["family"] in MLLM_FAMILIES:
        _one_of("stream", MLLM_STREAMS[entry["family"]], required=False)
        if is_tower(entry) and entry["instruction_set"] is not None:
            raise RegistryError(
                f"{where}: model {name!r} reads the {entry['stream']} tower, which does not see "
                "the instruction; set instruction_set: null"
            )
    context_s = entry.get("context_s")
    if context_s is not None:
        if entry["family"] != "audio" or entry["input"] != "audio":
            raise RegistryError(
                f"{where}: model {name!r} sets context_s, which only audio encoders "
                "(family: audio, input: audio) take"
            )
        if isinstance(context_s, bool) or not isinstance(context_s, (int, float)) or context_s <= 0:
            raise RegistryError(
                f"{where}: model {name!r} has context_s={context_s!r}; use a positive number "
                "of seconds or leave it out"
            )
    sources = [k for k in ("hub_id", "local_path", "config", "weights_url") if entry.get(k)]
    if not sources:
        raise RegistryError(
            f"{where}: model {name!r} needs one of 'hub_id', 'local_path', 'weights_url' or 'config'"
        )
    if entry.get("init", "pretrained") == "pretrained" and not (
        entry.get("hub_id") or entry.get("local_path") or entry.get("weights_url")
    ):
        raise RegistryError(
            f"{where}: model {name!r} is init: pretrained but has no hub_id/local_path/weights_url"
        )
    if entry.get("trust_remote_code") and not (entry.get("revision") or entry.get("code_revision")):
        raise RegistryError(
            f"{where}: model {name!r} sets trust_remote_code but pins no revision or code_revision"
        )
    check_factories(name, entry.get("processor"), where)


UNPINNED = {"", "none", "main", "master", "head", "latest"}
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
# Callables a registry ``processor: {factory: ...}`` may name (the library's own builders).
PROCESSOR_FACTORIES = ("brainalign.features.mllm_tiny:byte_tokenizer",)


def is_pinned(revision: object) -> bool:
    """Whether ``revision`` is a commit hash (not a branch or tag name such as ``main``)."""
    rev = str(revision or "")
    return rev.lower() not in UNPINNED and bool(COMMIT.match(rev))


def runs_remote_code(entry: dict[str, Any]) -> bool:
    """Whether loading ``entry`` executes code that is not part of the installed libraries."""
    return entry.get("family") == "remote" or bool(entry.get("trust_remote_code"))


def check_remote_code(name: str, entry: dict[str, Any], allow_remote_code: bool,
                      where: str = "models.yaml", require_pin: bool = True) -> None:
    """Remote code needs the config's opt-in and pinned commits; factories an allow-listed builder.

    ``require_pin=False`` (config validation) leaves unpinned commits to
    :func:`pin_problem` warnings: such a model's jobs stop, the rest of the study runs.
    """
    if runs_remote_code(entry):
        if not allow_remote_code:
            raise RegistryError(
                f"{where}: model {name!r} runs code that is not part of the installed libraries "
                "(family remote or trust_remote_code); allowed only with features: "
                "{allow_remote_code: true} in the config")
        problem = pin_problem(entry, name, where) if require_pin else None
        if problem:
            raise RegistryError(problem)
    check_factories(name, entry.get("processor"), where)


def check_factories(name: str, spec: Any, where: str = "models.yaml") -> None:
    """Every ``factory`` inside a processor spec must be one of :data:`PROCESSOR_FACTORIES`."""
    if isinstance(spec, dict):
        factory = spec.get("factory")
        if factory is not None and factory not in PROCESSOR_FACTORIES:
            raise RegistryError(
                f"{where}: model {name!r} processor factory {factory!r} is not allowed; allowed: "
                f"{', '.join(PROCESSOR_FACTORIES)} (or class: <transformers class>)")
        for value in spec.values():
            check_factories(name, value, where)
    elif isinstance(spec, list):
        for value in spec:
            check_factories(name, value, where)


def pin_problem(entry: dict[str, Any], name: str, where: str = "config/models.yaml") -> str | None:
    """One line naming the registry key a remote-code entry still has to pin, or None.

    ``backend: external`` runs upstream code checked out at ``code_revision``; its hub
    weights (``hub_id``) are read at ``revision``. ``hf_remote_code`` runs the code of
    its hub repository at ``revision``.
    """
    if entry.get("backend") == "external" and not is_pinned(entry.get("code_revision")):
        return (f"{where}: models.{name}.code_revision is {entry.get('code_revision')!r}, not a "
                "pinned commit of the model's upstream code; set it to the commit hash")
    if (entry.get("backend") != "external" or entry.get("hub_id")) and not is_pinned(entry.get("revision")):
        repo = f" of hub repository {entry['hub_id']}" if entry.get("hub_id") else ""
        return (f"{where}: models.{name}.revision is {entry.get('revision')!r}, not a pinned "
                f"commit{repo}; set it to the commit hash")
    return None


def get_model(registry: dict[str, dict], name: str) -> dict[str, Any]:
    """Return the registry entry ``name`` or fail listing the known names."""
    if name not in registry:
        raise RegistryError(
            f"model {name!r} is not in the model registry; known models: {sorted(registry)}"
        )
    entry = dict(registry[name])
    entry.setdefault("init", "pretrained")
    entry.setdefault("layers", "all")
    entry.setdefault("pooling", "mean")
    entry.setdefault("dtype", "auto")
    entry.setdefault("revision", None)
    return entry


def load_instructions(
    instructions_yaml: str | os.PathLike = "config/instructions.yaml",
) -> dict[str, dict[str, str]]:
    """Read the instruction registry: ``{set_name: {code: text}}``."""
    path = Path(instructions_yaml)
    if not path.exists():
        raise FileNotFoundError(f"instruction registry not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    sets = raw.get("instructions", raw)
    out: dict[str, dict[str, str]] = {}
    for set_name, codes in sets.items():
        if set_name not in INSTRUCTION_SETS:
            raise RegistryError(
                f"{path}: unknown instruction set {set_name!r}; allowed: {list(INSTRUCTION_SETS)}"
            )
        out[set_name] = {}
        for code, value in codes.items():
            text = value["text"] if isinstance(value, dict) else value
            if not isinstance(text, str) or not text.strip():
                raise RegistryError(f"{path}: instruction {set_name}/{code} has no text")
            out[set_name][str(code)] = text
    return out


def resolve_instruction(
    entry: dict[str, Any], model: str, instruction: str, instructions: dict[str, dict[str, str]]
) -> str | None:
    """Instruction text for ``instruction`` within the model's set (None for 'none')."""
    iset = entry.get("instruction_set")
    if iset is None:
        if instruction != "none":
            raise RegistryError(
                f"model {model!r} takes no instruction (instruction_set: null); "
                f"call it with instruction 'none', not {instruction!r}"
            )
        return None
    codes = instructions.get(iset, {})
    if instruction not in codes:
        raise RegistryError(
            f"instruction {instruction!r} is not in the {iset!r} instruction set used by "
            f"model {model!r}; allowed: {sorted(codes)}"
        )
    return codes[instruction]


def resolve_local_path(path: str) -> str:
    """Resolve ``pkg://package/sub/dir`` to a folder inside an installed package."""
    if not path.startswith("pkg://"):
        return str(Path(path).expanduser())
    package, _, sub = path[len("pkg://") :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RegistryError(f"local_path {path!r}: package {package!r} is not installed")
    folder = Path(list(spec.submodule_search_locations)[0]) / sub
    if not folder.exists():
        raise RegistryError(f"local_path {path!r}: {folder} does not exist")
    return str(folder)
