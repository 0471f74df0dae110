"""The rules that turn judge outputs into Outcomes: pure, and one batched judge call each."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from rmsweep.evaluation._items import Comparison, Outcome

# Sequence results: a judge that never returns None (a baseline's list[float]) is one too.
ScoreFn = Callable[[list[tuple[str, str]]], Sequence[float | None]]
VerdictFn = Callable[[list[tuple[str, str, str]]], Sequence[str | None]]
VERDICTS = ("A", "B")

_Item = TypeVar("_Item", bound=Hashable)


def judge_pointwise(comparisons: Sequence[Comparison], score_fn: ScoreFn) -> list[Outcome]:
    """Score every distinct (prompt, response) once, in one ``score_fn`` call, then compare.

    Correct only when chosen_score > rejected_score strictly: equal scores are a tie and count
    as wrong, as the benchmarks' own scorers do. A None or NaN score is unparseable (wrong).
    """
    pairs = _distinct(
        p for c in comparisons for p in ((c.prompt, c.chosen), (c.prompt, c.rejected))
    )
    scores = _call(score_fn, pairs, "score_fn")
    by_pair = {pair: _score(value) for pair, value in zip(pairs, scores, strict=True)}
    outcomes = []
    for c in comparisons:
        chosen, rejected = by_pair[(c.prompt, c.chosen)], by_pair[(c.prompt, c.rejected)]
        unparsed = chosen is None or rejected is None
        won = chosen is not None and rejected is not None and chosen > rejected
        tie = not unparsed and chosen == rejected
        outcomes.append(Outcome(float(won), tie, unparsed, chosen, rejected))
    return outcomes


def judge_pairwise(comparisons: Sequence[Comparison], verdict_fn: VerdictFn) -> list[Outcome]:
    """Judge each comparison in both orders (chosen as A, then chosen as B) in one call.

    ``correct`` is the mean over the two orders; ``consistent`` is True when both orders prefer
    the same underlying response (False when either verdict is None, which is unparseable).
    """
    orders = [
        ((c.prompt, c.chosen, c.rejected), (c.prompt, c.rejected, c.chosen)) for c in comparisons
    ]
    triples = _distinct(t for pair in orders for t in pair)
    verdicts = _call(verdict_fn, triples, "verdict_fn")
    for verdict in verdicts:
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"verdict_fn returned {verdict!r}; expected 'A', 'B' or None")
    by_triple = dict(zip(triples, verdicts, strict=True))
    outcomes = []
    for ab, ba in orders:
        v_ab, v_ba = by_triple[ab], by_triple[ba]
        correct = ((v_ab == "A") + (v_ba == "B")) / 2
        unparsed = v_ab is None or v_ba is None
        # "A" then "B" is the chosen response both times, "B" then "A" the rejected one.
        consistent = not unparsed and v_ab != v_ba
        outcomes.append(
            Outcome(correct, False, unparsed, verdicts=(v_ab, v_ba), consistent=consistent)
        )
    return outcomes


def _distinct(items: Iterable[_Item]) -> list[_Item]:
    return list(dict.fromkeys(items))  # first-seen order


def _call(fn: Callable[[list[Any]], Iterable[Any]], batch: list[Any], name: str) -> list[Any]:
    if not batch:
        return []
    results = list(fn(batch))
    if len(results) != len(batch):
        raise ValueError(f"{name} returned {len(results)} results for {len(batch)} inputs")
    return results


def _score(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return float(value)
