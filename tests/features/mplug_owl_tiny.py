"""Build a tiny random mPLUG-Owl (upstream code, 21ff9b0) with its tokenizer and image
processor in a folder. Runs inside the mPLUG-Owl environment:
``.envs/mplug-owl/bin/python tests/features/mplug_owl_tiny.py OUT`` with the upstream
``mplug_owl`` package on PYTHONPATH."""

import sys
from pathlib import Path

import sentencepiece as spm
import torch
from mplug_owl.configuration_mplug_owl import MplugOwlConfig
from mplug_owl.modeling_mplug_owl import MplugOwlForConditionalGeneration
from mplug_owl.processing_mplug_owl import MplugOwlImageProcessor
from transformers import LlamaTokenizer

WORDS = ("the following is a conversation between a curious human and ai assistant the "
         "assistant gives helpful detailed and polite answers to the user questions human "
         "what is shown in this image describe it briefly ai a cat sat on the warm mat")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(WORDS[i:] + " " + WORDS[:i] for i in range(0, len(WORDS), 7)))
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(out / "tokenizer"),
                                   vocab_size=120, model_type="bpe", character_coverage=1.0, unk_id=0, bos_id=1,
                                   eos_id=2, pad_id=-1, hard_vocab_limit=False)
    tokenizer = LlamaTokenizer(str(out / "tokenizer.model"))
    tokenizer.save_pretrained(out)
    config = MplugOwlConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, projection_dim=32,
                           num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14),
        visual_abstractor_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64, encoder_hidden_size=32),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=32,
                         intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         pad_token_id=2, bos_token_id=1, eos_token_id=2),
        num_query_tokens=64)
    torch.manual_seed(0)
    MplugOwlForConditionalGeneration(config).eval().save_pretrained(out)
    MplugOwlImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}).save_pretrained(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
