"""The ``tiny`` model: a small Qwen2-style causal LM built locally from the training data.

A byte-level BPE tokenizer trained on the prompts, a randomly initialised LM, and a short
supervised warm-start so RL starts from a model that emits the answer tag; cached by content
hash, nothing downloaded. ``build_tiny_model`` is the entry point.
"""

from __future__ import annotations

from rmsweep.tiny_model._build import CODE_VERSION, TinyModel, build_tiny_model
from rmsweep.tiny_model._data import PARSERS, answer_text, parse_answer
from rmsweep.tiny_model._untrained import save_untrained
from rmsweep.tiny_model._warmstart import tiny_hf_config

__all__ = [
    "CODE_VERSION",
    "PARSERS",
    "TinyModel",
    "answer_text",
    "build_tiny_model",
    "parse_answer",
    "save_untrained",
    "tiny_hf_config",
]
