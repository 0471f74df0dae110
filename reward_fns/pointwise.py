"""veRL entry point for pointwise scoring: the model writes ``<score>K</score>``.

veRL loads this file by path (``custom_reward_function.path``) and calls :func:`compute_score`
with ``custom_reward_function.reward_kwargs`` merged into the keyword arguments, so one file
serves every trial: the shape and its parameters arrive as kwargs.

Every (truth, prediction) pair has a fixed result, so each kwargs configuration gets a table
of result dicts built once; a call is then a parse plus a dict lookup and copy.
"""

from __future__ import annotations

from typing import Any

from reward_fns.cache import TableCache
from reward_fns.parse import parse_score_with, score_lookup
from reward_fns.shapes import DEFAULTS, check_number, check_params, shape_reward

KWARGS = (*DEFAULTS, "format_penalty")
# Passed by veRL's reward-loop manager when a reward model router is configured; not ours.
VERL_EXTRA_KWARGS = ("reward_router_address", "reward_model_tokenizer")

_Table = tuple[dict[Any, dict[int | None, dict[str, float]]], dict[str, int], int, int]
MAX_SCALE_WIDTH = 20


def result_keys(scale_min: int = 0, scale_max: int = 4) -> list[str]:
    """The keys of every result dict for this scale, in order."""
    preds = [f"pred_{i}" for i in range(scale_min, scale_max + 1)]
    return ["score", "acc", "abs_error", "parsed", *preds, "pred_none"]


def _build_table(kwargs: dict[str, Any]) -> _Table:
    unknown = sorted(set(kwargs) - set(KWARGS) - set(VERL_EXTRA_KWARGS))
    if unknown:
        raise ValueError(f"unknown pointwise reward kwarg(s) {unknown}; valid: {list(KWARGS)}")
    params = {**DEFAULTS, **{key: kwargs[key] for key in DEFAULTS if key in kwargs}}
    shape, k, sigma, lo, hi = check_params(**params)
    if hi - lo > MAX_SCALE_WIDTH:
        raise ValueError(
            f"reward kwargs scale_min..scale_max span at most {MAX_SCALE_WIDTH} points "
            f"(one pred_<i> metric each), got ({lo}, {hi})"
        )
    penalty = check_number("format_penalty", kwargs.get("format_penalty", 0.0))

    def result(truth: int, pred: int | None) -> dict[str, float]:
        out = dict.fromkeys(result_keys(lo, hi), 0.0)
        if pred is None:
            out.update(score=penalty, abs_error=float(hi - lo), pred_none=1.0)
        else:
            error = abs(pred - truth)
            reward = shape_reward(error, shape=shape, k=k, sigma=sigma, scale_min=lo, scale_max=hi)
            out.update(score=reward, acc=float(error == 0), abs_error=float(error), parsed=1.0)
            out[f"pred_{pred}"] = 1.0
        return out

    rows: dict[Any, dict[int | None, dict[str, float]]] = {}
    for truth in range(lo, hi + 1):
        row = {pred: result(truth, pred) for pred in [*range(lo, hi + 1), None]}
        rows[truth] = rows[str(truth)] = row
    return rows, score_lookup(lo, hi), lo, hi


def _truth_row(
    rows: dict[Any, dict[int | None, dict[str, float]]], ground_truth: Any, lo: int, hi: int
) -> dict[int | None, dict[str, float]]:
    try:
        return rows[str(ground_truth).strip()]
    except KeyError:
        raise ValueError(
            f"ground_truth must be an integer score in [{lo}, {hi}], got {ground_truth!r}"
        ) from None


_TABLES = TableCache(_build_table)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: int | str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Score one pointwise output against the true score (veRL 0.9.1's reward signature).

    Args:
        data_source: the dataset name (unused; veRL passes it).
        solution_str: the decoded model output.
        ground_truth: the true integer score (int or a string of one).
        extra_info: veRL's per-sample extras (unused).
        **kwargs: shape (linear | exponential | gaussian | exact, default exact), k (2.0),
            sigma (1.0), scale_min (0), scale_max (4), format_penalty (0.0).

    Returns:
        ``score`` (the shaped reward, or format_penalty when unparseable), ``acc`` (exact
        match), ``abs_error`` (the scale's width when unparseable), ``parsed`` (0/1), and
        one-hot ``pred_<i>`` for each score on the scale plus ``pred_none``. All floats; the
        same keys for every call with the same kwargs.

    Raises:
        ValueError: an unknown or bad kwarg, or a ground_truth off the scale. Never raised
            for any ``solution_str``.

    Example:
        >>> compute_score("hs2", "<score>3</score>", 4, shape="linear")["score"]
        0.75
    """
    rows, valid, lo, hi = _TABLES.get(kwargs)
    try:
        row = rows[ground_truth]
    except (KeyError, TypeError):
        row = _truth_row(rows, ground_truth, lo, hi)
    return row[parse_score_with(solution_str, valid, lo, hi)].copy()
