"""The tiny model itself: random init, the supervised warm-start, and its greedy check."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rmsweep.schema import TinyModelConf
from rmsweep.tiny_model._config import MAX_POSITIONS
from rmsweep.tiny_model._data import Example, answer_text, parse_answer

if TYPE_CHECKING:
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
        TrainerControl,
        TrainerState,
    )

IGNORE = -100  # label value the loss skips (prompt and padding positions)


def init_model(
    cfg: TinyModelConf, tokenizer: PreTrainedTokenizerFast, seed: int
) -> Qwen2ForCausalLM:
    """A randomly initialised Qwen2-style causal LM sized by ``cfg`` (float32, tied embeddings)."""
    import torch
    from transformers import Qwen2ForCausalLM

    config = tiny_hf_config(
        cfg,
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    return model


def tiny_hf_config(
    cfg: Any, *, vocab_size: int, eos_token_id: int | None = None, pad_token_id: int | None = None
) -> Qwen2Config:
    """The tiny model's Hugging Face config (``cfg``: a TinyModelConf or the config's
    ``model.tiny``)."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=2 * cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        use_sliding_window=False,
        bos_token_id=None,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        initializer_range=cfg.initializer_range,
        dtype="float32",
    )


def prompt_texts(tokenizer: PreTrainedTokenizerFast, examples: list[Example]) -> list[str]:
    """Each example's chat-templated prompt, ending with the assistant header."""
    # With tokenize=False the template renders to one string per conversation.
    return [
        cast(
            str,
            tokenizer.apply_chat_template(
                [{"role": r, "content": c} for r, c in e.messages],
                tokenize=False,
                add_generation_prompt=True,
            ),
        )
        for e in examples
    ]


def prompt_ids(tokenizer: PreTrainedTokenizerFast, examples: list[Example]) -> list[list[int]]:
    """Chat-templated prompt tokens (with the assistant header) for each example."""
    return tokenizer(prompt_texts(tokenizer, examples), add_special_tokens=False)["input_ids"]


def warm_start(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    examples: list[Example],
    labels: tuple[str, ...],
    cfg: TinyModelConf,
    *,
    parser: str,
    seed: int,
    scratch: Path,
    heldout: Sequence[Example] = (),
) -> dict[str, Any]:
    """Supervised warm-start with transformers' Trainer; loss on the answer tokens only.

    Each of the ``warmstart_steps * warmstart_batch_size`` examples is a training row (one
    shuffled pass after another) whose target is its true label with probability
    ``true_label_prob``, else a label drawn uniformly from ``labels``. With
    ``warmstart_target_acc`` set, training stops at the first check (every
    ``warmstart_check_every`` steps) whose greedy accuracy on ``heldout`` reaches it.

    Returns:
        steps, examples, final_loss, time_s and the accuracy checks as (step, acc) pairs.
    """
    import numpy as np
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    if cfg.warmstart_steps == 0:
        return {"steps": 0, "examples": 0, "final_loss": None, "time_s": 0.0}
    answers = {
        label: tokenizer(answer_text(parser, label), add_special_tokens=False)["input_ids"]
        + [tokenizer.eos_token_id]
        for label in labels
    }
    room = MAX_POSITIONS - max(len(a) for a in answers.values())
    prompts = [ids[-room:] for ids in prompt_ids(tokenizer, examples)]
    rng = np.random.default_rng(seed)
    total = cfg.warmstart_steps * cfg.warmstart_batch_size
    rows = np.concatenate(
        [rng.permutation(len(examples)) for _ in range(-(-total // len(examples)))]
    )[:total]
    keep_true = rng.random(total) < cfg.true_label_prob
    random_labels = rng.integers(len(labels), size=total)
    stream = []
    for row, keep, other in zip(
        rows.tolist(), keep_true.tolist(), random_labels.tolist(), strict=True
    ):
        target = examples[row].label if keep else labels[other]
        stream.append((prompts[row], answers[target]))

    args = TrainingArguments(
        output_dir=str(scratch),
        max_steps=cfg.warmstart_steps,
        per_device_train_batch_size=cfg.warmstart_batch_size,
        learning_rate=cfg.warmstart_lr,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        seed=seed,
        data_seed=seed,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=max(1, cfg.warmstart_steps // 10),
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_Stream(stream),
        data_collator=_Collator(tokenizer.pad_token_id),
    )
    trainer.remove_callback(PrinterCallback)
    checks: list[tuple[int, float]] = []
    if cfg.warmstart_target_acc > 0 and heldout:

        class StopAtAccuracy(TrainerCallback):
            def on_step_end(
                self,
                args: TrainingArguments,
                state: TrainerState,
                control: TrainerControl,
                **kwargs: Any,
            ) -> None:
                if state.global_step % cfg.warmstart_check_every:
                    return
                acc = greedy_check(model, tokenizer, list(heldout), parser=parser)["greedy_acc"]
                model.train()
                checks.append((state.global_step, acc))
                control.should_training_stop = acc >= cfg.warmstart_target_acc

        trainer.add_callback(StopAtAccuracy())
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    return {
        "steps": trainer.state.global_step,
        "examples": trainer.state.global_step * cfg.warmstart_batch_size,
        "final_loss": round(float(losses[-1]), 4) if losses else None,
        "time_s": round(elapsed, 2),
        "acc_checks": checks,
    }


class _Stream:
    """The materialised warm-start examples as a map-style dataset."""

    def __init__(self, items: list[tuple[list[int], list[int]]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.items[i]


class _Collator:
    """Right-pads prompt + answer; labels mask the prompt and the padding."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(p) + len(a) for p, a in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (prompt, answer) in enumerate(batch):
            n, m = len(prompt), len(answer)
            ids[i, : n + m] = torch.tensor(prompt + answer)
            labels[i, n : n + m] = torch.tensor(answer)
            mask[i, : n + m] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def greedy_check(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    examples: list[Example],
    *,
    parser: str,
    batch_size: int = 100,
) -> dict[str, Any]:
    """Greedy answers on ``examples``: exact-label accuracy, format rate, answer shares.

    An answer is well-formed when the completion ends with the end token and is exactly one
    answer tag (``<score>K</score>`` / ``<answer>[[X]]</answer>``).
    """
    import torch

    if not examples:
        return {"rows": 0, "greedy_acc": None, "format_rate": None, "answer_share": {}}
    eos = tokenizer.eos_token_id
    prompts = prompt_ids(tokenizer, examples)
    predictions: list[str | None] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            chunk = [p[-(MAX_POSITIONS - 16) :] for p in prompts[start : start + batch_size]]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in chunk])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
            # transformers wraps the self-typed `generate` in torch.no_grad(), which its
            # stubs turn into a function taking `self` twice.
            out = model.generate(  # type: ignore[misc]
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=12,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
            for completion in out[:, width:].tolist():
                if eos not in completion:
                    predictions.append(None)
                    continue
                # One sequence of ids decodes to one string.
                text = cast(str, tokenizer.decode(completion[: completion.index(eos)]))
                predictions.append(parse_answer(parser, text))
    n = len(examples)
    parsed = [p for p in predictions if p is not None]
    shares = Counter(parsed)
    return {
        "rows": n,
        "greedy_acc": round(
            sum(p == e.label for p, e in zip(predictions, examples, strict=True)) / n, 4
        ),
        "format_rate": round(len(parsed) / n, 4),
        "answer_share": {k: round(v / n, 4) for k, v in sorted(shares.items())},
    }
