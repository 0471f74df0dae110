"""Search space: define-by-run conditions, overrides that compose, Optuna param names."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmsweep.config import compose
from rmsweep.study import corners, parse_spec, suggest, to_overrides

SPEC = """\
name: space
base: [device=cpu]
objective: {metric: val/acc}
space:
  reward: [linear, exponential, exact]
  reward.k: {type: float, low: 2.0, high: 8.0, log: true, when: {reward: exponential}}
  template: [pointwise_plain, pointwise_fewshot]
  trainer.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
  trainer.rollout_n: {type: int, low: 4, high: 12, step: 4}
  trainer.temperature: {value: 1.2, when: {template: pointwise_fewshot}}
n_trials: 3
"""


@pytest.fixture(scope="module")
def space():
    return parse_spec(SPEC, check_config=False).space


def test_conditional_entry_is_sampled_only_when_its_condition_holds(space) -> None:
    with_k = optuna.trial.FixedTrial(
        {"reward": "exponential", "reward.k": 3.0, "template": "pointwise_plain",
         "trainer.lr": 1e-3, "trainer.rollout_n": 8}
    )  # fmt: skip
    values = suggest(with_k, space)
    assert values["reward.k"] == 3.0 and "trainer.temperature" not in values
    without_k = optuna.trial.FixedTrial(
        {"reward": "linear", "template": "pointwise_fewshot", "trainer.lr": 1e-3,
         "trainer.rollout_n": 4}
    )  # fmt: skip
    values = suggest(without_k, space)
    assert "reward.k" not in values
    assert values["trainer.temperature"] == 1.2  # a fixed value, under its condition


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_tpe_never_samples_k_for_other_shapes(space, seed: int) -> None:
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True),
        direction="maximize",
    )
    for _ in range(6):
        trial = study.ask()
        values = suggest(trial, space)
        assert ("reward.k" in trial.params) == (values["reward"] == "exponential")
        assert set(trial.params) <= {"reward", "reward.k", "template", "trainer.lr",
                                     "trainer.rollout_n"}  # fmt: skip
        study.tell(trial, float(values["trainer.lr"]))


def test_overrides_put_groups_first_and_compose_to_the_sampled_values(space, workdir: Path) -> None:
    values = {
        "reward": "exponential",
        "reward.k": 4.5,
        "template": "pointwise_fewshot",
        "trainer.lr": 0.00123,
        "trainer.rollout_n": 12,
        "trainer.temperature": 1.2,
    }
    overrides = to_overrides(space, values)
    assert overrides[:2] == ["reward=exponential", "template=pointwise_fewshot"]
    cfg = compose(["device=cpu", *overrides])
    assert cfg.reward.shape == "exponential" and cfg.reward.k == 4.5
    assert cfg.template.name == "pointwise_fewshot"  # the group's run param carries the choice
    assert cfg.trainer.lr == 0.00123 and cfg.trainer.rollout_n == 12
    assert cfg.trainer.temperature == 1.2


def test_grid_values_of_discrete_entries(space) -> None:
    by_key = {e.key: e for e in space}
    assert by_key["trainer.rollout_n"].grid_values() == [4, 8, 12]
    assert by_key["template"].grid_values() == ["pointwise_plain", "pointwise_fewshot"]
    assert not by_key["trainer.lr"].discrete()


def test_corners_take_every_choice_and_each_ranges_ends_under_their_conditions(space) -> None:
    points = corners(space)
    # reward: linear, exact (1 each) + exponential × k ∈ {2, 8}; template ×2; lr ×2; rollout_n ×2
    assert len(points) == 4 * 2 * 2 * 2
    assert {p["reward.k"] for p in points if p["reward"] == "exponential"} == {2.0, 8.0}
    assert all("reward.k" not in p for p in points if p["reward"] != "exponential")
    assert {p["trainer.lr"] for p in points} == {1e-4, 1e-2}
    assert {p["trainer.rollout_n"] for p in points} == {4, 12}  # the grid's ends, ints
    assert all(isinstance(p["trainer.rollout_n"], int) for p in points)
    fewshot = [p for p in points if p["template"] == "pointwise_fewshot"]
    assert all(p["trainer.temperature"] == 1.2 for p in fewshot)
    assert all("trainer.temperature" not in p for p in points if p not in fewshot)
    # each corner is what suggest() returns for those values
    for point in points[:5]:
        assert suggest(optuna.trial.FixedTrial(point), space) == point
