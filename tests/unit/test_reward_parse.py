"""Parsers: a table of real-looking outputs, well formed and each malformed kind.

Every case is also checked against the regex reference in reward_fns.reference.
"""

from __future__ import annotations

import pytest

from reward_fns.parse import final_tag_contents, parse_score, parse_verdict
from reward_fns.reference import naive_parse_score, naive_parse_verdict

REASON = (
    "The response answers the question directly and the code runs, but it skips input "
    "validation and the explanation of the edge case is thin. Helpfulness is good, "
    "correctness mostly fine, verbosity a little high."
)

SCORE_CASES = [
    # --- well formed ---------------------------------------------------------------------
    ("think_then_tag", f"<think>{REASON}</think>\n<score>3</score>", 3),
    ("tag_only", "<score>0</score>", 0),
    ("top_of_scale", f"<think>{REASON}</think><score>4</score>", 4),
    ("no_think_reasoning_first", f"{REASON}\n\nFinal score: <score>2</score>", 2),
    ("spaces_in_tag", f"<think>{REASON}</think>\n<score> 1 </score>", 1),
    ("newlines_in_tag", f"<think>{REASON}</think>\n<score>\n3\n</score>\n", 3),
    ("trailing_text", f"<think>{REASON}</think>\n<score>2</score>\nHope this helps.", 2),
    (
        "draft_inside_think",
        f"<think>At first <score>1</score>, but {REASON}</think><score>3</score>",
        3,
    ),
    ("two_thinks", f"<think>{REASON}</think><think>On reflection, 4.</think>\n<score>4</score>", 4),
    ("same_answer_twice", f"<think>{REASON}</think><score>2</score> so: <score>2</score>", 2),
    ("leading_zero", f"<think>{REASON}</think><score>03</score>", 3),
    ("only_think_close", f"{REASON}</think>\n<score>1</score>", 1),  # <think> was in the prompt
    ("less_than_in_answer", f"<think>{REASON}</think>Since 2 < 3: <score>3</score>", 3),
    ("less_than_in_think", f"<think>if a < b then {REASON}</think><score>0</score>", 0),
    ("markdown_around", f"<think>{REASON}</think>\n**Score:** <score>4</score>", 4),
    ("crlf", f"<think>{REASON}</think>\r\n<score>2</score>\r\n", 2),
    # --- truncated -------------------------------------------------------------------------
    ("no_closing_tag", f"<think>{REASON}</think>\n<score>3", None),
    ("cut_in_close_tag", f"<think>{REASON}</think>\n<score>3</sco", None),
    ("cut_inside_think", f"<think>{REASON} so the score is <score>3</score> or", None),
    ("cut_after_open", f"<think>{REASON}</think>\n<score>", None),
    ("second_answer_cut", f"<think>{REASON}</think><score>3</score> no wait <score>", None),
    ("unclosed_think_after_answer", f"<score>2</score><think>{REASON}", None),
    # --- two different final answers ---------------------------------------------------------
    ("two_answers", f"<think>{REASON}</think><score>2</score> or maybe <score>3</score>", None),
    ("two_answers_no_think", f"{REASON} <score>1</score>. Actually <score>4</score>", None),
    ("answer_and_junk_answer", f"<think>{REASON}</think><score>3</score><score>x</score>", None),
    # --- non-integer -----------------------------------------------------------------------
    ("decimal", f"<think>{REASON}</think><score>3.5</score>", None),
    ("decimal_zero", f"<think>{REASON}</think><score>3.0</score>", None),
    ("word", f"<think>{REASON}</think><score>three</score>", None),
    ("fraction", f"<think>{REASON}</think><score>3/4</score>", None),
    ("empty", f"<think>{REASON}</think><score></score>", None),
    ("range", f"<think>{REASON}</think><score>2-3</score>", None),
    ("superscript_digit", f"<think>{REASON}</think><score>\u00b3</score>", None),
    ("arabic_indic_digit", f"<think>{REASON}</think><score>\u0663</score>", None),
    ("plus_sign", f"<think>{REASON}</think><score>+3</score>", None),
    ("huge_digit_run", f"<think>{REASON}</think><score>{'9' * 5000}</score>", None),
    # --- out of range (never clamped) ----------------------------------------------------------
    ("above_scale", f"<think>{REASON}</think><score>5</score>", None),
    ("ninety_nine", f"<think>{REASON}</think><score>99</score>", None),
    ("negative", f"<think>{REASON}</think><score>-1</score>", None),
    # --- no final answer / other malformed ------------------------------------------------------
    ("no_tag", f"<think>{REASON}</think>\nI would give it a 3.", None),
    ("tag_only_inside_think", f"<think>{REASON} <score>3</score></think>\nDone.", None),
    ("empty_output", "", None),
    ("uppercase_tag", f"<think>{REASON}</think><SCORE>3</SCORE>", None),
    ("nested_tags", f"<think>{REASON}</think><score><score>3</score></score>", None),
    ("stray_close_first", f"<think>{REASON}</think></score><score>3</score>", None),
    ("close_before_open", f"<think>{REASON}</think></score>3<score>", None),
    ("answer_tag_not_score", f"<think>{REASON}</think><answer>3</answer>", None),
]

VERDICT_CASES = [
    ("rmr1", f"<think>{REASON}</think>\n<answer>[[A]]</answer>", "A"),
    ("rmr1_b", f"<think>{REASON}</think><answer>[[B]]</answer>", "B"),
    ("rubric_eval", f"<rubric>clarity</rubric><eval>{REASON}</eval><answer>[[B]]</answer>", "B"),
    ("text_in_answer", f"<think>{REASON}</think><answer>Chatbot A wins: [[A]]</answer>", "A"),
    ("same_twice", "<answer>[[A]]</answer> again <answer> [[A]] </answer>", "A"),
    (
        "draft_in_think",
        f"<think>[[B]]? <answer>[[B]]</answer> no. {REASON}</think><answer>[[A]]</answer>",
        "A",
    ),
    ("both_verdicts", f"<think>{REASON}</think><answer>[[A]] or [[B]]</answer>", None),
    ("no_brackets", f"<think>{REASON}</think><answer>A</answer>", None),
    ("tie", f"<think>{REASON}</think><answer>[[C]]</answer>", None),
    ("verdict_outside_answer", f"<think>{REASON}</think>[[A]]", None),
    ("two_answers", f"<think>{REASON}</think><answer>[[A]]</answer><answer>[[B]]</answer>", None),
    ("truncated", f"<think>{REASON}</think><answer>[[A]]", None),
    ("unclosed_think", f"<think>{REASON}<answer>[[A]]</answer>", None),
    ("lowercase_verdict", f"<think>{REASON}</think><answer>[[a]]</answer>", None),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES]
)
def test_parse_score_table(text: str, expected: int | None) -> None:
    assert parse_score(text) == expected
    assert naive_parse_score(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in VERDICT_CASES], ids=[c[0] for c in VERDICT_CASES]
)
def test_parse_verdict_table(text: str, expected: str | None) -> None:
    assert parse_verdict(text) == expected
    assert naive_parse_verdict(text) == expected


def test_table_covers_every_kind() -> None:
    well_formed = [c for c in SCORE_CASES if c[2] is not None]
    assert len(SCORE_CASES) + len(VERDICT_CASES) >= 40
    assert len(well_formed) >= 10 and len(SCORE_CASES) - len(well_formed) >= 20


def test_scale_bounds_are_parameters() -> None:
    assert parse_score("<score>7</score>", scale_min=1, scale_max=10) == 7
    assert parse_score("<score>0</score>", scale_min=1, scale_max=10) is None
    assert parse_score("<score>10</score>", scale_min=1, scale_max=10) == 10


@pytest.mark.parametrize("value", [None, b"<score>3</score>", 3, ["<score>3</score>"]])
def test_non_strings_are_unparseable(value: object) -> None:
    assert parse_score(value) is None  # type: ignore[arg-type]
    assert parse_verdict(value) is None  # type: ignore[arg-type]


def test_final_tag_contents_returns_every_final_tag_in_order() -> None:
    text = "<think><s>0</s></think> <s>1</s> x < y <s>2</s>"
    assert final_tag_contents(text, "s") == ["1", "2"]
