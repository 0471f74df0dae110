"""A straightforward regex implementation of the same rules, kept as an oracle and a baseline.

Tests check the fast parsers in :mod:`reward_fns.parse` against these on random text, and
``benchmarks/reward_throughput.py`` measures :mod:`reward_fns.pointwise` against
:func:`naive_compute_score`. Not used in training: it rebuilds every result on every call and
its regexes scan the whole text.
"""

from __future__ import annotations

import math
import re
from typing import Any

_REASONING = re.compile(r"^.*</think>", re.DOTALL)  # greedy: up to the last </think>
_DIGITS = re.compile(r"[0-9]{1,6}")


def _final_contents(text: str, tag: str) -> list[str] | None:
    if not isinstance(text, str):
        return None
    final = _REASONING.sub("", text, count=1)
    if "<think>" in final:
        return None
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    contents = re.findall(f"{open_tag}(.*?){close_tag}", final, flags=re.DOTALL)
    balanced = final.count(open_tag) == final.count(close_tag) == len(contents)
    if not contents or not balanced or any(open_tag in c for c in contents):
        return None
    return contents


def naive_parse_score(text: str, *, scale_min: int = 0, scale_max: int = 4) -> int | None:
    """Reference for :func:`reward_fns.parse.parse_score`."""
    contents = _final_contents(text, "score")
    if contents is None:
        return None
    stripped = {c.strip() for c in contents}
    values = {int(v) if _DIGITS.fullmatch(v) else None for v in stripped}
    if len(values) != 1:
        return None
    value = values.pop()
    return value if value is not None and scale_min <= value <= scale_max else None


def naive_parse_verdict(text: str) -> str | None:
    """Reference for :func:`reward_fns.parse.parse_verdict`."""
    contents = _final_contents(text, "answer")
    if contents is None:
        return None
    verdicts = {tuple(sorted(set(re.findall(r"\[\[([AB])\]\]", c)))) for c in contents}
    if len(verdicts) != 1:
        return None
    found = verdicts.pop()
    return found[0] if len(found) == 1 else None


def naive_compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: int | str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Reference for :func:`reward_fns.pointwise.compute_score`, computed afresh each call."""
    shape = kwargs.get("shape", "exact")
    k, sigma = float(kwargs.get("k", 2.0)), float(kwargs.get("sigma", 1.0))
    lo, hi = int(kwargs.get("scale_min", 0)), int(kwargs.get("scale_max", 4))
    truth = int(ground_truth)
    pred = naive_parse_score(solution_str, scale_min=lo, scale_max=hi)
    out = {"score": float(kwargs.get("format_penalty", 0.0)), "acc": 0.0}
    out.update(abs_error=float(hi - lo), parsed=0.0)
    out.update({f"pred_{i}": float(pred == i) for i in range(lo, hi + 1)})
    out["pred_none"] = float(pred is None)
    if pred is not None:
        error = abs(pred - truth)
        rewards = {
            "linear": max(0.0, 1.0 - error / (hi - lo)),
            "exponential": math.exp(-k * error / (hi - lo)),
            "gaussian": math.exp(-(error**2) / (2.0 * sigma**2)),
            "exact": float(error == 0),
        }
        out.update(score=rewards[shape], acc=float(error == 0), abs_error=float(error), parsed=1.0)
    return out
