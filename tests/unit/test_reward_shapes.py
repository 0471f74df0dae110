"""Reward shapes: values at the ends, monotonicity, parameters, validation."""

from __future__ import annotations

import math

import pytest

from reward_fns.shapes import SHAPES, shape_reward

ERRORS = [0, 1, 2, 3, 4]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_is_one_at_zero_and_stays_in_unit_interval(shape: str) -> None:
    values = [shape_reward(e, shape=shape) for e in ERRORS]
    assert values[0] == 1.0
    assert all(0.0 <= v <= 1.0 for v in values)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_is_non_increasing_in_the_error(shape: str) -> None:
    values = [shape_reward(e / 4, shape=shape) for e in range(17)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("shape", ["linear", "exponential", "gaussian"])
def test_graded_shapes_decrease_strictly(shape: str) -> None:
    values = [shape_reward(e, shape=shape) for e in ERRORS]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize(
    ("shape", "at_max"),
    [
        ("linear", 0.0),
        ("exponential", math.exp(-2.0)),
        ("gaussian", math.exp(-16 / 2)),
        ("exact", 0.0),
    ],
)
def test_value_at_the_largest_error(shape: str, at_max: float) -> None:
    assert shape_reward(4, shape=shape) == pytest.approx(at_max)


def test_known_midpoints() -> None:
    assert shape_reward(1, shape="linear") == 0.75
    assert shape_reward(2, shape="exponential", k=2.0) == pytest.approx(math.exp(-1.0))
    assert shape_reward(1, shape="gaussian", sigma=1.0) == pytest.approx(math.exp(-0.5))
    assert shape_reward(1, shape="exact") == 0.0


def test_k_changes_exponential_and_nothing_else() -> None:
    soft = [shape_reward(e, shape="exponential", k=2.0) for e in ERRORS]
    steep = [shape_reward(e, shape="exponential", k=4.0) for e in ERRORS]
    assert soft[0] == steep[0] == 1.0
    assert all(s < t for s, t in zip(steep[1:], soft[1:], strict=True))
    assert shape_reward(1, shape="linear", k=2.0) == shape_reward(1, shape="linear", k=9.0)


def test_sigma_widens_gaussian() -> None:
    assert shape_reward(1, shape="gaussian", sigma=2.0) > shape_reward(1, shape="gaussian")


def test_scale_sets_the_largest_error() -> None:
    assert shape_reward(4, shape="linear", scale_min=1, scale_max=5) == 0.0
    assert shape_reward(2, shape="linear", scale_max=10) == pytest.approx(0.8)
    # An error beyond the scale is still a reward in [0, 1].
    assert shape_reward(9, shape="linear") == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": "cubic"}, r"'shape' must be one of \('linear', 'exponential'"),
        ({"shape": "exponential", "k": 0}, "'k' must be > 0"),
        ({"shape": "exponential", "k": "steep"}, "'k' must be a number"),
        ({"shape": "gaussian", "sigma": -1}, "'sigma' must be > 0"),
        ({"shape": "linear", "k": float("nan")}, "'k' must be finite"),
        ({"shape": "linear", "k": True}, "'k' must be a number"),
        ({"shape": "linear", "scale_min": 4, "scale_max": 4}, "scale_min < scale_max"),
        ({"shape": "linear", "scale_max": 4.5}, "'scale_max' must be an integer"),
    ],
)
def test_bad_parameters_name_the_key(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        shape_reward(1, **kwargs)


@pytest.mark.parametrize("error", [-1, float("nan"), "2", None])
def test_bad_error_is_refused(error: object) -> None:
    with pytest.raises(ValueError, match="error must be a number >= 0"):
        shape_reward(error, shape="linear")  # type: ignore[arg-type]
