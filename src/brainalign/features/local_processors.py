"""Processors built in memory, for random-weight models of real architectures (no download).

A registry entry with a ``config`` block builds a model of a real architecture with
random weights; its processor may name :func:`byte_tokenizer` as a ``factory`` (the
only factory a registry may name, :data:`brainalign.features.registry.
PROCESSOR_FACTORIES`): a byte-level BPE tokenizer (every byte one token, plus the
architecture's special tokens) wrapped in the tokenizer class the processor requires.
The chat templates give such processors the prompt format of their model family.
The extraction benchmark (``workflow/bench/extract_bench.py``) and the tests use them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

BASE_SPECIALS = ("<s>", "</s>", "<pad>", "<unk>")

# --------------------------------------------------------------------------- tokenizers


@lru_cache(maxsize=None)
def _byte_vocab() -> dict[str, int]:
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    return {ch: b for b, ch in sorted(bytes_to_unicode().items())}


def byte_tokenizer(cls: str = "PreTrainedTokenizerFast", specials: list[str] | tuple = (),
                   extra_special_tokens: dict[str, str] | None = None,
                   bos: str = "<s>", eos: str = "</s>", pad: str = "<pad>",
                   add_bos: bool = False) -> Any:
    """A byte-level BPE tokenizer (one token per byte) of transformers class ``cls``.

    Special token ids follow the bytes in order: ``BASE_SPECIALS`` then ``specials``.
    """
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = dict(_byte_vocab())
    for tok in (*BASE_SPECIALS, *specials):
        vocab.setdefault(tok, len(vocab))
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    if add_bos:
        core.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, vocab[bos])])
    kwargs: dict[str, Any] = dict(tokenizer_object=core, bos_token=bos, eos_token=eos,
                                  pad_token=pad, unk_token="<unk>")
    if extra_special_tokens:
        kwargs["extra_special_tokens"] = dict(extra_special_tokens)
    tok = getattr(transformers, cls)(**kwargs)
    if cls == "LlamaTokenizerFast":
        tok.add_bos_token = add_bos
        tok.update_post_processor()
    tok.add_special_tokens({"additional_special_tokens": list(specials)}, replace_additional_special_tokens=False)
    return tok


def token_ids(specials: tuple[str, ...]) -> dict[str, int]:
    """Token ids that :func:`byte_tokenizer` gives ``BASE_SPECIALS`` + ``specials``."""
    out, n = {}, 256
    for tok in (*BASE_SPECIALS, *specials):
        if tok not in out:
            out[tok] = n
            n += 1
    return out


# --------------------------------------------------------------------------- chat templates


def chat_template(user: str, end: str, assistant: str, media: dict[str, str],
                  system: str = "") -> str:
    """A Jinja chat template: ``{system}{user}<media><text>{end}{assistant}``."""
    parts = [system.replace("\n", "\\n")] if system else []
    parts.append(
        "{% for message in messages %}{% if message['role'] == 'user' %}"
        + user
        + "{% for item in message['content'] %}"
        + "".join(
            f"{{% {'if' if i == 0 else 'elif'} item['type'] == '{kind}' %}}{tok}"
            for i, (kind, tok) in enumerate(media.items())
        )
        + "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
        + end
        + "{% else %}"
        + assistant
        + "{% for item in message['content'] %}{{ item['text'] }}{% endfor %}"
        + end
        + "{% endif %}{% endfor %}{% if add_generation_prompt %}"
        + assistant
        + "{% endif %}"
    )
    return "".join(parts)


LLAVA_TEMPLATE = chat_template("USER: ", " ", "ASSISTANT:", {"image": "<image>\n", "video": "<video>\n"})
QWEN_TEMPLATE = chat_template(
    "<|im_start|>user\n", "<|im_end|>\n", "<|im_start|>assistant\n",
    {"image": "<|vision_start|><|image_pad|><|vision_end|>",
     "video": "<|vision_start|><|video_pad|><|vision_end|>",
     "audio": "<|audio_bos|><|AUDIO|><|audio_eos|>"},
)
IDEFICS_TEMPLATE = chat_template("User:", "<end_of_utterance>\n", "Assistant:", {"image": "<image>"})
