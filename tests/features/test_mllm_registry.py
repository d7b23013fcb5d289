"""MLLM registry entries, instruction sets (SPEC.md) and errors for unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from brainalign.features import extract_features
from brainalign.features.loading import ModelLoadError
from brainalign.features.registry import RegistryError, load_instructions, load_registry

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "config" / "models.yaml"
INSTRUCTIONS = REPO / "config" / "instructions.yaml"

MLLMS = {
    "instructblip-7b": ("mllm_image", "Salesforce/instructblip-vicuna-7b"),
    "idefics-9b-instruct": ("mllm_image", "HuggingFaceM4/idefics-9b-instruct"),
    "idefics2-8b": ("mllm_image", "HuggingFaceM4/idefics2-8b"),
    "idefics3-8b": ("mllm_image", "HuggingFaceM4/Idefics3-8B-Llama3"),
    "llava-1.5-7b": ("mllm_image", "llava-hf/llava-1.5-7b-hf"),
    "blip2": ("mllm_image", "Salesforce/blip2-opt-2.7b"),
    "instructblipvideo-7b": ("mllm_video", "Salesforce/instructblip-vicuna-7b"),
    "video-llava-7b": ("mllm_video", "LanguageBind/Video-LLaVA-7B-hf"),
    "llava-next-video-7b": ("mllm_video", "llava-hf/LLaVA-NeXT-Video-7B-hf"),
    "llava-onevision-7b": ("mllm_video", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
    "qwen2.5-vl-7b": ("mllm_video", "Qwen/Qwen2.5-VL-7B-Instruct"),
    "qwen2-audio-7b": ("mllm_audio", "Qwen/Qwen2-Audio-7B-Instruct"),
    "qwen2.5-omni-7b": ("mllm_audio", "Qwen/Qwen2.5-Omni-7B"),
}

# SPEC.md, study B: the 10 NSD image instructions
IMAGE = {
    "IU1": "Describe the most dominant color in the image.",
    "IU2": "List any food items visible.",
    "IU3": "How many animals are there in the image?",
    "VQ1": "What is in this image?",
    "VQ2": "Are there any people in this image? If yes, describe them.",
    "VQ3": "What is the foreground of the image? What is in the background?",
    "IC": "Generate some text to describe the image.",
    "SR": "Highlight the area that shows a natural outdoor scene.",
    "CR": "What type of environment is shown in the image?",
    "VR": "What kind of interaction is happening between the animate and inanimate objects here?",
}
# SPEC.md, study C: the 18 video prompts (codes ours)
VIDEO = {
    "AR1": "What are the main events captured in the video?",
    "AR2": "Describe the activity in the video.",
    "VU1": "Can you describe the video content in detail?",
    "VU2": "Can you provide a summary of video?",
    "VQA": "How many people are in the video, and what are they doing?",
    "VC1": "Caption the video in a short sentence.",
    "VC2": "What is this video about?",
    "OSR": "What are the main objects and people visible in the video? Describe each one briefly.",
    "CR": "Why did the character take this action? What could have motivated them to do this?",
    "SU": "Where is this video taken from? What place/landmark is shown in the video?",
    "TO": "Step-by-step describe the activity shown in the video.",
    "VR1": "Why is this video funny?",
    "VR2": "What is unusual about this video?",
    "NU": "Summarize the main storyline of the movie. What is the central conflict, and how is it resolved?",
    "ESA": "What emotions do the characters express during the video? How does the video make you feel overall?",
    "CCU": "What cultural references or norms are represented in the video? How does this shape the characters' actions?",
    "GA": "Describe the changes in characters' appearances throughout the video, including any noticeable outfit changes.",
    "LE": "Explain how an early event in the video influences later developments.",
}


@pytest.mark.parametrize("name", sorted(MLLMS))
def test_entry(name):
    registry = load_registry(MODELS)
    entry = registry[name]
    family, hub = MLLMS[name]
    assert entry["family"] == family and entry["hub_id"] == hub
    assert entry["instruction_set"] == family.split("_")[1]
    assert entry["init"] == "pretrained" and entry["revision"]
    for key in ("dtype", "layers", "pooling", "model_class", "params_b"):
        assert key in entry, f"{name} lacks {key}"


def test_random_controls_share_the_architecture():
    registry = load_registry(MODELS)
    controls = {k: v for k, v in registry.items()
                if k.endswith("-random") and v["family"].startswith("mllm")}
    assert {"instructblip-7b-random", "idefics-9b-instruct-random", "llava-1.5-7b-random"} <= set(controls)
    for name, entry in controls.items():
        base = registry[name[: -len("-random")]]
        assert entry["init"] == "random" and "seed" in entry
        assert (entry["hub_id"], entry["model_class"]) == (base["hub_id"], base["model_class"])


def test_study_configs_name_known_mllms():
    registry = load_registry(MODELS)
    for study in (REPO / "config" / "studies").glob("*.yaml"):
        for ds in (yaml.safe_load(study.read_text()).get("datasets") or {}).values():
            for model in ds.get("models", []):
                if model in MLLMS or "llava" in model or "qwen" in model or "blip" in model:
                    assert model in registry, f"{study.name}: {model} not in the registry"


def test_instruction_sets_follow_spec():
    sets = load_instructions(INSTRUCTIONS)
    assert sets["image"] == IMAGE
    assert sets["video"] == VIDEO
    assert len(sets["audio"]) == 5 and sets["audio"]["AU1"] == "Describe this audio in detail."


def _nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*")), "partial or temporary store left behind"


def test_unknown_model_names_it(dataset, tmp_path):
    tsv, root = dataset
    out = tmp_path / "x.zarr"
    with pytest.raises(RegistryError, match="'llava-2000'"):
        extract_features(tsv, root, "llava-2000", "IC", out, MODELS, INSTRUCTIONS, device="cpu")
    _nothing_written(out)


def test_unknown_instruction_names_it(dataset, tmp_path):
    tsv, root = dataset
    out = tmp_path / "x.zarr"
    with pytest.raises(RegistryError, match="'XX9'.*'image'.*'llava-tiny'"):
        extract_features(tsv, root, "llava-tiny", "XX9", out, MODELS, INSTRUCTIONS, device="cpu")
    _nothing_written(out)
    with pytest.raises(RegistryError, match="'AR1'"):  # a video code for an image model
        extract_features(tsv, root, "llava-tiny", "AR1", out, MODELS, INSTRUCTIONS, device="cpu")
    _nothing_written(out)


def test_uncached_pretrained_model_fails_cleanly(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    tsv, root = dataset
    out = tmp_path / "x.zarr"
    with pytest.raises(ModelLoadError, match="'llava-1.5-7b'"):
        extract_features(tsv, root, "llava-1.5-7b", "IC", out, MODELS, INSTRUCTIONS, device="cpu")
    _nothing_written(out)
