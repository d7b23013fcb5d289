"""Adapters of models that need their own environment (mPLUG-Owl, MERLOT Reserve).

The upstream packages, JAX and the checkpoints are not installed here. These tests
check that the adapters import without them, their pure helpers exactly, and (with
small stand-ins for the upstream modules) how ``build_extractor`` wires the pieces.
They do not test the models themselves.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

from brainalign.features.interface import ExtractionRequest
from brainalign.features.loading import ModelLoadError
from brainalign.features.registry import RegistryError
from brainalign.features.remote import import_adapter, remote_extractor

ADAPTERS = ("mplug_owl_adapter", "merlot_reserve_adapter", "kimi_audio_adapter")


def _request(entry: dict, name: str = "m", **settings) -> ExtractionRequest:
    """The request the runner hands an adapter (remote code allowed, CPU, float32)."""
    return ExtractionRequest(name, entry, "cpu", torch.float32, allow_remote_code=True, **settings)


BLOCK = """
import importlib.abc, sys
BLOCKED = {"mplug_owl", "mreserve", "jax", "jaxlib", "flax", "tensorflow", "kimia_infer"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
from brainalign.features.remote import import_adapter
for name in %r:
    assert callable(import_adapter(name).build_extractor), name
print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""


def test_adapters_import_without_upstream():
    """No import-time dependency: the adapters import with the upstream packages blocked."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", BLOCK % (ADAPTERS,)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ADAPTERS)
def test_bare_adapter_names_resolve_to_the_package(name):
    module = import_adapter(name)
    assert module.__name__ == f"brainalign.features.adapters.{name}"


@pytest.mark.parametrize("name,upstream", [("mplug_owl_adapter", "mplug_owl"),
                                           ("merlot_reserve_adapter", "mreserve"),
                                           ("kimi_audio_adapter", "kimia_infer")])
def test_missing_upstream_names_the_environment(name, upstream):
    entry = {"backend": "external", "adapter": f"{name}:build_extractor",
             "environment": "envs/x.yaml", "revision": "a" * 40, "hub_id": "h",
             "code_revision": "b" * 40}
    with pytest.raises(ModelLoadError, match=rf"envs/x.yaml.*{upstream}"):
        remote_extractor(_request(entry, instruction_text="Describe the image."))


def test_an_adapter_not_written_names_the_registry_key():
    entry = {"backend": "external", "adapter": "no_such_adapter:build_extractor",
             "environment": "envs/x.yaml", "code_revision": "b" * 40}
    with pytest.raises(RegistryError, match=r"models\.m\.adapter .*not written"):
        remote_extractor(_request(entry))


@pytest.mark.parametrize("over,key", [({"code_revision": None}, "code_revision"),
                                      ({"revision": "main"}, "revision"),
                                      ({"revision": None}, "revision")])
def test_unpinned_external_entries_name_the_key(over, key):
    entry = {"backend": "external", "adapter": "mplug_owl_adapter:build_extractor",
             "hub_id": "org/model", "revision": "a" * 40, "code_revision": "b" * 40, **over}
    with pytest.raises(RegistryError) as err:
        remote_extractor(_request(entry))
    assert str(err.value).startswith(f"config/models.yaml: models.m.{key} is ")
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- mPLUG-Owl helpers

mo = importlib.import_module("brainalign.features.adapters.mplug_owl_adapter")


def test_mplug_prompt_is_the_upstream_template():
    assert mo.build_prompt("What is shown?") == (
        "The following is a conversation between a curious human and AI assistant. The "
        "assistant gives helpful, detailed, and polite answers to the user's questions.\n"
        "Human: <image>\nHuman: What is shown?\nAI: ")


def test_mplug_media_starts():
    assert mo.media_starts([1, -1, -1, -1, 5, 6]) == [1]
    assert mo.media_starts(torch.tensor([-1, -1, 4, -1, -1])) == [0, 3]
    assert mo.media_starts([-1, -2, 3]) == [0, 1]
    assert mo.media_starts([1, 2, 3]) == []


def test_mplug_left_align_and_positions():
    ids = torch.tensor([[1, 7, 8, 2, 2], [1, 7, 8, 9, 4]])
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out_ids, out_mask = mo.left_align(ids, mask, pad_id=0)
    assert out_ids.tolist() == [[0, 0, 1, 7, 8], [1, 7, 8, 9, 4]]
    assert out_mask.tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
    assert mo.position_ids(out_mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_mplug_answer_tokens_drop_a_bos_column_only():
    assert mo.answer_tokens(torch.tensor([[1, 5, 2], [1, 6, 7]]), 1).tolist() == [[5, 2], [6, 7]]
    assert mo.answer_tokens(torch.tensor([[1, 5], [6, 7]]), 1).tolist() == [[1, 5], [6, 7]]
    assert mo.answer_tokens(torch.tensor([[1, 5]]), None).tolist() == [[1, 5]]


def test_mplug_splice_media_overwrites_placeholders():
    text = torch.arange(2 * 6, dtype=torch.float32).reshape(2, 6, 1)  # value = b*6 + t
    mask = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    image = torch.tensor([[[100.0], [101.0]], [[200.0], [201.0]], [[300.0], [301.0]]])
    # row 0: one image at 2 (placeholders 2..4); row 1: images at 0 and 3
    emb, att = mo.splice_media(text, mask, [[2], [0, 3]], image)
    assert emb[..., 0].tolist() == [[0, 1, 100, 101, 4, 5], [200, 201, 8, 300, 301, 11]]
    assert att.tolist() == [[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]


def test_mplug_answer_pooling_reuses_mllm_helpers():
    from brainalign.features.mllm import answer_mask

    valid, empty = answer_mask(torch.tensor([[5, 6, 2, 9], [2, 3, 4, 5]]), {2})
    assert valid.tolist() == [[True, True, False, False], [True, False, False, False]]
    assert empty.tolist() == [False, True]


# --------------------------------------------------------------------------- MERLOT helpers

mr = importlib.import_module("brainalign.features.adapters.merlot_reserve_adapter")


def test_merlot_segment_tokens():
    assert mr.segment_tokens(3, [], mask_id=3) == [[3], [3], [3]]
    assert mr.segment_tokens(3, [10, 11, 12, 13], mask_id=3) == [[10, 11], [12], [13]]
    assert mr.segment_tokens(3, [10], mask_id=3) == [[10], [], []]


def test_merlot_pack_tokens_as_preprocess_video():
    tokens, subseg = mr.pack_tokens([[10, 11], [12], [13]], pad_id=0, max_len=6)
    assert tokens.tolist() == [10, 11, 12, 13, 0, 0] and tokens.dtype == np.int32
    assert subseg.tolist() == [0, 0, 3, 6, -1, -1] and subseg.dtype == np.int32
    tokens, subseg = mr.pack_tokens([[1, 2, 3], [4, 5]], max_len=4)
    assert tokens.tolist() == [1, 2, 3, 4] and subseg.tolist() == [0, 0, 0, 3]
    assert mr.pack_tokens([[3]])[0].shape == (160,)


def test_merlot_span_ids_keep_the_end():
    assert mr.span_ids([7, 8], pad_id=0, length=4).tolist() == [7, 8, 0, 0]
    assert mr.span_ids(list(range(1, 7)), length=4).tolist() == [3, 4, 5, 6]
    assert mr.span_ids([], length=3).tolist() == [0, 0, 0]
    assert mr.span_text({"text": "cat", "context": "the old"}) == "the old cat"
    assert mr.span_text({"text": "cat", "context": ""}) == "cat"


def test_merlot_mean_valid():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]])
    assert mr.mean_valid(x, np.array([True, True, False])).tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="no position"):
        mr.mean_valid(x, np.zeros(3, dtype=bool))


def test_merlot_collator_caps_frames():
    col = mr.MerlotCollator("joint", frames=2)
    clip = [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(3)]
    out = col([clip, {"frames": clip, "text": "hello"}])
    assert [c.shape for c in out["frames"]] == [(2, 4, 4, 3)] * 2 and out["texts"] == ["", "hello"]
    assert mr.MerlotCollator("language", 8)([{"text": "b", "context": "a"}]) == {"texts": ["a b"]}


# --------------------------------------------------------------------------- wiring (stand-ins)


def _install(monkeypatch, modules: dict[str, dict]) -> None:
    for name, attrs in modules.items():
        mod = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(mod, k, v)
        monkeypatch.setitem(sys.modules, name, mod)


class _Encoding:
    def __init__(self, ids):
        self.ids = ids


class _Encoder:
    def encode(self, text):
        return _Encoding([10 + len(w) for w in text.split()])


class _Merlot:
    """Stand-in for PretrainedMerlotReserve: records calls, returns traceable values."""

    calls: list = []
    H = 4

    @classmethod
    def from_pretrained(cls, model_name, image_grid_size=(18, 32), cache_dir=None):
        cls.calls.append(("from_pretrained", model_name, image_grid_size, cache_dir))
        return cls()

    def get_imgseq_only(self, imgs):
        ns, hw, _ = imgs.shape
        return np.full((ns, hw // 4, self.H), float(imgs.mean()))

    def embed_text_spans_only(self, spans):
        self.calls.append(("spans", spans.copy()))
        return np.repeat(spans[:, :1].astype(np.float32), self.H, axis=1)


def _patchify(img, output_grid_size):
    h, w = output_grid_size
    return np.full((h * w, 768), img.mean() / 255.0, dtype=np.float32)


def test_merlot_build_extractor_wiring(monkeypatch):
    _Merlot.calls = []
    _install(monkeypatch, {
        "mreserve": {},
        "mreserve.lowercase_encoder": {"MASK": 3, "PADDING": 0, "get_encoder": _Encoder},
        "mreserve.modeling": {"PretrainedMerlotReserve": _Merlot},
        "mreserve.preprocess": {"preprocess_image_to_patches": _patchify},
    })
    entry = {"stream": "vision", "input": "video", "layers": "all"}
    vision = mr.build_extractor(_request(entry, "merlot-reserve-vision"))
    assert _Merlot.calls[0] == ("from_pretrained", "base", (12, 20), None)
    assert vision.frames == 8 and vision.input_kind == "video"
    clip = [np.full((8, 8, 3), 51, dtype=np.uint8)] * 8
    pooled = vision.forward(vision.collator([clip]))[0][0, 0]
    assert pooled.tolist() == pytest.approx([0.2] * 4, abs=1e-6)  # mean of 51 / 255

    lang = mr.build_extractor(_request({"stream": "language", "input": "text",
                                        "image_grid_size": [18, 32]}, "l"))
    assert _Merlot.calls[-1] == ("from_pretrained", "base", (18, 32), None)
    feats, _ = lang.forward(lang.collator([{"text": "cats", "context": "the"}]))
    spans = _Merlot.calls[-1][1]
    assert spans.tolist() == [[13, 14] + [0] * 13] and feats.shape == (1, 1, 4)
    assert lang.attrs()["layers_exposed"].startswith("span_encoder")


class _Module:
    @classmethod
    def from_config(cls, config):
        obj = cls()
        obj.config = config
        return obj


class _Pretrained:
    def __init__(self, model, params, encoder):
        self.model, self.params, self.encoder = model, params, encoder


def test_merlot_fine_tuned_checkpoint_loads_into_the_same_module(monkeypatch, tmp_path):
    repo = tmp_path / "merlot_reserve"
    (repo / "mreserve").mkdir(parents=True)
    (repo / "pretrain/configs").mkdir(parents=True)
    (repo / "pretrain/configs/base.yaml").write_text(
        "model: {hidden_size: 768, joint_num_layers: 12, output_grid: [12, 20], use_bfloat16: true}\n")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache/tvqa_finetune_base").write_text("checkpoint")
    loaded = []
    _install(monkeypatch, {
        "mreserve": {"__file__": str(repo / "mreserve/__init__.py")},
        "mreserve.checkpoint": {"load_checkpoint": lambda p: loaded.append(p) or {"params": {"w": 1}}},
        "mreserve.lowercase_encoder": {"get_encoder": _Encoder},
        "mreserve.modeling": {"MerlotReserve": _Module, "PretrainedMerlotReserve": _Pretrained},
    })
    entry = {"checkpoint": "tvqa_finetune_base", "cache_dir": str(tmp_path / "cache"),
             "weights_url": "https://example.invalid/never-fetched"}
    model = mr.load_model(entry, (18, 32))
    assert loaded == [str(tmp_path / "cache/tvqa_finetune_base")] and model.params == {"w": 1}
    assert model.model.config["model"]["output_grid"] == [18, 32]
    assert model.model.config["model"]["use_bfloat16"] is False
    assert model.model.config["model"]["joint_num_layers"] == 12


class _Tok:
    bos_token_id, eos_token_id, pad_token_id = 1, 2, 0

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"t{i}" for i in ids)


class _Processor:
    def __init__(self, image_processor, tokenizer):
        self.image_processor, self.tokenizer = image_processor, tokenizer
        self.calls = []

    def __call__(self, text=None, images=None, return_tensors=None):
        self.calls.append((list(text), len(images)))
        n = len(text)
        ids = torch.tensor([[1, -1, -1, -1, 5, 6]] * n)
        return {"input_ids": ids, "attention_mask": torch.ones(n, 6),
                "pixel_values": torch.zeros(n, 3, 4, 4)}


class _Loader:
    calls: list = []

    @classmethod
    def from_pretrained(cls, path, **kw):
        cls.calls.append((cls.__name__, path, kw))
        return cls()


class _ImageProcessor(_Loader):
    pass


class _AutoTokenizer(_Loader):
    @classmethod
    def from_pretrained(cls, path, **kw):
        cls.calls.append(("AutoTokenizer", path, kw))
        return _Tok()


class _Vision:
    """Stand-in vision encoder: 5 patch states of ones per image."""

    def __init__(self):
        self.embeddings = types.SimpleNamespace(
            cls_token=types.SimpleNamespace(data=torch.zeros(1)))

    def __call__(self, pixel_values, return_dict=True):
        return types.SimpleNamespace(last_hidden_state=torch.ones(pixel_values.shape[0], 5, 8))


def _abstractor(query_embeds, encoder_hidden_states, encoder_attention_mask, return_dict):
    return {"last_hidden_state": query_embeds + 1.0}


class _Owl(_Loader):
    """Stand-in mPLUG-Owl: vision/abstractor stubs (2 queries) and a real tiny LLaMA."""

    def __init__(self):
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16,
                          num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2)
        self.language_model = LlamaForCausalLM(cfg).eval()
        self.query_tokens = torch.zeros(1, 2, 8)
        self.vision_model = _Vision()
        self.abstractor = _abstractor

    def to(self, device):
        return self

    def eval(self):
        return self

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def generate(self, pixel_values, input_ids, attention_mask, **kw):
        _Loader.calls.append(("generate", kw))
        return torch.tensor([[1, 7, 2, 0]] * input_ids.shape[0])  # BOS, answer 7, EOS, pad


def test_mplug_build_extractor_wiring(monkeypatch):
    _Loader.calls = []
    _install(monkeypatch, {
        "mplug_owl": {},
        "mplug_owl.modeling_mplug_owl": {"MplugOwlForConditionalGeneration": _Owl},
        "mplug_owl.processing_mplug_owl": {"MplugOwlImageProcessor": _ImageProcessor,
                                           "MplugOwlProcessor": _Processor},
    })
    import transformers

    monkeypatch.setattr(transformers, "AutoTokenizer", _AutoTokenizer)
    entry = {"hub_id": "MAGAer13/mplug-owl-llama-7b", "revision": "b" * 40, "input": "image",
             "layers": "all", "pooling": "mean"}
    ex = mo.build_extractor(_request(entry, "mplug-owl-7b", instruction_text="What is shown?",
                                     mode="response", max_new_tokens=3))
    loads = {c[0]: c for c in _Loader.calls}
    assert loads["_Owl"][1:] == ("MAGAer13/mplug-owl-llama-7b",
                                {"revision": "b" * 40, "torch_dtype": torch.float32})
    assert loads["_ImageProcessor"][2] == {"revision": "b" * 40}
    assert loads["AutoTokenizer"][2] == {"revision": "b" * 40}
    assert ex.prompt == mo.build_prompt("What is shown?")

    batch = ex.collator([object(), object()])
    assert ex.processor.calls == [([ex.prompt] * 2, 2)]
    feats, texts = ex.forward(batch)
    gen = [c for c in _Loader.calls if c[0] == "generate"][0][1]
    assert gen["do_sample"] is False and gen["max_new_tokens"] == 3 and gen["eos_token_id"] == 2
    assert texts == ["t7", "t7"] and feats.shape == (3, 2, 8)  # embeddings + 2 layers

    # the pooled answer state is the LM state at the answer token (position after the prompt)
    ids = torch.cat([batch["input_ids"], torch.tensor([[7, 2, 0]] * 2)], 1)
    att = torch.cat([batch["attention_mask"], torch.tensor([[1, 0, 0]] * 2)], 1)
    emb, att2 = ex.embed(ids, att, batch["pixel_values"])
    assert emb[0, 1:3].tolist() == [[1.0] * 8] * 2  # the 2 image queries (0 + 1)
    out = ex.model.language_model(inputs_embeds=emb, attention_mask=att2,
                                  position_ids=mo.position_ids(att2), output_hidden_states=True)
    assert np.allclose(feats[-1], out.hidden_states[-1][:, 6].detach().numpy(), atol=1e-6)

    ex.mode = "prompt"
    feats, texts = ex.forward(batch)
    assert texts is None and feats.shape == (3, 2, 8)



def test_runner_passes_instruction_and_mode_to_remote_entries(monkeypatch):
    import brainalign.features.remote as remote
    from brainalign.features.runner import build_extractor

    seen = {}
    monkeypatch.setattr(remote, "remote_extractor",
                        lambda request: seen.update(request=request) or "extractor")
    entry = {"family": "remote", "backend": "external", "instruction_set": "image"}
    assert build_extractor(_request(entry, instruction_text="Describe.", mode="prompt",
                                    max_new_tokens=5)) == "extractor"
    got = (seen["request"].instruction_text, seen["request"].mode, seen["request"].max_new_tokens)
    assert got == ("Describe.", "prompt", 5)
    assert entry == {"family": "remote", "backend": "external", "instruction_set": "image"}  # left as it was
