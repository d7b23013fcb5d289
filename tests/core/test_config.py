"""Configuration validation: defaults, error messages naming keys and allowed values, registries."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from brainalign.config import (
    ConfigError,
    feature_sets,
    instructions_for,
    load_config,
    load_yaml,
    parse_ref,
    read_instructions,
    read_models,
    ref_name,
)

MODELS = {
    "models": {
        "vit-tiny": {"family": "image", "input": "image", "instruction_set": None},
        "minilm": {"family": "text", "input": "text", "instruction_set": None},
        "llava-tiny": {"family": "mllm_image", "input": "image", "instruction_set": "image"},
        "audio-llm": {"family": "mllm_audio", "input": "audio", "instruction_set": "audio"},
    }
}
INSTRUCTIONS = {
    "instructions": {
        "image": {"IC": {"task": "captioning", "text": "Generate some text to describe the image."},
                  "VQ1": {"task": "vqa", "text": "What is in this image?"}},
        "audio": {"AD": "Describe this audio in detail."},
    }
}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(MODELS))
    (tmp_path / "instructions.yaml").write_text(yaml.safe_dump(INSTRUCTIONS))
    return tmp_path


def base_config() -> dict:
    return {
        "models_registry": "models.yaml",
        "instructions_registry": "instructions.yaml",
        "datasets": {
            "demo": {
                "kind": "synthetic",
                "subjects": ["sub-01"],
                "models": ["vit-tiny", "minilm", "llava-tiny"],
                "instructions": ["IC", "VQ1"],
                "synthetic": {"design": "images", "rois": {"EV": {"noise_sd": 1.0,
                                                                 "drivers": [{"model": "vit-tiny", "layer": 1}]}}},
            }
        },
    }


def test_valid_config_gets_defaults_and_is_not_mutated(root):
    raw = base_config()
    before = copy.deepcopy(raw)
    cfg = load_config(raw, root)
    assert raw == before
    assert cfg["results"] == "results"
    assert cfg["encoding"] == {"backend": "auto", "alphas": {"min_exp": -1, "max_exp": 7, "num": 33}, "n_folds": 5,
                               "delays": [1, 2, 3, 4, 5], "ceiling_min": 0.05, "n_iter": 20, "mem_mb": 8000,
                               "solver": "auto", "cv_scoring": "mse", "target_mem_mb": 1024, "outer_folds": 0}
    assert cfg["stats"] == {"n_permutations": 1000, "block_size": 10, "test": "auto", "n_bootstrap": 1000,
                            "seed": 0, "alpha": 0.05}
    assert cfg["residual"] == [] and cfg["partition"] == []
    syn = cfg["datasets"]["demo"]["synthetic"]
    assert syn["seed"] == 0 and syn["n_images"] == 300 and syn["repeats"] == 3
    assert syn["rois"]["EV"]["drivers"][0]["weight"] == 1.0
    assert cfg["datasets"]["demo"]["raw_dir"] == "data"
    assert set(cfg["registry"].models) == set(MODELS["models"])
    assert cfg["registry"].instructions["image"]["VQ1"] == "What is in this image?"


def test_unknown_model_names_key_and_known_models(root):
    cfg = base_config()
    cfg["datasets"]["demo"]["models"].append("vit-tiyn")
    with pytest.raises(ConfigError) as err:
        load_config(cfg, root)
    msg = str(err.value)
    assert "datasets.demo.models" in msg and "'vit-tiyn'" in msg
    assert "did you mean vit-tiny" in msg
    assert "known models: audio-llm, llava-tiny, minilm, vit-tiny" in msg


def test_missing_required_key(root):
    cfg = base_config()
    del cfg["datasets"]["demo"]["subjects"]
    with pytest.raises(ConfigError, match=r"config key 'datasets.demo': 'subjects' is a required property; "
                                          r"required keys: kind, subjects, models"):
        load_config(cfg, root)
    with pytest.raises(ConfigError, match="'datasets' is a required property"):
        load_config({}, root)


def test_wrong_type_and_enum_and_unknown_key(root):
    cfg = base_config()
    cfg["encoding"] = {"n_folds": "five", "backend": "jax"}
    cfg["extra"] = 1
    with pytest.raises(ConfigError) as err:
        load_config(cfg, root)
    msg = str(err.value)
    assert "config key 'encoding.n_folds': 'five' is not of type 'integer'" in msg
    assert "config key 'encoding.backend': 'jax' is not one of ['auto', 'numpy', 'torch', 'torch_cuda']" in msg
    assert "Additional properties are not allowed ('extra' was unexpected); allowed keys:" in msg
    assert "datasets, encoding, envs_dir, feature_cache, features, figures" in msg


def test_dataset_kind_block_is_validated_with_prefix(root):
    cfg = base_config()
    cfg["datasets"]["demo"]["synthetic"]["design"] = "film"
    with pytest.raises(ConfigError, match=r"config key 'datasets.demo.synthetic.design': 'film' is not one of "
                                          r"\['images', 'movie'\]"):
        load_config(cfg, root)
    cfg = base_config()
    cfg["datasets"]["demo"]["synthetic"]["rois"]["EV"]["noise_sd"] = -1
    with pytest.raises(ConfigError, match="datasets.demo.synthetic.rois.EV.noise_sd"):
        load_config(cfg, root)


def test_unknown_instruction_lists_allowed(root):
    cfg = base_config()
    cfg["datasets"]["demo"]["instructions"] = ["IC", "XX"]
    with pytest.raises(ConfigError, match=r"'datasets.demo.instructions': unknown instruction 'XX' .*\(image\); "
                                          r"allowed: IC, VQ1"):
        load_config(cfg, root)


def test_synthetic_driver_checks(root):
    cfg = base_config()
    cfg["datasets"]["demo"]["synthetic"]["rois"]["EV"]["drivers"] = [{"model": "audio-llm", "layer": 0}]
    with pytest.raises(ConfigError, match="driver model 'audio-llm' must be listed in datasets.demo.models"):
        load_config(cfg, root)
    cfg["datasets"]["demo"]["synthetic"]["rois"]["EV"]["drivers"] = [{"model": "llava-tiny", "layer": 0}]
    with pytest.raises(ConfigError, match="takes instructions; drivers must be models without instructions"):
        load_config(cfg, root)


def test_analysis_references(root):
    cfg = base_config()
    cfg["partition"] = [{"dataset": "other", "a": {"model": "vit-tiny"}, "b": {"model": "minilm"}}]
    with pytest.raises(ConfigError, match=r"'partition\[0\].dataset': unknown dataset 'other'; allowed: demo"):
        load_config(cfg, root)
    cfg["partition"] = [{"dataset": "demo", "a": {"model": "llava-tiny", "instruction": "VQ3"},
                         "b": {"model": "minilm"}}]
    with pytest.raises(ConfigError, match=r"'partition\[0\].a.instruction': 'VQ3' not allowed for 'llava-tiny'; "
                                          r"allowed: IC, VQ1"):
        load_config(cfg, root)
    cfg["partition"] = []
    cfg["residual"] = [{"dataset": "demo", "target": {"model": "vit-tiny", "layer": None},
                        "remove": {"model": "minilm", "layer": None}}]
    with pytest.raises(ConfigError, match=r"'residual\[0\].remove.layer': must be an integer layer index"):
        load_config(cfg, root)
    cfg["residual"] = [{"dataset": "demo", "target": {"model": "vit-tiny", "layer": None},
                        "remove": {"model": "audio-llm"}}]
    with pytest.raises(ConfigError, match=r"'residual\[0\].remove.model': model 'audio-llm' is not among"):
        load_config(cfg, root)
    cfg["residual"] = [{"dataset": "demo", "target": {"model": "vit-tiny", "layer": None}, "remove": {"model": "minilm"}}]
    out = load_config(cfg, root)
    assert out["residual"][0]["remove"] == {"model": "minilm", "instruction": "none", "layer": -1}


def test_feature_sets_and_instructions_for(root):
    cfg = base_config()
    cfg["datasets"]["demo"]["models"].append("audio-llm")
    cfg["datasets"]["demo"]["instructions"] = ["IC", "AD"]
    cfg = load_config(cfg, root)
    assert list(feature_sets(cfg, "demo")) == [("vit-tiny", "none"), ("minilm", "none"), ("llava-tiny", "IC"),
                                               ("audio-llm", "AD")]
    ds = cfg["datasets"]["demo"]
    assert instructions_for(ds, cfg["registry"].models, cfg["registry"].instructions, "minilm") == ["none"]


def test_ref_name_round_trip():
    for ref in ({"model": "m", "instruction": "IC", "layer": -1}, {"model": "m", "instruction": "none", "layer": None},
                {"model": "x-y", "instruction": "VQ1", "layer": 12}):
        assert parse_ref(ref_name(ref)) == ref
    assert ref_name({"model": "m"}) == "m@none@Lall"


def test_registry_readers(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must contain a mapping"):
        load_yaml(tmp_path / "list.yaml")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({"models": {"bad": {"family": "image"}}}))
    with pytest.raises(ConfigError, match=r"model 'bad' lacks keys \['input', 'instruction_set'\]"):
        read_models(tmp_path / "m.yaml")
    (tmp_path / "i.yaml").write_text(yaml.safe_dump(INSTRUCTIONS))
    assert read_instructions(tmp_path / "i.yaml")["audio"] == {"AD": "Describe this audio in detail."}


def test_resources_resolve_against_the_package_from_any_directory(tmp_path, monkeypatch):
    from brainalign.config import RESOURCES, resource_path

    monkeypatch.chdir(tmp_path)
    assert resource_path("resources/rois/nsd/groups.yaml") == RESOURCES / "rois" / "nsd" / "groups.yaml"
    assert (RESOURCES / "rois" / "nsd" / "groups.yaml").is_file()
    (tmp_path / "resources" / "rois").mkdir(parents=True)
    (tmp_path / "resources" / "rois" / "mine.yaml").write_text("rois: {}\n")
    assert resource_path("resources/rois/mine.yaml") == Path("resources/rois/mine.yaml")  # as given wins
    assert resource_path("data/x.yaml") == Path("data/x.yaml")


def test_project_root_is_the_folder_holding_the_workflow(tmp_path):
    from brainalign.config import project_root

    (tmp_path / "p" / "workflow" / "scripts").mkdir(parents=True)
    (tmp_path / "p" / "workflow" / "Snakefile").write_text("")
    assert project_root(tmp_path / "p" / "workflow" / "scripts") == (tmp_path / "p").resolve()
    with pytest.raises(ConfigError, match="no brainalign project"):
        project_root(tmp_path)
