"""The tiny model before any warm-start: a stand-in judge for tests and benchmarks of the code
around a model (batching, parsing, checkpoints), where what it answers does not matter."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rmsweep.schema import TinyModelConf
from rmsweep.tiny_model._tokenizer import train_tokenizer
from rmsweep.tiny_model._warmstart import init_model


def save_untrained(
    out: Path, texts: Iterable[str], *, seed: int = 0, hidden_size: int = 128, num_layers: int = 2
) -> Path:
    """Train the tokenizer on ``texts``, initialise the model randomly, save both to ``out``."""
    tokenizer = train_tokenizer(texts, vocab_size=400)
    cfg = TinyModelConf(
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=4,
        vocab_size=400,
        warmstart_steps=0,
        warmstart_batch_size=1,
        warmstart_lr=0.0,
        true_label_prob=0.0,
        initializer_range=0.02,  # Qwen2's: nothing here is learnt, so no need to learn fast
    )
    model = init_model(cfg, tokenizer, seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
