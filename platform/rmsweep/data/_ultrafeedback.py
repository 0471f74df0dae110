"""UltraFeedback rows -> pointwise items: each response's 1–10 rating bucketed onto 0–4.

Rows have UltraFeedback's shape (see ``_pairs``); each row gives two items, the chosen and
the rejected response, sharing one prompt (so the prompt split keeps them together).

Bucketing: five equal-width bins over 1–10, ``min(4, int((s - 1) * 5 / 9))``:
1–2.79 → 0, 2.8–4.59 → 1, 4.6–6.39 → 2, 6.4–8.19 → 3, 8.2–10 → 4.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rmsweep.data._pairs import UF_SCALE, to_pair
from rmsweep.data._records import BadRows, PointItem, check_row
from rmsweep.schema import SCALE_MAX


def bucket(score: float) -> int:
    """A 1–10 rating on the 0–4 scale (equal-width bins)."""
    lo, hi = UF_SCALE
    return min(SCALE_MAX, int((score - lo) * (SCALE_MAX + 1) / (hi - lo)))


def load(rows: Iterable[tuple[str, Any]], bad: BadRows) -> list[PointItem]:
    """Two PointItems per good row (chosen, rejected); bad rows go to ``bad``."""
    items = []
    for origin, row in rows:
        if not check_row(origin, row, bad) or not (pair := to_pair(origin, row, bad, True)):
            continue
        for response, score in (
            (pair.chosen, pair.score_chosen),
            (pair.rejected, pair.score_rejected),
        ):
            assert score is not None  # need_scores=True guarantees it
            items.append(
                PointItem(
                    prompt=pair.prompt,
                    response=response,
                    score=bucket(score),
                    raw_score=score,
                    origin=origin,
                    source_index=pair.source_index,
                )
            )
    return items
