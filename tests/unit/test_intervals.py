"""Paired bootstrap intervals (rmsweep.intervals): the point estimate is the benchmark's own
score, the interval agrees with SciPy's bootstrap on the same paired data, a planted real
difference is called, identical configurations are not. Judgments here are made up."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._rates import judgment_rows
from rmsweep.evaluation._rmbench import score as rmbench_score
from rmsweep.intervals import (
    BETTER,
    SAME,
    WORSE,
    judgments,
    mean_interval,
    paired_difference,
    values_difference,
)


def _rmbench_rows(accuracy: float, prompts: int, seed: int) -> tuple[list[dict], dict]:
    """Made-up RM-Bench judgments: each prompt's nine style cells, right with ``accuracy``."""
    rng = np.random.default_rng(seed)
    comparisons, outcomes = [], []
    for p in range(prompts):
        domain = ("chat", "math", "safety-refuse", "safety-response")[p % 4]
        for i in range(3):
            for j in range(3):
                comparisons.append(Comparison("rmbench", f"p{p}", "q", "c", "r", domain, (i, j)))
                right = float(rng.random() < accuracy)
                outcomes.append(Outcome(correct=right, tie=False, unparsed=False))
    return judgment_rows(comparisons, outcomes), rmbench_score(comparisons, outcomes)


def _plain_rows(correct: np.ndarray) -> list[dict]:
    return [
        {"bench": "rewardbench", "item_id": f"i{k}", "group": "chat", "cell": "", "correct": c}
        for k, c in enumerate(correct)
    ]


def test_the_point_estimate_is_rmbenchs_own_avg_and_prompts_are_the_unit() -> None:
    rows, scores = _rmbench_rows(0.7, prompts=40, seed=1)
    judged = judgments(rows, "rmbench")
    assert judged.score() == pytest.approx(scores["rmbench.avg"])
    assert len(judged.items) == 40  # nine comparisons per prompt resample together
    assert judged.count.sum() == 360


def test_the_interval_agrees_with_scipys_paired_bootstrap() -> None:
    rng = np.random.default_rng(7)
    a = (rng.random(300) < 0.72).astype(float)
    b = (rng.random(300) < 0.65).astype(float)
    ours = paired_difference(
        [judgments(_plain_rows(a), "rewardbench")],
        [judgments(_plain_rows(b), "rewardbench")],
        resamples=20000,
    )
    theirs = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=20000,
        random_state=np.random.default_rng(0),
    ).confidence_interval
    assert ours.estimate == pytest.approx(a.mean() - b.mean())
    assert ours.low == pytest.approx(theirs.low, abs=0.006)
    assert ours.high == pytest.approx(theirs.high, abs=0.006)


def test_a_planted_difference_is_called_and_identical_configurations_are_not() -> None:
    good = judgments(_rmbench_rows(0.9, prompts=60, seed=2)[0], "rmbench")
    poor = judgments(_rmbench_rows(0.5, prompts=60, seed=3)[0], "rmbench")
    assert paired_difference([good], [poor]).verdict == BETTER
    assert paired_difference([poor], [good]).verdict == WORSE
    twin = judgments(_rmbench_rows(0.7, prompts=60, seed=4)[0], "rmbench")
    same = paired_difference([twin], [twin])
    assert (same.estimate, same.low, same.high, same.verdict) == (0.0, 0.0, 0.0, SAME)
    # Pairs of runs of one configuration (independent noise): a 95% interval calls a
    # difference in about 5% of them.
    verdicts = [
        paired_difference(
            [judgments(_rmbench_rows(0.7, prompts=60, seed=100 + k)[0], "rmbench")],
            [judgments(_rmbench_rows(0.7, prompts=60, seed=200 + k)[0], "rmbench")],
            resamples=500,
        ).verdict
        for k in range(40)
    ]
    assert verdicts.count(SAME) >= 34, verdicts


def test_seeds_widen_the_interval_and_the_same_inputs_give_the_same_interval() -> None:
    seeds_a = [judgments(_rmbench_rows(0.75, 60, seed)[0], "rmbench") for seed in (10, 11, 12)]
    seeds_b = [judgments(_rmbench_rows(0.70, 60, seed)[0], "rmbench") for seed in (20, 21, 22)]
    over_seeds = paired_difference(seeds_a, seeds_b)
    assert over_seeds == paired_difference(seeds_a, seeds_b)  # seeded
    assert over_seeds.estimate == pytest.approx(
        np.mean([j.score() for j in seeds_a]) - np.mean([j.score() for j in seeds_b])
    )
    one_each = paired_difference(seeds_a[:1], seeds_b[:1])
    assert one_each.low <= one_each.estimate <= one_each.high


def test_sides_must_share_items_and_a_mean_of_one_has_no_spread() -> None:
    a = judgments(_plain_rows(np.ones(3)), "rewardbench")
    b = judgments(
        [{**r, "item_id": "x" + r["item_id"]} for r in _plain_rows(np.ones(3))], "rewardbench"
    )
    with pytest.raises(ValueError, match="no item in common"):
        paired_difference([a], [b])
    assert mean_interval([0.5]) == (0.5, 0.5, 0.5)
    mean, low, high = mean_interval([0.4, 0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.55) and low < mean < high


def test_a_difference_in_a_loss_reads_the_other_way() -> None:
    higher_loss = values_difference([0.50, 0.52, 0.51], [0.10, 0.12, 0.11], higher_is_better=False)
    assert higher_loss.estimate == pytest.approx(0.4) and higher_loss.verdict == WORSE
    assert values_difference([0.50, 0.52, 0.51], [0.10, 0.12, 0.11]).verdict == BETTER
