"""Whole-bench rates (ties, unparseable judgments, pairwise consistency) and the judgments table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rmsweep.evaluation._items import Comparison, Outcome


def rates(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """``n`` (comparisons), ``tie_rate``, ``unparsed_rate``; ``consistency`` when pairwise.

    Consistency is the share of pairwise comparisons whose two orders picked the same response.
    """
    n = len(outcomes)
    if n == 0:
        return {"n": 0.0}
    out = {
        "n": float(n),
        "tie_rate": sum(o.tie for o in outcomes) / n,
        "unparsed_rate": sum(o.unparsed for o in outcomes) / n,
    }
    pairwise = [o.consistent for o in outcomes if o.consistent is not None]
    if pairwise:
        out["consistency"] = sum(pairwise) / len(pairwise)
    return out


def prefixed(prefix: str, values: dict[str, float]) -> dict[str, float]:
    """``{"n": 3}`` -> ``{"<prefix>.n": 3}``."""
    return {f"{prefix}.{key}": value for key, value in values.items()}


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean (callers never pass an empty sequence)."""
    return sum(values) / len(values)


def check_lengths(comparisons: Sequence[Comparison], outcomes: Sequence[Outcome]) -> None:
    """Raise ValueError unless there is one outcome per comparison."""
    if len(comparisons) != len(outcomes):
        raise ValueError(f"{len(outcomes)} outcomes for {len(comparisons)} comparisons")


def judgment_rows(
    comparisons: Sequence[Comparison], outcomes: Sequence[Outcome]
) -> list[dict[str, Any]]:
    """One flat row per comparison, for an MLflow table artifact."""
    check_lengths(comparisons, outcomes)
    rows = []
    for c, o in zip(comparisons, outcomes, strict=True):
        verdict_ab, verdict_ba = o.verdicts if o.verdicts is not None else (None, None)
        rows.append(
            {
                "bench": c.bench,
                "item_id": c.item_id,
                "group": c.group,
                "cell": f"{c.cell[0]},{c.cell[1]}" if c.cell is not None else "",
                "source": c.source,
                "chosen_score": o.chosen_score,
                "rejected_score": o.rejected_score,
                "verdict_ab": verdict_ab,
                "verdict_ba": verdict_ba,
                "correct": o.correct,
                "tie": o.tie,
                "unparsed": o.unparsed,
            }
        )
    return rows
