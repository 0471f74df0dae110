"""A byte-level BPE tokenizer trained on the prepared prompts, with a chat template."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rmsweep.errors import ConfigError
from rmsweep.tiny_model._config import MAX_POSITIONS
from rmsweep.tiny_model._data import ANSWER_TAGS, ROLES

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD = "<|endoftext|>"
EOS = "<|end|>"
ROLE_TOKENS = tuple(f"<|{role}|>" for role in ROLES)
SPECIAL_TOKENS = (PAD, EOS, *ROLE_TOKENS)

# <|user|>content<|end|> per message; the generation prompt is the bare assistant header, so a
# completion is "<score>3</score><|end|>" and matches how a whole conversation renders.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('tiny model chat template: unknown role ' + message['role']) }}"
    "{%- endif -%}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>' }}{%- endif -%}"
)

# transformers loads any tokenizer saved beside a qwen2 config as its Qwen2Tokenizer, which
# keeps the vocabulary and merges but rebuilds the normaliser and pre-tokenizer (NFC; its split
# pattern, then byte-level without a regex) and adds "<|endoftext|>". The tokenizer is trained
# with that same pipeline, so what veRL loads tokenizes exactly as what was trained (checked on
# reload by ``reload_checked``).
# Printable ASCII and the whitespace characters, always in the alphabet, so English text that
# the training prompts happen not to contain still tokenizes without loss.
_BASE_CHARS = "".join(chr(c) for c in range(32, 127)) + "\n\t"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE of ``vocab_size`` tokens on ``texts`` and wrap it for transformers.

    Special tokens (pad, end, one per role) and the answer tags are single tokens; the tags are
    ordinary (non-special) tokens, so decoding with ``skip_special_tokens`` keeps them.

    Raises:
        ConfigError: ``vocab_size`` cannot hold the alphabet, special tokens and tags.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"), byte_level]
    )
    tokenizer.decoder = decoders.ByteLevel()
    alphabet = sorted({c for piece, _ in byte_level.pre_tokenize_str(_BASE_CHARS) for c in piece})
    bpe_size = vocab_size - len(ANSWER_TAGS)
    trainer = trainers.BpeTrainer(
        vocab_size=bpe_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    needed = tokenizer.get_vocab_size()
    if needed > bpe_size:
        raise ConfigError(
            f"model.tiny.vocab_size={vocab_size} is too small for this data: its alphabet, "
            f"special tokens and answer tags alone need {needed + len(ANSWER_TAGS)}"
        )
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in ANSWER_TAGS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS),
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
    )


def reload_checked(
    path: Path, trained: PreTrainedTokenizerFast, samples: list[str]
) -> PreTrainedTokenizerFast:
    """Load the saved tokenizer the way veRL will (AutoTokenizer, beside the model config).

    Raises:
        RuntimeError: it differs from the trained one in size or on any of ``samples``.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    loaded = AutoTokenizer.from_pretrained(path)
    same = len(loaded) == len(trained) and loaded.eos_token_id == trained.eos_token_id
    same = same and loaded.pad_token_id == trained.pad_token_id
    encode = {"add_special_tokens": False}
    if (
        # A saved tokenizer.json reloads as a fast tokenizer; anything else differs too.
        not isinstance(loaded, PreTrainedTokenizerFast)
        or not same
        or loaded(samples, **encode)["input_ids"] != trained(samples, **encode)["input_ids"]
    ):
        raise RuntimeError(
            f"{path}: the saved tokenizer reloads as {type(loaded).__name__} and tokenizes "
            "differently from the trained one (a transformers change?)"
        )
    return loaded
