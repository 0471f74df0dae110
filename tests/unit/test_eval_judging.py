"""The judging rules (pointwise, pairwise in both orders), rates, baselines and the judgments table."""

from __future__ import annotations

import math

import pytest

from rmsweep.evaluation import (
    BASELINES,
    Comparison,
    Outcome,
    judge_pairwise,
    judge_pointwise,
    judgment_rows,
    length_scores,
    random_scores,
    rates,
)


def comp(chosen: str, rejected: str, prompt: str = "p", item: str = "1", **kw) -> Comparison:
    return Comparison("rewardbench", item, prompt, chosen, rejected, group="g", **kw)


def table_scores(table: dict[str, float | None], calls: list):
    """A score_fn that looks responses up, recording each batch it is given."""

    def score_fn(pairs):
        calls.append(list(pairs))
        return [table[response] for _prompt, response in pairs]

    return score_fn


def table_verdicts(table: dict[tuple[str, str], str | None], calls: list):
    """A verdict_fn keyed by (response_a, response_b)."""

    def verdict_fn(triples):
        calls.append(list(triples))
        return [table[(a, b)] for _prompt, a, b in triples]

    return verdict_fn


def test_pointwise_strictly_greater_wins_and_ties_are_wrong():
    calls: list = []
    fn = table_scores({"good": 3.0, "bad": 1.0, "same1": 2.0, "same2": 2.0}, calls)
    win, loss, tie = judge_pointwise(
        [comp("good", "bad"), comp("bad", "good"), comp("same1", "same2")], fn
    )
    assert (win.correct, win.tie, win.unparsed) == (1.0, False, False)
    assert (win.chosen_score, win.rejected_score) == (3.0, 1.0)
    assert (loss.correct, loss.tie) == (0.0, False)
    assert (tie.correct, tie.tie, tie.unparsed) == (0.0, True, False)


def test_pointwise_unparseable_scores_count_wrong_and_are_not_ties():
    fn = table_scores({"ok": 2.0, "none": None, "nan": math.nan, "none2": None}, [])
    a, b, c = judge_pointwise([comp("none", "ok"), comp("ok", "nan"), comp("none", "none2")], fn)
    for outcome in (a, b, c):
        assert outcome.correct == 0.0 and outcome.unparsed and not outcome.tie
    assert b.chosen_score == 2.0 and b.rejected_score is None  # NaN reads as unparseable


def test_pointwise_scores_each_distinct_pair_once_in_one_call():
    calls: list = []
    # The RM-Bench shape: 3 chosen x 3 rejected responses = 9 comparisons, 6 distinct responses.
    chosen, rejected = ["c0", "c1", "c2"], ["r0", "r1", "r2"]
    comparisons = [comp(chosen[i], rejected[j], cell=(i, j)) for i in range(3) for j in range(3)]
    table = {"c0": 1.0, "c1": 2.0, "c2": 3.0, "r0": 0.0, "r1": 2.5, "r2": 9.0}
    outcomes = judge_pointwise(comparisons, table_scores(table, calls))
    assert len(calls) == 1
    assert sorted(calls[0]) == sorted(("p", r) for r in table)
    assert [o.correct for o in outcomes] == [1, 0, 0, 1, 0, 0, 1, 1, 0]


def test_pointwise_same_response_under_another_prompt_is_scored_separately():
    calls: list = []
    fn = table_scores({"x": 1.0, "y": 0.0}, calls)
    judge_pointwise([comp("x", "y", prompt="p1"), comp("x", "y", prompt="p2")], fn)
    assert len(calls[0]) == 4


def test_pointwise_rejects_a_score_fn_returning_the_wrong_count():
    with pytest.raises(ValueError, match="2 inputs"):
        judge_pointwise([comp("a", "b")], lambda pairs: [1.0])


def test_pairwise_judges_both_orders_in_one_call():
    calls: list = []
    table = {("c", "r"): "A", ("r", "c"): "B"}
    [outcome] = judge_pairwise([comp("c", "r")], table_verdicts(table, calls))
    assert calls == [[("p", "c", "r"), ("p", "r", "c")]]
    assert outcome.verdicts == ("A", "B")
    assert (outcome.correct, outcome.consistent, outcome.unparsed) == (1.0, True, False)


@pytest.mark.parametrize(
    ("v_ab", "v_ba", "correct", "consistent", "unparsed"),
    [
        ("A", "B", 1.0, True, False),  # chosen both times
        ("B", "A", 0.0, True, False),  # rejected both times: consistently wrong
        ("A", "A", 0.5, False, False),  # always the first shown: position bias
        ("B", "B", 0.5, False, False),
        (None, "B", 0.5, False, True),  # half right, one order unparseable
        ("A", None, 0.5, False, True),
        (None, None, 0.0, False, True),
    ],
)
def test_pairwise_correct_is_the_mean_over_both_orders(v_ab, v_ba, correct, consistent, unparsed):
    table = {("c", "r"): v_ab, ("r", "c"): v_ba}
    [outcome] = judge_pairwise([comp("c", "r")], table_verdicts(table, []))
    assert outcome.correct == correct
    assert outcome.consistent is consistent
    assert outcome.unparsed is unparsed
    assert outcome.tie is False


def test_pairwise_rejects_unknown_verdicts():
    with pytest.raises(ValueError, match="'C'"):
        judge_pairwise([comp("c", "r")], lambda triples: ["C", "A"])


def test_empty_batches_do_not_call_the_judge():
    def boom(_batch):
        raise AssertionError("called")

    assert judge_pointwise([], boom) == []
    assert judge_pairwise([], boom) == []


def test_rates_pointwise():
    outcomes = [
        Outcome(1.0, False, False),
        Outcome(0.0, True, False),
        Outcome(0.0, False, True),
        Outcome(0.0, False, True),
    ]
    assert rates(outcomes) == {"n": 4.0, "tie_rate": 0.25, "unparsed_rate": 0.5}


def test_rates_pairwise_adds_consistency():
    outcomes = [
        Outcome(1.0, False, False, verdicts=("A", "B"), consistent=True),
        Outcome(0.5, False, False, verdicts=("A", "A"), consistent=False),
        Outcome(0.5, False, True, verdicts=(None, "B"), consistent=False),
        Outcome(0.0, False, False, verdicts=("B", "A"), consistent=True),
    ]
    assert rates(outcomes) == {
        "n": 4.0,
        "tie_rate": 0.0,
        "unparsed_rate": 0.25,
        "consistency": 0.5,
    }


def test_length_baseline_counts_characters():
    assert length_scores([("p", "abc"), ("p", ""), ("q", "héllo")]) == [3.0, 0.0, 5.0]
    assert BASELINES["length"] is length_scores


def test_random_baseline_is_seeded_uniform_and_per_pair():
    pairs = [("p", "a"), ("p", "b"), ("q", "a"), ("p", "a")]
    first = random_scores(pairs)
    assert first == random_scores(pairs)
    assert first[0] == first[3]  # same (prompt, response), same number
    assert len({first[0], first[1], first[2]}) == 3
    assert all(0.0 <= x < 1.0 for x in first)
    assert random_scores(pairs, seed=1) != first
    assert BASELINES["random"] is random_scores


def test_random_baseline_is_near_half_on_many_comparisons():
    comparisons = [comp(f"chosen {k}", f"rejected {k}", prompt=f"p{k}") for k in range(2000)]
    outcomes = judge_pointwise(comparisons, BASELINES["random"])
    accuracy = sum(o.correct for o in outcomes) / len(outcomes)
    assert 0.45 < accuracy < 0.55


def test_judgment_rows_are_flat():
    comparisons = [
        Comparison("rmbench", "chat:7", "p", "c", "r", "chat", (2, 0), "total_dataset.json:0"),
        Comparison("rmb", "BoN_set:1", "p", "c", "r", "BoN_set/Harmlessness/S1", None, "x:1"),
    ]
    outcomes = [
        Outcome(1.0, False, False, 3.0, 1.0),
        Outcome(0.5, False, True, verdicts=("A", None), consistent=False),
    ]
    first, second = judgment_rows(comparisons, outcomes)
    assert first == {
        "bench": "rmbench",
        "item_id": "chat:7",
        "group": "chat",
        "cell": "2,0",
        "source": "total_dataset.json:0",
        "chosen_score": 3.0,
        "rejected_score": 1.0,
        "verdict_ab": None,
        "verdict_ba": None,
        "correct": 1.0,
        "tie": False,
        "unparsed": False,
    }
    assert second["cell"] == ""
    assert (second["verdict_ab"], second["verdict_ba"]) == ("A", None)
    assert (second["correct"], second["unparsed"], second["chosen_score"]) == (0.5, True, None)


def test_judgment_rows_need_one_outcome_per_comparison():
    with pytest.raises(ValueError, match="1 outcomes for 2 comparisons"):
        judgment_rows([comp("a", "b"), comp("c", "d")], [Outcome(1.0, False, False)])
