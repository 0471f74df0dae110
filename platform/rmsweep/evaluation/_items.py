"""What is judged (a Comparison) and how it went (an Outcome): plain frozen records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Comparison:
    """One chosen-vs-rejected comparison to judge.

    ``item_id`` is unique per benchmark row within one loaded benchmark; the comparisons of one
    RM-Bench row (9) or one RMB Best-of-N row (one per loser) share it. ``prompt`` is the
    conversation before the response as one string. ``group`` is the RewardBench subset, the
    RM-Bench domain, or the RMB file's path under the RMB root without ``.json``. ``cell`` is
    RM-Bench's (chosen style, rejected style), styles 0 concise, 1 detailed, 2 detailed+markdown.
    ``source`` is ``"file:row"`` (line number for jsonl, 0-based index for json arrays/parquet).
    """

    bench: str
    item_id: str
    prompt: str
    chosen: str
    rejected: str
    group: str
    cell: tuple[int, int] | None = None
    source: str = ""


@dataclass(frozen=True)
class Outcome:
    """How one comparison was judged.

    ``correct`` is 1.0/0.0 pointwise; pairwise it is the mean over both presentation orders
    (0, 0.5 or 1). A pointwise ``tie`` (both parsed, equal scores) and an ``unparsed`` judgment
    both count as wrong. ``verdicts`` is (verdict with chosen shown as A, verdict with chosen
    shown as B); ``consistent`` says both orders picked the same underlying response.
    """

    correct: float
    tie: bool
    unparsed: bool
    chosen_score: float | None = None
    rejected_score: float | None = None
    verdicts: tuple[str | None, str | None] | None = None
    consistent: bool | None = None
