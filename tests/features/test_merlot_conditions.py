"""MERLOT Reserve's joint encoder under study D's three input conditions.

A tiny random Flax module with the interface of upstream ``MerlotReserve`` (a
``vision_encoder`` returning ``seq_attnpool``, ``prepare_multimodal_inputs``, a
``joint_transformer`` whose layers are modules named ``layer_NN``) stands in for the
real model, which is not installed here. The stand-in records what it receives, so
the tests assert on the model's inputs in each condition, on the layer count, and
(through the runner) on the stored features. Skipped without JAX/Flax.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
import yaml

from brainalign.features.inputs import select_stimuli

mr = importlib.import_module("brainalign.features.adapters.merlot_reserve_adapter")

PAD, MASK, HIDDEN, LAYERS, GRID = 0, 3, 8, 3, (4, 4)
RECEIVED: list[dict] = []  # what the stand-in module was given, one dict per call


# --------------------------------------------------------------------------- no JAX needed


def test_conditions_ablate_only_their_input():
    frames = np.full((3, 4, 4, 3), 200, dtype=np.uint8)
    f, t, v = mr.ablate(frames, "hi there", "vision_language")
    assert f is frames and t == "hi there" and v == "encode"
    f, t, v = mr.ablate(frames, "hi there", "language_only")
    assert f.shape == frames.shape and not f.any() and t == "hi there" and v == "encode"
    assert mr.ablate(frames, "hi", "language_only", "zeros")[2] == "zeros"
    assert mr.ablate(frames, "hi", "language_only", "drop")[2] == "drop"
    f, t, v = mr.ablate(frames, "hi there", "vision_only")
    assert f is frames and t == "" and v == "encode"
    with pytest.raises(ValueError, match="condition"):
        mr.ablate(frames, "x", "audio_only")


def test_segment_tokens_without_transcript():
    assert mr.segment_tokens(2, [], MASK) == [[MASK], [MASK]]
    assert mr.segment_tokens(2, [], None) == [[], []]


def test_video_text_rows_carry_the_words_of_their_window():
    rows = [dict(stimulus_id="c0", modality="clip", run="r", onset="0", duration="1.5"),
            dict(stimulus_id="c1", modality="clip", run="r", onset="1.5", duration="1.5"),
            dict(stimulus_id="f0", modality="frame", run="r", onset="0.2", duration="0.5", path="a"),
            dict(stimulus_id="f1", modality="frame", run="r", onset="1.7", duration="0.5", path="b"),
            dict(stimulus_id="w1", modality="word", run="r", onset="1.4", duration="0.1", text="there"),
            dict(stimulus_id="w0", modality="word", run="r", onset="0.1", duration="0.1", text="hi"),
            dict(stimulus_id="w2", modality="word", run="q", onset="0.5", duration="0.1", text="other")]
    table = pd.DataFrame(rows).fillna("")
    stims = select_stimuli(table, "video_text")
    assert [(s.stimulus_id, s.paths, s.text) for s in stims] == [
        ("c0", ["a"], "hi there"), ("c1", ["b"], "")]


# --------------------------------------------------------------------------- Flax stand-in

jax = pytest.importorskip("jax")
nn = pytest.importorskip("flax.linen")
jnp = jax.numpy


def _record(**arrays) -> None:
    """Keep concrete inputs (a jitted call passes tracers, which are not recorded)."""
    if not any(isinstance(a, jax.core.Tracer) for a in arrays.values()):
        RECEIVED.append({k: None if a is None else np.asarray(a) for k, a in arrays.items()})


class TinyVision(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, x):  # [frames, patches, 768] -> pooled 2x2: [frames, patches / 4, H]
        _record(vision_patches=x)
        y = nn.Dense(self.hidden, name="proj")(x)
        n, p, h = y.shape
        return {"seq_attnpool": y.reshape(n, p // 4, 4, h).mean(2)}


class TinyLayer(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, x, *, attention_mask=None):
        mask = attention_mask.astype(x.dtype)
        mix = mask @ x / jnp.maximum(mask.sum(-1, keepdims=True), 1.0)
        return x + jnp.tanh(nn.Dense(self.hidden)(x + mix))


class TinyEncoder(nn.Module):  # upstream TransformerEncoder's call signature
    hidden: int
    num_layers: int

    @nn.compact
    def __call__(self, x, *, rotary_coords=None, attention_mask=None, is_valid=None):
        x = nn.LayerNorm(name="pre_ln")(x)
        for i in range(self.num_layers):
            x = TinyLayer(self.hidden, name=f"layer_{i:02d}")(x, attention_mask=attention_mask)
        return {"seq": nn.LayerNorm(name="final_ln")(x)}


class TinyMerlot(nn.Module):
    hidden_size: int = HIDDEN
    joint_num_layers: int = LAYERS

    def setup(self):
        self.vision_encoder = TinyVision(self.hidden_size)
        self.token_embed = nn.Embed(64, self.hidden_size)
        self.joint_transformer = TinyEncoder(self.hidden_size, self.joint_num_layers)

    def prepare_multimodal_inputs(self, tokens, token_segment_idx=None, token_embs=None,
                                  vision_input=None, audio_spans=None, audio_pointers=None,
                                  padding_len=None, video_src_idx=None):
        _record(tokens=tokens, segments=token_segment_idx, vision_input=vision_input)
        x, valid = self.token_embed(tokens), tokens != PAD
        if vision_input is not None:
            x = jnp.concatenate([x, vision_input], 1)
            valid = jnp.concatenate([valid, jnp.ones(vision_input.shape[:2], bool)], 1)
        return {"x": x, "rotary_coords": None, "attention_mask": valid[:, None] & valid[:, :, None]}


class Pretrained:
    """Like ``PretrainedMerlotReserve``: the Flax module and its parameters."""

    def __init__(self, seed: int = 0):
        self.model = TinyMerlot()
        tokens, subseg = np.zeros(mr.MAX_TOKENS, np.int32), np.zeros(mr.MAX_TOKENS, np.int32)
        imgs = np.zeros((1, GRID[0] * GRID[1], 768), np.float32)
        self.params = self.model.init(jax.random.PRNGKey(seed), imgs, tokens, subseg, "encode",
                                      method=mr.joint_hidden_states)["params"]


class _Encoding:
    def __init__(self, ids):
        self.ids = ids


class Encoder:
    def encode(self, text):
        return _Encoding([10 + len(w) for w in text.split()])


def patchify(img, output_grid_size):
    h, w = output_grid_size
    return np.full((h * w, 768), img.mean() / 255.0, dtype=np.float32)


def build_tiny(request):
    """Adapter entry point for the runner test: the stand-in instead of the checkpoint."""
    entry = request.entry
    return mr.MerlotReserveExtractor(Pretrained(), entry, entry.get("stream", "joint"), GRID,
                                     patchify, Encoder(), PAD, MASK)


def _extractor(**entry):
    return mr.MerlotReserveExtractor(Pretrained(), {"frames": 2, "jit": False, **entry}, "joint",
                                     GRID, patchify, Encoder(), PAD, MASK)


CLIP = [np.full((6, 6, 3), 51, dtype=np.uint8)] * 2
TEXT = "so how was the date"  # ids 12 13 13 13 14, split over 2 segments: 3 + 2


def _received(ex):
    RECEIVED.clear()
    feats, _ = ex.forward(ex.collator([{"frames": CLIP, "text": TEXT}]))
    vision = [r for r in RECEIVED if "vision_patches" in r]
    (joint,) = [r for r in RECEIVED if "tokens" in r]
    return feats, (vision[0]["vision_patches"] if vision else None), joint


def test_vision_language_feeds_frames_and_transcript():
    feats, patches, joint = _received(_extractor(condition="vision_language"))
    assert patches.shape == (2, 16, 768) and np.allclose(patches, 0.2)  # the frames (51 / 255)
    assert joint["tokens"][0, :5].tolist() == [12, 13, 13, 13, 14]
    assert (joint["tokens"][0, 5:] == PAD).all()
    assert joint["segments"][0, :5].tolist() == [0, 0, 0, 1, 1]
    assert joint["vision_input"].shape == (1, 2 * 4, HIDDEN)
    assert feats.shape == (LAYERS + 1, 1, HIDDEN)  # joint input + every joint layer


def test_language_only_blanks_the_frames_and_keeps_the_rest():
    _, vl_patches, vl = _received(_extractor(condition="vision_language"))
    _, patches, joint = _received(_extractor(condition="language_only"))
    assert patches.shape == vl_patches.shape and not patches.any()  # black frames
    assert np.array_equal(joint["tokens"], vl["tokens"])
    assert np.array_equal(joint["segments"], vl["segments"])
    assert joint["vision_input"].shape == vl["vision_input"].shape
    _, _, zeros = _received(_extractor(condition="language_only", vision_ablation="zeros"))
    assert not zeros["vision_input"].any() and np.array_equal(zeros["tokens"], vl["tokens"])
    _, _, dropped = _received(_extractor(condition="language_only", vision_ablation="drop"))
    assert dropped["vision_input"] is None and np.array_equal(dropped["tokens"], vl["tokens"])


def test_vision_only_removes_the_transcript_and_keeps_the_frames():
    _, vl_patches, vl = _received(_extractor(condition="vision_language"))
    _, patches, joint = _received(_extractor(condition="vision_only"))
    assert np.array_equal(patches, vl_patches)
    assert np.array_equal(joint["vision_input"], vl["vision_input"])
    assert joint["tokens"][0, :2].tolist() == [MASK, MASK] and (joint["tokens"][0, 2:] == PAD).all()
    _, _, dropped = _received(_extractor(condition="vision_only", text_ablation="drop"))
    assert (dropped["tokens"] == PAD).all()


def test_layers_are_the_joint_encoders_and_conditions_differ():
    ex = _extractor(condition="vision_language")
    module, params = ex.model.model, ex.model.params
    tokens, subseg = mr.pack_tokens([[12, 13], [14]])
    imgs = ex._patches(np.stack(CLIP))
    states = mr.joint_layers(module, params, imgs, tokens, subseg, "encode", jit=False)
    assert len(states) == module.joint_num_layers + 1
    assert len(params["joint_transformer"]) == LAYERS + 2  # pre_ln, layer_00.., final_ln
    jitted = mr.joint_layers(module, params, imgs, tokens, subseg, "encode", jit=True)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(states, jitted))
    assert not any(np.allclose(a, b) for a, b in zip(states[1:], states[2:]))  # layers differ
    feats = {c: _received(_extractor(condition=c))[0] for c in mr.CONDITIONS}
    assert not np.allclose(feats["vision_language"][1:], feats["language_only"][1:])
    assert not np.allclose(feats["vision_language"][1:], feats["vision_only"][1:])


def test_text_pooling_reads_token_positions_only():
    ex = _extractor(condition="vision_only", text_ablation="drop", joint_pool="text")
    with pytest.raises(ValueError, match="no position"):
        ex.forward(ex.collator([{"frames": CLIP, "text": TEXT}]))


def test_runner_stores_every_joint_layer_per_condition(extract, tmp_path):
    base = {"family": "remote", "backend": "external", "environment": "envs/merlot-reserve.yaml",
            "adapter": f"{__name__}:build_tiny", "input": "video_text", "instruction_set": None,
            "weights_url": "https://example.invalid/ckpt", "trust_remote_code": True,
            "code_revision": "c73420a54f5e7d1f9a5b62846d73cd8bc9f6898b", "stream": "joint",
            "frames": 2, "dtype": "float32"}
    reg = tmp_path / "models.yaml"
    reg.write_text(yaml.safe_dump({"models": {
        c: {**base, "condition": c} for c in mr.CONDITIONS}}))
    stores = {c: extract(tmp_path / c, c, models_yaml=reg, allow_remote_code=True)
              for c in mr.CONDITIONS}
    vl = stores["vision_language"]
    assert vl.sizes["layer"] == LAYERS + 1 and vl.sizes["unit"] == HIDDEN
    assert set(vl["modality"].values) == {"clip"} and vl.attrs["condition"] == "vision_language"
    for c in ("language_only", "vision_only"):
        assert list(stores[c]["stimulus_id"].values) == list(vl["stimulus_id"].values)
        assert stores[c].attrs["condition"] == c
        assert not np.allclose(stores[c]["features"].values, vl["features"].values)
