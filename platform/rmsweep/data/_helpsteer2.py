"""HelpSteer2-shaped rows -> pointwise items on one attribute (0–4 integer scale).

A row: ``prompt``, ``response`` and the five attribute scores ``helpfulness``,
``correctness``, ``coherence``, ``complexity``, ``verbosity`` (integers 0–4; only the chosen
attribute is checked and used).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rmsweep.data._records import BadRows, PointItem, check_row, number_field, text_field
from rmsweep.schema import SCALE_MAX, SCALE_MIN


def to_point(
    origin: str, row: Mapping[str, Any], attribute: str, bad: BadRows, synthetic: bool = False
) -> PointItem | None:
    """One row as a PointItem scored on ``attribute``, or None after reporting it."""
    prompt = text_field(row, "prompt", origin, bad)
    if prompt is None:
        return None
    response = text_field(row, "response", origin, bad)
    if response is None:
        return None
    score = number_field(row, attribute, origin, bad, SCALE_MIN, SCALE_MAX)
    if score is None:
        return None
    if score != int(score):
        bad.add(origin, attribute, f"score {score:g} is not an integer on the 0-4 scale")
        return None
    index = row.get("source_index")
    return PointItem(
        prompt=prompt,
        response=response,
        score=int(score),
        raw_score=score,
        origin=origin,
        source_index=index if isinstance(index, int) else None,
        synthetic=synthetic,
    )


def load(rows: Iterable[tuple[str, Any]], attribute: str, bad: BadRows) -> list[PointItem]:
    """Every good row as a PointItem; bad ones go to ``bad``."""
    items = []
    for origin, row in rows:
        if check_row(origin, row, bad) and (item := to_point(origin, row, attribute, bad)):
            items.append(item)
    return items
