"""Preference pairs -> pairwise items.

Each file's layout is detected from its first rows (see ``_layouts``: prompt/chosen/rejected
strings, chat-message lists, HH-RLHF transcripts) and every row of the file is read under it.
UltraFeedback's shape adds ``source_index`` and ``metadata.score_chosen``/
``metadata.score_rejected`` (1–10); where present they are checked and kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import chain, groupby
from typing import Any

from rmsweep.data._layouts import (
    PLAIN,
    SAMPLE_ROWS,
    RowProblem,
    as_plain,
    describe,
    detect,
    row_layout,
)
from rmsweep.data._records import (
    BadRows,
    PairItem,
    check_row,
    file_of,
    has_field,
    number_field,
    optional_int,
    text_field,
)

UF_SCALE = (1.0, 10.0)
SCORE_FIELDS = ("metadata.score_chosen", "metadata.score_rejected")


def to_pair(
    origin: str,
    row: Mapping[str, Any],
    bad: BadRows,
    need_scores: bool = False,
    layout: str | None = None,
) -> PairItem | None:
    """One row as a PairItem, or None after reporting it. ``layout``: its file's (default: the
    one this row fits on its own)."""
    plain = as_plain(row, layout or row_layout(row) or PLAIN)
    if isinstance(plain, RowProblem):
        bad.add(origin, plain.field, plain.problem)
        return None
    texts: list[str] = []
    for name in ("prompt", "chosen", "rejected"):
        if (value := text_field(plain, name, origin, bad)) is None:
            return None
        texts.append(value)
    prompt, chosen, rejected = texts
    scores: list[float | None] = [None, None]
    if need_scores or any(has_field(plain, f) for f in SCORE_FIELDS):
        for i, name in enumerate(SCORE_FIELDS):
            scores[i] = number_field(plain, name, origin, bad, *UF_SCALE)
            if scores[i] is None:
                return None
    return PairItem(
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        origin=origin,
        score_chosen=scores[0],
        score_rejected=scores[1],
        source_index=optional_int(plain, "source_index"),
    )


def load(rows: Iterable[tuple[str, Any]], bad: BadRows) -> tuple[list[PairItem], str]:
    """Every good row as a PairItem (bad ones go to ``bad``) and the layout read, for a report.

    Raises:
        DataError: A file whose first rows fit no layout (one error for the file, not one bad
            row per row).
    """
    items = []
    layouts: dict[str, str] = {}
    for file, file_rows in groupby(rows, key=lambda r: file_of(r[0])):
        head, objects = _first_rows(file_rows)
        layout = detect(objects, bad.where(file)) if objects else None
        if layout is not None:
            layouts[file] = layout
        for origin, row in chain(head, file_rows):
            if check_row(origin, row, bad) and (item := to_pair(origin, row, bad, False, layout)):
                items.append(item)
    return items, describe(layouts)


def _first_rows(
    rows: Iterator[tuple[str, Any]],
) -> tuple[list[tuple[str, Any]], list[Mapping[str, Any]]]:
    """Rows taken from ``rows`` until SAMPLE_ROWS of them are objects, and those objects."""
    head, objects = [], []
    for origin, row in rows:
        head.append((origin, row))
        if isinstance(row, Mapping):
            objects.append(row)
            if len(objects) == SAMPLE_ROWS:
                break
    return head, objects
