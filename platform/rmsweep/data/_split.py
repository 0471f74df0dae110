"""Train/validation split by prompt, deterministic ordering, and A/B position balance."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

from rmsweep.data._records import PairItem, PointItem
from rmsweep.errors import DataError

Item = TypeVar("Item", PointItem, PairItem)


def split_by_prompt(
    items: Sequence[Item],
    *,
    seed: int,
    val_fraction: float,
    n_train: int | None = None,
    n_val: int | None = None,
) -> tuple[list[Item], list[Item]]:
    """Split so that all items of one prompt land in the same split.

    Prompts are ordered by a seeded hash and taken for validation until it holds ``n_val``
    items (else ``val_fraction`` of all items); validation is then cut to exactly ``n_val``
    and training to at most ``n_train``. Both come back in a seeded shuffled order.

    Raises:
        DataError: Fewer than two distinct prompts, so no split is possible.
    """
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.prompt, []).append(item)
    if len(groups) < 2:
        raise DataError(f"need at least 2 distinct prompts to split, got {len(groups)}")
    target = n_val if n_val is not None else max(1, round(val_fraction * len(items)))
    order = sorted(groups, key=lambda p: hashlib.sha256(f"{seed}\0{p}".encode()).hexdigest())
    train: list[Item] = []
    val: list[Item] = []
    for i, prompt in enumerate(order):
        # The last prompt always goes to training, so training is never empty.
        take_val = len(val) < target and i < len(order) - 1
        (val if take_val else train).extend(groups[prompt])
    train, val = shuffled(train, seed, "train"), shuffled(val, seed, "val")
    return (
        train[:n_train] if n_train is not None else train,
        val[:n_val] if n_val is not None else val,
    )


def shuffled(items: Sequence[Item], seed: int, split: str) -> list[Item]:
    """A seeded, split-specific permutation."""
    out = list(items)
    random.Random(f"rmsweep-order:{seed}:{split}").shuffle(out)
    return out


def positions(n: int, seed: int, split: str) -> list[str]:
    """Where the chosen response goes, per pair: "A" and "B" equally often (±1), seeded."""
    out = ["A"] * ((n + 1) // 2) + ["B"] * (n // 2)
    random.Random(f"rmsweep-positions:{seed}:{split}").shuffle(out)
    return out
