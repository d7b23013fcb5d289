"""GPT-2, BERT and a LLaMA-class LM: tiny random instances of the registry entries."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import TOKENIZER, check_store, expected_ids, real_entry, run_twice, tiny_registry

VOCAB = 30522  # the local BERT tokenizer's vocabulary
CASES = {
    "gpt2": {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
             "vocab_size": VOCAB, "initializer_range": 0.5},
    "bert-base": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": VOCAB,
                  "max_position_embeddings": 64, "initializer_range": 0.5},
    "vicuna-7b": {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64,
                  "vocab_size": VOCAB, "max_position_embeddings": 64, "initializer_range": 0.5,
                  "pad_token_id": 0},
}


@pytest.mark.parametrize("real", sorted(CASES))
def test_text_model(dataset, extract, tmp_path, real):
    reg = tiny_registry(tmp_path, {"tiny": {"from": real, "config": CASES[real],
                                            "processor": TOKENIZER, "dtype": "auto"}})
    ds = run_twice(extract, tmp_path, "tiny", reg, context_words=3)
    check_store(ds, expected_ids(dataset[0], "word"), 3, 32)
    assert ds.attrs["context_words"] == 3


def test_llama_class_entries_use_bfloat16_on_gpu():
    for name in ("vicuna-7b", "llama-2-7b"):
        assert real_entry(name)["dtype"] == "bfloat16"


def test_word_features_depend_on_context_for_causal_lm(dataset, extract, tmp_path):
    """A causal LM's state of a word changes with the preceding words it sees."""
    reg = tiny_registry(tmp_path, {"g": {"from": "gpt2", "config": CASES["gpt2"],
                                         "processor": TOKENIZER}})
    alone = extract(tmp_path / "0", "g", models_yaml=reg, context_words=0).features.values
    ctx = extract(tmp_path / "5", "g", models_yaml=reg, context_words=5).features.values
    # the first word of a run has no context either way (padding differs: allclose)
    np.testing.assert_allclose(alone[:, 0], ctx[:, 0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(alone[-1, 1:], ctx[-1, 1:], atol=1e-3)
