"""Preference pairs -> pairwise items.

A row: ``prompt``, ``chosen``, ``rejected`` as strings, or ``chosen``/``rejected`` as chat
message lists (the last assistant turn is the response; the first user turn is the prompt when
``prompt`` is absent). UltraFeedback's shape adds ``source_index`` and
``metadata.score_chosen``/``metadata.score_rejected`` (1–10); where present they are checked
and kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rmsweep.data._records import (
    BadRows,
    PairItem,
    check_row,
    has_field,
    number_field,
    optional_int,
    text_field,
)

UF_SCALE = (1.0, 10.0)
SCORE_FIELDS = ("metadata.score_chosen", "metadata.score_rejected")


def flatten(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """Chat-message lists -> plain strings (rows already plain come back unchanged)."""
    if not any(isinstance(row.get(k), list) for k in ("prompt", "chosen", "rejected")):
        return row
    out = dict(row)
    for key, role in (("chosen", "assistant"), ("rejected", "assistant"), ("prompt", "user")):
        value = row.get(key)
        if isinstance(value, list):
            out[key] = _turn(value, role, last=role == "assistant")
    if not isinstance(out.get("prompt"), str) and isinstance(row.get("chosen"), list):
        out["prompt"] = _turn(row["chosen"], "user", last=False)
    return out


def _turn(messages: list[Any], role: str, last: bool) -> str | None:
    turns = [m.get("content") for m in messages if isinstance(m, Mapping) and m.get("role") == role]
    return (turns[-1] if last else turns[0]) if turns else None


def to_pair(
    origin: str, row: Mapping[str, Any], bad: BadRows, need_scores: bool = False
) -> PairItem | None:
    """One row as a PairItem, or None after reporting it."""
    row = flatten(row)
    texts: list[str] = []
    for name in ("prompt", "chosen", "rejected"):
        if (value := text_field(row, name, origin, bad)) is None:
            return None
        texts.append(value)
    prompt, chosen, rejected = texts
    scores: list[float | None] = [None, None]
    if need_scores or any(has_field(row, f) for f in SCORE_FIELDS):
        for i, name in enumerate(SCORE_FIELDS):
            scores[i] = number_field(row, name, origin, bad, *UF_SCALE)
            if scores[i] is None:
                return None
    return PairItem(
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        origin=origin,
        score_chosen=scores[0],
        score_rejected=scores[1],
        source_index=optional_int(row, "source_index"),
    )


def load(rows: Iterable[tuple[str, Any]], bad: BadRows) -> list[PairItem]:
    """Every good row as a PairItem; bad ones go to ``bad``."""
    items = []
    for origin, row in rows:
        if check_row(origin, row, bad) and (item := to_pair(origin, row, bad)):
            items.append(item)
    return items
