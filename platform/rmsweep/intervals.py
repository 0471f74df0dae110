"""Is a difference between two configurations real? Paired bootstrap intervals over benchmark
items, and over seeds (or trials) when a configuration has several.

Both sides are judged on the same items, so each resample draws *items* once and scores both
sides on them (paired); an item is a benchmark row, so RM-Bench's nine style comparisons of one
prompt move together. With several runs per side, each resample also draws runs with
replacement within each side (runs, then items). The interval is the 2.5th and 97.5th
percentiles of the resampled differences; the verdict says "better" or "worse" only when the
interval excludes 0. Seeded: the same judgments give the same interval.

A benchmark's score is a weighted sum of group accuracies (``Judgments``): RM-Bench's ``avg`` is
a mean over domains of the mean of its easy, normal and hard levels, each the mean of its
style cells, i.e. one group per (domain, cell) with weight 1 / (domains × 3 × cells in its
level); any other benchmark is scored as its accuracy over all comparisons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
BETTER, WORSE, SAME = "better", "worse", "no detectable difference"


@dataclass(frozen=True)
class Judgments:
    """One run's judgments on one benchmark, summed per item (rows) and group (columns).

    ``items`` name the rows (the resampling unit); ``correct`` and ``count`` are
    (items × groups); ``weights`` (groups) turn group accuracies into the score.
    """

    bench: str
    items: tuple[str, ...]
    groups: tuple[str, ...]
    correct: np.ndarray
    count: np.ndarray
    weights: np.ndarray

    def score(self, draws: np.ndarray | None = None) -> np.ndarray | float:
        """The score on all items, or on each row of ``draws`` (resamples × items, how many
        times each item is drawn)."""
        if draws is None:
            return float(self.weights @ (self.correct.sum(0) / self.count.sum(0)))
        with np.errstate(invalid="ignore", divide="ignore"):  # a group no draw reached: nan
            return (draws @ self.correct / (draws @ self.count)) @ self.weights

    def on(self, items: Sequence[str]) -> Judgments:
        """The same judgments with rows in the order of ``items`` (all of them must be here)."""
        index = {item: i for i, item in enumerate(self.items)}
        missing = [item for item in items if item not in index]
        if missing:
            raise ValueError(f"{self.bench}: {len(missing)} items not judged, e.g. {missing[0]}")
        rows = [index[item] for item in items]
        return Judgments(
            self.bench,
            tuple(items),
            self.groups,
            self.correct[rows],
            self.count[rows],
            self.weights,
        )


def judgments(rows: Sequence[Mapping[str, Any]], bench: str) -> Judgments:
    """``bench``'s rows of a run's ``eval/judgments.json`` (one per comparison) as item sums.

    Raises:
        ValueError: no row of ``bench``.
    """
    mine = [r for r in rows if r["bench"] == bench]
    if not mine:
        raise ValueError(f"no judgments of {bench}")
    groups = _weights(mine, bench)
    names = sorted(groups)
    column = {g: k for k, g in enumerate(names)}
    items = sorted({str(r["item_id"]) for r in mine})
    row_of = {item: i for i, item in enumerate(items)}
    correct = np.zeros((len(items), len(names)))
    count = np.zeros((len(items), len(names)))
    for r in mine:
        i, k = row_of[str(r["item_id"])], column[_group(r, bench)]
        correct[i, k] += float(r["correct"])
        count[i, k] += 1.0
    vector = np.array([groups[g] for g in names], dtype=float)
    return Judgments(bench, tuple(items), tuple(names), correct, count, vector)


def _group(row: Mapping[str, Any], bench: str) -> str:
    if bench != "rmbench":
        return "all"
    return f"{str(row['group']).split('-', 1)[0]}|{row['cell']}"


def _weights(rows: Sequence[Mapping[str, Any]], bench: str) -> dict[str, float]:
    """Each group's weight in the score. RM-Bench's avg (rmsweep.evaluation._rmbench): the mean
    over domains of the mean of three levels of three cells each, so 1 / (9 × domains) on
    every (domain, cell) accuracy."""
    if bench != "rmbench":
        return {"all": 1.0}
    domains = {str(r["group"]).split("-", 1)[0] for r in rows}
    cells = [f"{i},{j}" for i in range(3) for j in range(3)]
    return {f"{d}|{c}": 1.0 / (9 * len(domains)) for d in domains for c in cells}


@dataclass(frozen=True)
class Difference:
    """``a`` − ``b`` with its interval, and what it says (a loss is better lower)."""

    estimate: float
    low: float
    high: float
    higher_is_better: bool = True

    @property
    def verdict(self) -> str:
        up, down = (BETTER, WORSE) if self.higher_is_better else (WORSE, BETTER)
        if self.low > 0:
            return up
        if self.high < 0:
            return down
        return SAME

    def to_dict(self) -> dict[str, float | str]:
        return {"diff": self.estimate, "low": self.low, "high": self.high, "verdict": self.verdict}


def paired_difference(
    a: Sequence[Judgments], b: Sequence[Judgments], *, resamples: int = RESAMPLES, seed: int = 0
) -> Difference:
    """The difference in score between side ``a`` and side ``b`` (each one or more runs: the
    side's score is its runs' mean) on the items both judged, with a paired bootstrap interval.

    Raises:
        ValueError: a side is empty, or the sides share no item.
    """
    if not a or not b:
        raise ValueError("each side needs at least one run")
    both, draws, rng = _resampled([*a, *b], resamples, seed)
    a, b = both[: len(a)], both[len(a) :]
    diffs = _side(a, draws, rng) - _side(b, draws, rng)
    estimate = float(np.mean([j.score() for j in a]) - np.mean([j.score() for j in b]))
    return Difference(estimate, *_bounds(diffs))


def _resampled(
    runs: Sequence[Judgments], resamples: int, seed: int
) -> tuple[list[Judgments], np.ndarray, np.random.Generator]:
    """``runs`` on the items all of them judged, each resample's draws of those items (how
    many times each), and the generator that draws the runs next.

    Raises:
        ValueError: the runs share no item.
    """
    shared = sorted(set.intersection(*(set(j.items) for j in runs)))
    if not shared:
        raise ValueError(f"{runs[0].bench}: the two sides judged no item in common")
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(shared), np.full(len(shared), 1 / len(shared)), size=resamples)
    return [j.on(shared) for j in runs], draws, rng


def _bounds(resampled: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the resampled statistic (a resample that drew none of a
    group's items is left out)."""
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.nanpercentile(resampled, [tail, 100 - tail])
    return float(low), float(high)


def _side(runs: Sequence[Judgments], draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each resample's score of a side: its runs drawn with replacement, scored on the
    resample's items, averaged."""
    scores = np.stack([run.score(draws) for run in runs])  # runs × resamples
    if len(runs) == 1:
        return scores[0]
    picks = rng.integers(0, len(runs), size=(len(runs), draws.shape[0]))
    return np.take_along_axis(scores, picks, axis=0).mean(axis=0)


def mean_interval(
    values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """The mean of ``values`` (e.g. one objective per seed) with a bootstrap interval; a single
    value has none (its bounds are itself)."""
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        value = float(data.mean()) if data.size else float("nan")
        return value, value, value
    rng = np.random.default_rng(seed)
    means = rng.choice(data, size=(resamples, data.size), replace=True).mean(axis=1)
    return float(data.mean()), *_bounds(means)


def score_interval(
    runs: Sequence[Judgments], *, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """A side's score (its runs' mean) with a bootstrap interval over its items and runs."""
    runs, draws, rng = _resampled(runs, resamples, seed)
    return float(np.mean([j.score() for j in runs])), *_bounds(_side(runs, draws, rng))


def values_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    higher_is_better: bool = True,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Difference:
    """mean(a) − mean(b) for values with no items behind them (an objective per run), with a
    bootstrap interval over the runs of each side; unbounded when a side has a single run
    (nothing then says how much one run varies)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    estimate = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return Difference(estimate, -np.inf, np.inf, higher_is_better=higher_is_better)
    rng = np.random.default_rng(seed)
    diffs = rng.choice(x, (resamples, x.size)).mean(1) - rng.choice(y, (resamples, y.size)).mean(1)
    return Difference(estimate, *_bounds(diffs), higher_is_better=higher_is_better)
