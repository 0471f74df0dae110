"""Model-free pointwise scorers, to put a judge's numbers in context."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence


def length_scores(pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Each response's length in characters (the longer response wins)."""
    return [float(len(response)) for _prompt, response in pairs]


def random_scores(pairs: Sequence[tuple[str, str]], seed: int = 0) -> list[float]:
    """A uniform number in [0, 1) per (prompt, response), the same in every process and run."""
    return [_uniform(seed, prompt, response) for prompt, response in pairs]


def _uniform(seed: int, prompt: str, response: str) -> float:
    # json.dumps keeps the three parts apart unambiguously; Python's hash() is salted per process.
    key = json.dumps([seed, prompt, response]).encode("utf-8")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


BASELINES: dict[str, Callable[[Sequence[tuple[str, str]]], list[float]]] = {
    "length": length_scores,
    "random": random_scores,
}
