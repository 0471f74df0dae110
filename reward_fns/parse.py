"""Parse a model's final answer: a score tag (``<score>3</score>``) or a pairwise verdict.

Rules, shared by both parsers:

- Only the final answer counts: everything up to the last ``</think>`` is reasoning and is
  ignored; an unclosed ``<think>`` (a truncated output) makes the output unparseable.
- In the final answer every tag must be closed and not nested; several tags must agree.
- A value that is not valid (a non-integer or out-of-range score, an answer without exactly
  one verdict) makes the output unparseable: it is never clamped to a valid value.

Parsing scans from the end with ``str.rfind`` (no regex over the whole text): linear time on
any string, and it never raises.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
SCORE_TAG = "score"
_SCORE_OPEN, _SCORE_CLOSE = f"<{SCORE_TAG}>", f"</{SCORE_TAG}>"
ANSWER_TAG = "answer"
VERDICTS = ("A", "B")

_MAX_SCORE_DIGITS = 6  # guards int() against huge digit runs (and Python's 4300-digit limit)


def final_tag_contents(text: str, tag: str) -> list[str] | None:
    """The contents of every ``<tag>…</tag>`` in the final answer of ``text``.

    The final answer is what follows the last ``</think>``. Its tags are walked backwards with
    ``str.rfind``, each stretch of text scanned a bounded number of times: linear time.

    Args:
        text: a model output.
        tag: the tag name, e.g. ``"score"``.

    Returns:
        The contents in order (at least one), or None when the final answer has no such tag,
        an unclosed, stray or nested tag, or ``text`` is unfinished (an unclosed ``<think>``).
    """
    if not isinstance(text, str):
        return None
    think_end = text.rfind(THINK_CLOSE)
    start = 0 if think_end < 0 else think_end + len(THINK_CLOSE)
    if text.find(THINK_OPEN, start) >= 0:
        return None  # reasoning never closed: truncated
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    contents: list[str] = []
    pos = len(text)
    while True:
        close = text.rfind(close_tag, start, pos)
        begin = text.rfind(open_tag, start, pos)
        if close < 0 and begin < 0:
            break
        # An open after the last close is truncated; a close with no open before it is stray.
        if begin > close or begin < 0:
            return None
        inner = begin + len(open_tag)
        if text.rfind(close_tag, inner, close) >= 0:
            return None  # two closes for one open
        contents.append(text[inner:close])
        pos = begin
    if not contents:
        return None
    contents.reverse()
    return contents


def score_lookup(scale_min: int, scale_max: int) -> dict[str, int]:
    """Canonical spellings of every valid score, ``{"0": 0, …}``."""
    return {str(i): i for i in range(scale_min, scale_max + 1)}


def _score_value(content: str, valid: dict[str, int], scale_min: int, scale_max: int) -> int | None:
    value = content.strip()
    if value in valid:
        return valid[value]
    # Leading zeros ("03") are still an integer; signs, decimals and non-ASCII digits are not.
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_SCORE_DIGITS:
        return None
    number = int(value)
    return number if scale_min <= number <= scale_max else None


def parse_score_with(
    text: str, valid: dict[str, int], scale_min: int, scale_max: int
) -> int | None:
    """:func:`parse_score` with a prepared :func:`score_lookup` (the hot path of rewards)."""
    # Fast path, same rules: the answer is the last two tags, preceded by </think> or nothing.
    if isinstance(text, str):
        close = text.rfind("<")
        if text.startswith(_SCORE_CLOSE, close):
            begin = text.rfind("<", 0, close)
            if text.startswith(_SCORE_OPEN, begin):
                before = text.rfind("<", 0, begin)
                if before < 0 or text.startswith(THINK_CLOSE, before):
                    value = text[begin + len(_SCORE_OPEN) : close]
                    score = valid.get(value)
                    if score is None:
                        score = _score_value(value, valid, scale_min, scale_max)
                    return score
    contents = final_tag_contents(text, SCORE_TAG)
    if contents is None:
        return None
    first = _score_value(contents[0], valid, scale_min, scale_max)
    for other in contents[1:]:
        if _score_value(other, valid, scale_min, scale_max) != first:
            return None
    return first


def parse_score(text: str, *, scale_min: int = 0, scale_max: int = 4) -> int | None:
    """The integer score in the final ``<score>…</score>`` of ``text``, or None.

    Args:
        text: a model output.
        scale_min: the lowest valid score.
        scale_max: the highest valid score.

    Returns:
        The score, or None when unparseable: no final score tag, two different scores, a
        non-integer or out-of-range value, or a truncated output.

    Example:
        >>> parse_score("<think>maybe 2</think> <score>3</score>")
        3
    """
    return parse_score_with(text, score_lookup(scale_min, scale_max), scale_min, scale_max)


def _verdict(content: str) -> str | None:
    has_a, has_b = "[[A]]" in content, "[[B]]" in content
    if has_a == has_b:
        return None
    return "A" if has_a else "B"


def parse_verdict(text: str) -> str | None:
    """The pairwise verdict (``"A"`` or ``"B"``) in the final ``<answer>…</answer>``, or None.

    The answer must contain exactly one of ``[[A]]`` and ``[[B]]`` (RM-R1 style); several
    answer tags must agree.

    Example:
        >>> parse_verdict("<think>B is terse</think><answer>[[A]]</answer>")
        'A'
    """
    contents = final_tag_contents(text, ANSWER_TAG)
    if contents is None:
        return None
    first = _verdict(contents[0])
    for other in contents[1:]:
        if _verdict(other) != first:
            return None
    return first
