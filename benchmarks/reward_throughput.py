"""Pointwise reward throughput: reward_fns.pointwise against a naive regex scorer, one run.

20,000 realistic outputs (200-3,000 characters of reasoning, mostly inside <think>…</think>,
then the score tag; about 20% malformed: truncated, two different answers, non-integer or
out-of-range scores, an unclosed <think>, no tag). Both scorers must agree on every output.
Also times a few adversarial 100 KB outputs, where a whole-text regex can go quadratic.

Run: .venv/bin/python benchmarks/reward_throughput.py [--n 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from reward_fns.pointwise import compute_score
from reward_fns.reference import naive_compute_score

KWARGS = {"shape": "exponential", "k": 4.0}
WORDS = (
    "the response is clear but misses a step in the derivation so helpfulness suffers "
    "correctness looks fine overall though verbosity is high and the user asked for code "
    "I would rate it around a score of 2 maybe 3 considering coherence and complexity"
).split()


def _reasoning(rng: random.Random) -> str:
    target = rng.randint(200, 3000)
    words: list[str] = []
    size = 0
    while size < target:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def _output(rng: random.Random) -> tuple[str, int]:
    truth = rng.randint(0, 4)
    pred = truth if rng.random() < 0.5 else rng.randint(0, 4)
    if rng.random() < 0.8:
        draft = f" so <score>{rng.randint(0, 4)}</score>? " if rng.random() < 0.2 else " "
        think = f"<think>{_reasoning(rng)}{draft}{_reasoning(rng)[:200]}</think>\n"
    else:
        think = _reasoning(rng) + "\n"
    answer = f"<score>{pred}</score>"
    if rng.random() < 0.2:
        answer, think = rng.choice(
            [
                (f"<score>{pred}", think),  # truncated
                (f"<score>{pred}</score> or <score>{(pred + 1) % 5}</score>", think),
                (f"<score>{pred}.5</score>", think),
                (f"<score>{rng.choice([5, 7, 99, -1])}</score>", think),
                (answer, "<think>" + think.removeprefix("<think>").replace("</think>", "")),
                ("I cannot decide.", think),
            ]
        )
    return think + answer, truth


def _adversarial(size: int = 100_000) -> list[str]:
    return [
        "<score>" * (size // 7),
        "<think>" + "x" * size,
        "</think><score>" * (size // 15) + "3</score>",
        "<answer>[[A]]" * (size // 13),
        "a" * size + "<score>3</score>",
    ]


def _rate(fn: Callable, items: list[tuple[str, int]], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for text, truth in items:
            fn(
                data_source="bench",
                solution_str=text,
                ground_truth=truth,
                extra_info=None,
                **KWARGS,
            )
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(0)
    items = [_output(rng) for _ in range(args.n)]
    ours = [compute_score("b", text, truth, **KWARGS) for text, truth in items]
    naive = [naive_compute_score("b", text, truth, **KWARGS) for text, truth in items]
    mismatches = sum(a != b for a, b in zip(ours, naive, strict=True))
    if mismatches:
        raise SystemExit(f"{mismatches} outputs scored differently by the two scorers")
    malformed = sum(r["parsed"] == 0.0 for r in ours) / len(ours)
    mean_len = sum(len(text) for text, _ in items) / len(items)

    fast = _rate(compute_score, items, args.repeats)
    slow = _rate(naive_compute_score, items, args.repeats)
    print(f"{len(items)} outputs, mean {mean_len:.0f} chars, {malformed:.1%} unparseable")
    print(f"reward_fns.pointwise : {fast:12,.0f} scores/s")
    print(f"naive regex baseline : {slow:12,.0f} scores/s")
    print(f"ratio                : {fast / slow:12.1f}x")

    for text in _adversarial():
        timings = []
        for fn in (compute_score, naive_compute_score):
            start = time.perf_counter()
            fn("b", text, 3)
            timings.append(time.perf_counter() - start)
        print(
            f"adversarial {text[:14]!r:>18} x{len(text):,}: ours {timings[0] * 1e3:7.2f} ms, "
            f"naive {timings[1] * 1e3:9.2f} ms ({timings[1] / timings[0]:,.1f}x)"
        )


if __name__ == "__main__":
    main()
