"""Property tests: the reward functions never raise on any string, and agree with the reference.

Text comes from hypothesis: arbitrary unicode, tag soup built from the fragments parsers care
about, and 100 KB outputs (repeated fragments, unclosed tags).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reward_fns import pairwise, pointwise
from reward_fns.parse import parse_score, parse_verdict
from reward_fns.pointwise import result_keys
from reward_fns.reference import naive_parse_score, naive_parse_verdict

FRAGMENTS = [
    "<think>", "</think>", "<score>", "</score>", "<answer>", "</answer>", "[[A]]", "[[B]]",
    "0", "3", "4", " 2 ", "99", "-1", "3.5", "\n", "<", ">", "/", "<score", "think>", "[[", "]]",
    "x", "The response is fine. ", "\u0663", "\ud800",
]  # fmt: skip

ENDINGS = ["", "<score>3</score>", "</think><score>1</score>", "<answer>[[A]]</answer>", "</think>"]
tag_soup = st.builds(
    lambda parts, end: "".join(parts) + end,
    st.lists(st.sampled_from(FRAGMENTS), max_size=30),
    st.sampled_from(ENDINGS),
)
any_text = st.one_of(st.text(), tag_soup, st.binary().map(lambda b: b.decode("latin-1")))
huge_text = st.tuples(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6), st.booleans()
).map(
    lambda parts: ("".join(parts[0]) * 100_000)[:100_000] + ("<score>3</score>" if parts[1] else "")
)
POINTWISE_KWARGS = st.sampled_from(
    [
        {},
        {"shape": "linear"},
        {"shape": "exponential", "k": 4.0},
        {"shape": "gaussian", "sigma": 0.5},
    ]
)
KEYS = result_keys(0, 4)


def _check_pointwise(text: str, truth: int, kwargs: dict) -> None:
    out = pointwise.compute_score("src", text, truth, **kwargs)
    assert list(out) == KEYS
    assert out["parsed"] == 1.0 - out["pred_none"]
    if out["parsed"]:
        assert 0.0 <= out["score"] <= 1.0
    else:
        assert out["score"] == 0.0


def _check_pairwise(text: str, truth: str) -> None:
    out = pairwise.compute_score("src", text, truth)
    assert out["score"] in (1.0, -1.0)
    assert out["pred_A"] + out["pred_B"] + out["pred_none"] == 1.0


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_text, truth=st.integers(0, 4), kwargs=POINTWISE_KWARGS, pair=st.sampled_from("AB"))
def test_never_raises_on_any_string(text: str, truth: int, kwargs: dict, pair: str) -> None:
    assert parse_score(text) in (None, 0, 1, 2, 3, 4)
    assert parse_verdict(text) in (None, "A", "B")
    _check_pointwise(text, truth, kwargs)
    _check_pairwise(text, pair)


@settings(max_examples=600)
@given(text=tag_soup)
def test_fast_parsers_agree_with_the_regex_reference(text: str) -> None:
    assert parse_score(text) == naive_parse_score(text)
    assert parse_score(text, scale_min=1, scale_max=99) == naive_parse_score(
        text, scale_min=1, scale_max=99
    )
    assert parse_verdict(text) == naive_parse_verdict(text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=huge_text, truth=st.integers(0, 4))
def test_never_raises_on_100kb_outputs(text: str, truth: int) -> None:
    assert len(text) >= 100_000
    _check_pointwise(text, truth, {"shape": "exponential", "k": 2.0})
    _check_pairwise(text, "B")


@given(
    reasoning=st.one_of(st.text(), tag_soup).filter(lambda s: "think>" not in s),
    score=st.integers(0, 4),
)
def test_text_inside_think_never_counts(reasoning: str, score: int) -> None:
    # Whatever the reasoning holds (tags included), only the tag after </think> decides.
    text = f"<think>{reasoning}<score>{(score + 1) % 5}</score></think><score>{score}</score>"
    assert parse_score(text) == score
    assert parse_score(f"<think>{reasoning}<score>{score}</score>") is None
