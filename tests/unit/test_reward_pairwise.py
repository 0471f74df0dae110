"""The pairwise veRL entry point: modes, penalties, keys, loading by path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import reward_fns
from reward_fns.pairwise import RESULT_KEYS, compute_score

A = "<think>A cites the docs; B guesses.</think>\n<answer>[[A]]</answer>"
B = "<think>B is shorter and right.</think>\n<answer>[[B]]</answer>"
BAD = "<think>Both are fine</think>\n<answer>[[A]] [[B]]</answer>"


def score(text: str, truth: str, **kwargs: object) -> dict[str, float]:
    return compute_score("ultrafeedback", text, truth, extra_info={}, **kwargs)


@pytest.mark.parametrize(
    ("mode", "right", "wrong", "unparseable"),
    [("signed", 1.0, -1.0, -1.0), ("binary", 1.0, 0.0, 0.0)],
)
def test_modes(mode: str, right: float, wrong: float, unparseable: float) -> None:
    assert score(A, "A", mode=mode)["score"] == right
    assert score(A, "B", mode=mode)["score"] == wrong
    assert score(BAD, "A", mode=mode)["score"] == unparseable


def test_signed_is_the_default_and_format_penalty_overrides() -> None:
    assert score(B, "A")["score"] == -1.0
    assert score(BAD, "A", format_penalty=-2.0)["score"] == -2.0
    assert score(BAD, "A", mode="binary", format_penalty=-0.5)["score"] == -0.5


def test_acc_parsed_and_one_hots() -> None:
    right, wrong, bad = score(B, "B"), score(B, "A"), score(BAD, "B")
    assert (right["acc"], right["parsed"], right["pred_B"], right["pred_A"]) == (1.0, 1.0, 1.0, 0.0)
    assert (wrong["acc"], wrong["parsed"], wrong["pred_B"]) == (0.0, 1.0, 1.0)
    assert (bad["acc"], bad["parsed"], bad["pred_none"]) == (0.0, 0.0, 1.0)
    for out in (right, wrong, bad):
        assert tuple(out) == RESULT_KEYS


@pytest.mark.parametrize("truth", ["A", "a", " A "])
def test_ground_truth_spellings(truth: str) -> None:
    assert score(A, truth)["acc"] == 1.0


@pytest.mark.parametrize(
    ("truth", "kwargs", "match"),
    [
        ("C", {}, "ground_truth must be 'A' or 'B', got 'C'"),
        (None, {}, "ground_truth must be 'A' or 'B', got None"),
        ("A", {"mode": "ternary"}, r"'mode' must be one of \('signed', 'binary'\)"),
        ("A", {"shape": "linear"}, r"unknown pairwise reward kwarg\(s\) \['shape'\]"),
        ("A", {"format_penalty": "x"}, "'format_penalty' must be a number"),
    ],
)
def test_bad_inputs_name_the_key(truth: object, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        score(A, truth, **kwargs)  # type: ignore[arg-type]


def test_loads_by_path_like_verl() -> None:
    path = Path(reward_fns.__file__).parent / "pairwise.py"
    spec = importlib.util.spec_from_file_location("custom_module_pairwise_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.compute_score("d", B, "B", mode="binary")["score"] == 1.0
