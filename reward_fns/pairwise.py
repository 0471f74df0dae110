"""veRL entry point for pairwise verdicts: the model answers ``<answer>[[A]]</answer>`` (RM-R1).

Loaded by path like :mod:`reward_fns.pointwise`; ``mode`` and ``format_penalty`` arrive as
kwargs (veRL's ``custom_reward_function.reward_kwargs``).
"""

from __future__ import annotations

from typing import Any

from reward_fns.cache import TableCache
from reward_fns.parse import VERDICTS, parse_verdict
from reward_fns.shapes import check_number

# mode -> (reward for a correct verdict, reward for a wrong one); the default penalty is the min.
MODES = {"signed": (1.0, -1.0), "binary": (1.0, 0.0)}
KWARGS = ("mode", "format_penalty")
VERL_EXTRA_KWARGS = ("reward_router_address", "reward_model_tokenizer")
RESULT_KEYS = ("score", "acc", "parsed", "pred_A", "pred_B", "pred_none")


def _build_table(kwargs: dict[str, Any]) -> dict[str, dict[str | None, dict[str, float]]]:
    unknown = sorted(set(kwargs) - set(KWARGS) - set(VERL_EXTRA_KWARGS))
    if unknown:
        raise ValueError(f"unknown pairwise reward kwarg(s) {unknown}; valid: {list(KWARGS)}")
    mode = kwargs.get("mode", "signed")
    if mode not in MODES:
        raise ValueError(f"reward kwarg 'mode' must be one of {tuple(MODES)}, got {mode!r}")
    right, wrong = MODES[mode]
    penalty = check_number("format_penalty", kwargs.get("format_penalty", wrong))

    def result(truth: str, pred: str | None) -> dict[str, float]:
        out = dict.fromkeys(RESULT_KEYS, 0.0)
        out[f"pred_{pred or 'none'}"] = 1.0
        if pred is None:
            out["score"] = penalty
        else:
            out.update(
                score=right if pred == truth else wrong, acc=float(pred == truth), parsed=1.0
            )
        return out

    return {truth: {pred: result(truth, pred) for pred in (*VERDICTS, None)} for truth in VERDICTS}


_TABLES = TableCache(_build_table)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Score one pairwise verdict against the preferred response (veRL 0.9.1's signature).

    Args:
        data_source: the dataset name (unused; veRL passes it).
        solution_str: the decoded model output.
        ground_truth: the preferred response, ``"A"`` or ``"B"``.
        extra_info: veRL's per-sample extras (unused).
        **kwargs: mode (signed: ±1, or binary: 1/0; default signed) and format_penalty (the
            reward when unparseable; default the mode's minimum).

    Returns:
        ``score``, ``acc`` (the verdict is right), ``parsed`` (0/1) and one-hot ``pred_A``,
        ``pred_B``, ``pred_none``; all floats.

    Raises:
        ValueError: an unknown or bad kwarg, or a ground_truth other than A/B. Never raised
            for any ``solution_str``.

    Example:
        >>> compute_score("uf", "<answer>[[B]]</answer>", "A")["score"]
        -1.0
    """
    table = _TABLES.get(kwargs)
    row = table.get(ground_truth) if isinstance(ground_truth, str) else None
    if row is None:
        truth = str(ground_truth).strip().upper()
        if truth not in table:
            raise ValueError(f"ground_truth must be 'A' or 'B', got {ground_truth!r}")
        row = table[truth]
    return row[parse_verdict(solution_str)].copy()
