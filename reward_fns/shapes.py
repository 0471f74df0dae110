"""Reward shapes over the error ``|pred - truth|`` on a score scale.

Every shape maps an error in ``[0, span]`` (``span = scale_max - scale_min``) into ``[0, 1]``,
with 1 at error 0 and never rising as the error grows:

- ``linear``: ``1 - e / span``
- ``exponential``: ``exp(-k * e / span)`` (``k`` is the steepness)
- ``gaussian``: ``exp(-e**2 / (2 * sigma**2))`` (``sigma`` in score units)
- ``exact``: 1 when ``e == 0``, else 0

Pure functions, no platform imports: veRL may load the reward files by path.
"""

from __future__ import annotations

import math

SHAPES = ("linear", "exponential", "gaussian", "exact")

# The one home of the shapes and their defaults: rmsweep's config schema (``RewardConf``) reads
# them from here, since this package may not import rmsweep.
DEFAULT_SHAPE = "exact"
DEFAULT_K = 2.0
DEFAULT_SIGMA = 1.0
SCALE_MIN = 0  # the score scale
SCALE_MAX = 4

DEFAULTS: dict[str, object] = {
    "shape": DEFAULT_SHAPE,
    "k": DEFAULT_K,
    "sigma": DEFAULT_SIGMA,
    "scale_min": SCALE_MIN,
    "scale_max": SCALE_MAX,
}


def check_number(key: str, value: object) -> float:
    """``value`` as a finite float (numeric strings allowed), else ValueError naming ``key``."""
    if isinstance(value, bool):
        raise ValueError(f"reward kwarg {key!r} must be a number, got {value!r}")
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"reward kwarg {key!r} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"reward kwarg {key!r} must be finite, got {value!r}")
    return float(value)


def _integer(key: str, value: object) -> int:
    number = check_number(key, value)
    if number != int(number):
        raise ValueError(f"reward kwarg {key!r} must be an integer, got {value!r}")
    return int(number)


def check_params(
    *, shape: str, k: float, sigma: float, scale_min: int, scale_max: int
) -> tuple[str, float, float, int, int]:
    """Validate shape parameters and return them normalised (floats and ints).

    Raises:
        ValueError: naming the bad key, the value and what is allowed.
    """
    if shape not in SHAPES:
        raise ValueError(f"reward kwarg 'shape' must be one of {SHAPES}, got {shape!r}")
    k = check_number("k", k)
    sigma = check_number("sigma", sigma)
    lo, hi = _integer("scale_min", scale_min), _integer("scale_max", scale_max)
    if k <= 0:
        raise ValueError(f"reward kwarg 'k' must be > 0, got {k!r}")
    if sigma <= 0:
        raise ValueError(f"reward kwarg 'sigma' must be > 0, got {sigma!r}")
    if not lo < hi:
        raise ValueError(f"reward kwargs need scale_min < scale_max, got ({lo}, {hi})")
    return shape, k, sigma, lo, hi


def shape_reward(
    error: float,
    *,
    shape: str = DEFAULT_SHAPE,
    k: float = DEFAULT_K,
    sigma: float = DEFAULT_SIGMA,
    scale_max: int = SCALE_MAX,
    scale_min: int = SCALE_MIN,
) -> float:
    """The reward in ``[0, 1]`` for a prediction ``error`` score points off the truth.

    Args:
        error: ``|pred - truth|``, at least 0.
        shape: one of :data:`SHAPES`.
        k: steepness of ``exponential``.
        sigma: width of ``gaussian``, in score units.
        scale_max: top of the score scale.
        scale_min: bottom of the score scale (the largest error is ``scale_max - scale_min``).

    Returns:
        The shaped reward: 1.0 at error 0, non-increasing in the error, never below 0.

    Raises:
        ValueError: a negative error or a bad parameter (naming it).

    Example:
        >>> shape_reward(1, shape="linear")
        0.75
    """
    shape, k, sigma, lo, hi = check_params(
        shape=shape, k=k, sigma=sigma, scale_min=scale_min, scale_max=scale_max
    )
    if isinstance(error, bool) or not isinstance(error, int | float) or not error >= 0:
        raise ValueError(f"error must be a number >= 0, got {error!r}")
    span = hi - lo
    if shape == "linear":
        return max(0.0, 1.0 - error / span)
    if shape == "exponential":
        return math.exp(-k * error / span)
    if shape == "gaussian":
        return math.exp(-(error**2) / (2.0 * sigma**2))
    return 1.0 if error == 0 else 0.0
