"""Model and instruction registries (``config/models.yaml``, ``config/instructions.yaml``).

Both files are parsed here and only here: :func:`read_models` and
:func:`read_instructions` turn them into plain mappings, :class:`Registry` holds the
pair a study uses (the config loader keeps one in ``cfg["registry"]``), and
:func:`load_registry` / :func:`load_instructions` add the strict checks an
extraction job needs. Whether an entry may run code that is not part of the
installed libraries is decided by :func:`remote_code_problem`, the one such check.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from brainalign.features.families import FAMILY_BUILDERS

FAMILIES = tuple(FAMILY_BUILDERS)
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


def _read_yaml(path: Path, what: str) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    return yaml.safe_load(path.read_text()) or {}


def models_of(raw: dict, where: str) -> dict[str, dict]:
    """The ``models`` mapping of a parsed model registry (the file may also be the mapping itself)."""
    models = raw.get("models", raw)
    if not isinstance(models, dict):
        raise RegistryError(f"{where}: expected a mapping of model name -> entry")
    return models


def instruction_texts(raw: dict, as_text: bool = False) -> dict[str, dict[str, Any]]:
    """``{set: {code: text}}`` of a parsed instruction registry (``text`` of mapping values).

    ``as_text``: plain values become strings (the lenient reading of the config loader).
    """
    def text(value: Any) -> Any:
        if isinstance(value, dict):
            return value["text"]
        return str(value) if as_text else value

    sets = raw.get("instructions", raw)
    return {set_name: {str(code): text(value) for code, value in codes.items()}
            for set_name, codes in sets.items()}


def load_registry(models_yaml: str | os.PathLike = "config/models.yaml") -> dict[str, dict]:
    """Read the model registry and check every entry's required keys."""
    path = Path(models_yaml)
    models = models_of(_read_yaml(path, "model registry"), str(path))
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
PROCESSOR_FACTORIES = ("brainalign.features.local_processors:byte_tokenizer",)


def is_pinned(revision: object) -> bool:
    """Whether ``revision`` is a commit hash (not a branch or tag name such as ``main``)."""
    rev = str(revision or "")
    return rev.lower() not in UNPINNED and bool(COMMIT.match(rev))


def runs_remote_code(entry: dict[str, Any]) -> bool:
    """Whether loading ``entry`` executes code that is not part of the installed libraries."""
    return entry.get("family") == "remote" or bool(entry.get("trust_remote_code"))


def remote_code_problem(name: str, entry: dict[str, Any], allow_remote_code: bool,
                        where: str = "models.yaml", require_pin: bool = True) -> str | None:
    """Why ``entry`` may not run its own code here (one line), or None when it may.

    Remote code needs the config's opt-in and, with ``require_pin``, pinned commits
    (:func:`pin_problem`).
    """
    if not runs_remote_code(entry):
        return None
    if not allow_remote_code:
        return (f"{where}: model {name!r} runs code that is not part of the installed libraries "
                "(family remote or trust_remote_code); allowed only with features: "
                "{allow_remote_code: true} in the config")
    return pin_problem(entry, name, where) if require_pin else None


def check_remote_code(name: str, entry: dict[str, Any], allow_remote_code: bool,
                      where: str = "models.yaml", require_pin: bool = True) -> None:
    """Raise :class:`RegistryError` on a :func:`remote_code_problem`; factories must be allow-listed.

    ``require_pin=False`` (config validation) leaves unpinned commits to
    :func:`pin_problem` warnings: such a model's jobs stop, the rest of the study runs.
    """
    problem = remote_code_problem(name, entry, allow_remote_code, where, require_pin)
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


def audio_context_s(entry: dict[str, Any]) -> float | None:
    """Seconds of audio context of an audio entry (``context_s``; None: the row alone)."""
    return entry.get("context_s") if entry["input"] == "audio" else None


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
    out = instruction_texts(_read_yaml(path, "instruction registry"))
    for set_name, codes in out.items():
        if set_name not in INSTRUCTION_SETS:
            raise RegistryError(
                f"{path}: unknown instruction set {set_name!r}; allowed: {list(INSTRUCTION_SETS)}"
            )
        for code, text in codes.items():
            if not isinstance(text, str) or not text.strip():
                raise RegistryError(f"{path}: instruction {set_name}/{code} has no text")
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



@dataclass
class Registry:
    """The model and instruction registries of a study, read once.

    ``models``: model name -> registry entry; ``instructions``: instruction set ->
    code -> text.
    """

    models: dict[str, dict]
    instructions: dict[str, dict[str, str]]

    @classmethod
    def read(cls, models_yaml: str | os.PathLike, instructions_yaml: str | os.PathLike) -> Registry:
        """Both registries, every entry checked as an extraction job checks it."""
        return cls(load_registry(models_yaml), load_instructions(instructions_yaml))

    def entry(self, model: str) -> dict[str, Any]:
        """The entry of ``model`` with defaults filled (:func:`get_model`)."""
        return get_model(self.models, model)

    def instruction_text(self, model: str, instruction: str) -> str | None:
        """Text of ``instruction`` in ``model``'s set (None for models without instructions)."""
        return resolve_instruction(self.entry(model), model, instruction, self.instructions)

    def instructions_for(self, codes: list[str], model: str) -> list[str]:
        """Codes among ``codes`` in ``model``'s instruction set (``["none"]`` without one)."""
        iset = self.models[model]["instruction_set"]
        if not iset:
            return ["none"]
        return [code for code in codes if code in self.instructions.get(iset, {})]


def parse_models(raw: dict, where: str) -> dict[str, dict]:
    """:func:`models_of` with the keys every entry needs: family, input, instruction_set."""
    models = models_of(raw, where)
    for name, entry in models.items():
        absent = [k for k in ("family", "input", "instruction_set") if k not in (entry or {})]
        if absent:
            raise RegistryError(f"{where}: model {name!r} lacks keys {absent}")
    return models
