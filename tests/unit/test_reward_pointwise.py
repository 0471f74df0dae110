"""The pointwise veRL entry point: result dicts, kwargs, ground truth, loading by path."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

import reward_fns
from reward_fns.pointwise import compute_score, result_keys
from reward_fns.shapes import SHAPES, shape_reward

THINK = "<think>The answer is correct but verbose.</think>\n"


def score(text: str, truth: int | str, **kwargs: object) -> dict[str, float]:
    return compute_score("helpsteer2", text, truth, extra_info=None, **kwargs)


def test_exact_is_the_default() -> None:
    hit = score(THINK + "<score>3</score>", 3)
    miss = score(THINK + "<score>2</score>", 3)
    assert (hit["score"], hit["acc"], hit["abs_error"], hit["parsed"]) == (1.0, 1.0, 0.0, 1.0)
    assert (miss["score"], miss["acc"], miss["abs_error"], miss["parsed"]) == (0.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("pred", "truth"), [(0, 4), (1, 3), (2, 2), (4, 1)])
def test_score_is_the_shape_of_the_error(shape: str, pred: int, truth: int) -> None:
    out = score(f"{THINK}<score>{pred}</score>", truth, shape=shape, k=3.0, sigma=1.5)
    expected = shape_reward(abs(pred - truth), shape=shape, k=3.0, sigma=1.5)
    assert out["score"] == pytest.approx(expected)
    assert out["abs_error"] == abs(pred - truth)
    assert out["acc"] == float(pred == truth)


def test_k_reaches_exponential_through_kwargs() -> None:
    soft = score("<score>2</score>", 3, shape="exponential", k=2.0)["score"]
    steep = score("<score>2</score>", 3, shape="exponential", k=4.0)["score"]
    assert soft == pytest.approx(math.exp(-0.5)) and steep == pytest.approx(math.exp(-1.0))


def test_unparseable_gets_the_format_penalty_not_a_clamped_score() -> None:
    # A clamp of 99 to 4 would earn the full reward here; the rule is: unparseable.
    out = score(THINK + "<score>99</score>", 4, shape="linear")
    assert out["score"] == 0.0 and out["parsed"] == 0.0 and out["pred_none"] == 1.0
    assert out["pred_4"] == 0.0
    assert out["abs_error"] == 4.0  # the scale's width
    assert score("<score>3", 3, format_penalty=-0.5)["score"] == -0.5


def test_one_hot_predictions() -> None:
    for pred in range(5):
        out = score(f"<score>{pred}</score>", 0)
        assert out[f"pred_{pred}"] == 1.0
        assert sum(out[f"pred_{i}"] for i in range(5)) + out["pred_none"] == 1.0
    assert score("no score", 0)["pred_none"] == 1.0


@pytest.mark.parametrize("kwargs", [{}, {"shape": "gaussian", "sigma": 0.5}, {"scale_max": 9}])
def test_every_result_has_the_same_keys(kwargs: dict) -> None:
    keys = result_keys(0, kwargs.get("scale_max", 4))
    texts = ["<score>0</score>", "<score>4</score>", "<score>x</score>", "", "<think>"]
    for text in texts:
        for truth in (0, 3):
            out = score(text, truth, **kwargs)
            assert list(out) == keys
            assert all(isinstance(v, float) for v in out.values())


def test_scale_min_shifts_the_keys() -> None:
    out = score("<score>5</score>", 5, scale_min=1, scale_max=5)
    assert list(out) == [
        "score",
        "acc",
        "abs_error",
        "parsed",
        *(f"pred_{i}" for i in range(1, 6)),
        "pred_none",
    ]
    assert out["acc"] == 1.0
    assert score("<score>0</score>", 1, scale_min=1, scale_max=5)["parsed"] == 0.0


@pytest.mark.parametrize("truth", [3, "3", " 3 ", 3.0])
def test_ground_truth_as_int_or_string(truth: object) -> None:
    assert score("<score>3</score>", truth)["acc"] == 1.0  # type: ignore[arg-type]


@pytest.mark.parametrize("truth", [5, "x", None, "3.5", -1, [3]])
def test_bad_ground_truth_is_a_value_error(truth: object) -> None:
    with pytest.raises(ValueError, match=r"ground_truth must be an integer score in \[0, 4\]"):
        score("<score>3</score>", truth)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"shape": "cubic"},
            r"'shape' must be one of \('linear', 'exponential', 'gaussian', 'exact'\)",
        ),
        ({"shap": "linear"}, r"unknown pointwise reward kwarg\(s\) \['shap'\]; valid: \['shape'"),
        ({"k": -1}, "'k' must be > 0"),
        ({"format_penalty": "low"}, "'format_penalty' must be a number"),
        ({"scale_min": 0, "scale_max": 100}, "span at most 20 points"),
    ],
)
def test_bad_kwargs_name_the_key(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        score("<score>3</score>", 3, **kwargs)


def test_verl_extra_kwargs_are_ignored() -> None:
    out = score("<score>3</score>", 3, reward_router_address=None, reward_model_tokenizer=None)
    assert out["acc"] == 1.0


def test_results_are_fresh_dicts() -> None:
    first = score("<score>3</score>", 3)
    first["score"] = -99.0
    assert score("<score>3</score>", 3)["score"] == 1.0


def test_kwargs_in_any_order_and_alternating_configs_agree() -> None:
    a = score("<score>2</score>", 3, shape="exponential", k=4.0)
    b = score("<score>2</score>", 3, k=4.0, shape="exponential")
    c = score("<score>2</score>", 3, shape="linear")
    assert a == b and a["score"] != c["score"]
    assert score("<score>2</score>", 3, shape="exponential", k=4.0) == a


def test_loads_by_path_like_verl() -> None:
    path = Path(reward_fns.__file__).parent / "pointwise.py"
    spec = importlib.util.spec_from_file_location("custom_module_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.compute_score("d", "<score>1</score>", "2", shape="linear")
    assert out["score"] == 0.75
