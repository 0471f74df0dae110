"""Replicates: each configuration runs with N seeds as sibling trials (rmsweep.study._replicates).

Real parts: Optuna and MLflow in sqlite files, sleep jobs as threads (``ThreadLauncher``)
whose curves depend on the reward and on the seed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.cli._levels_view import importances_line
from rmsweep.errors import SpecError
from rmsweep.study import launch_study, level_table, parse_spec
from rmsweep.study._report import best_trials
from rmsweep.testing import SleepJobRunner, SleepPlan, ThreadLauncher


def plan(params: dict[str, str]) -> SleepPlan:
    top = {"linear": 0.3, "exact": 0.9}[params.get("reward", "exact")] + 0.01 * int(params["seed"])
    if params.get("reward") == "linear" and params["seed"] == "2":
        top = 0.99  # one lucky seed of the worse configuration
    failing = params.get("reward") == "linear" and params["seed"] == "1"
    return SleepPlan({"val/acc": [top / 2, top]}, 0.01, exit_code=1 if failing else 0)


SPEC = """\
name: seeds
base: [device=cpu]
objective: {metric: val/acc}
space:
  reward: [linear, exact]
enqueue: [{reward: exact}, {reward: linear}]
n_trials: 6
replicates: 3
retries: 1
parallel: 2
"""


def test_each_configuration_runs_its_seeds_and_a_retry_keeps_its_seed(workdir: Path) -> None:
    launcher = ThreadLauncher()
    spec = parse_spec(SPEC, source="seeds.yaml")
    outcome = launch_study(
        spec,
        storage=f"sqlite:///{workdir / 'optuna.db'}",
        runner=SleepJobRunner.factory(launcher=launcher, plan=plan),
        poll_s=0.02,
        echo=lambda line: None,
    )
    study = optuna.load_study(study_name="seeds", storage=outcome.storage_url)
    configurations: dict[int, list[optuna.trial.FrozenTrial]] = defaultdict(list)
    for trial in study.trials:
        configurations[trial.user_attrs[names.ATTR_CONFIGURATION]].append(trial)
    assert len(configurations) == 2  # n_trials counts the seeds: 2 configurations × 3
    for trials in configurations.values():
        assert len({t.params["reward"] for t in trials}) == 1
        firsts = [t for t in trials if names.ATTR_RETRY_OF not in t.user_attrs]
        assert sorted(t.user_attrs[names.ATTR_REPLICATE] for t in firsts) == [0, 1, 2]
        for t in trials:
            assert (
                f"seed={t.user_attrs[names.ATTR_REPLICATE]}" in t.user_attrs[names.ATTR_OVERRIDES]
            )
    exact = [t for t in study.trials if t.params["reward"] == "exact"]
    assert sorted(t.value for t in exact) == pytest.approx([0.9, 0.91, 0.92])  # one per seed
    # linear's seed 1 fails; its retry runs seed 1 again and fails too.
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 2 and {t.user_attrs[names.ATTR_REPLICATE] for t in failed} == {1}
    assert len(study.trials) == 7
    from mlflow import MlflowClient

    assert study.best_trial.params["reward"] == "linear"  # the lucky seed
    (best,) = best_trials(study, spec.objectives)  # by the configuration's mean: exact's
    assert best.params["reward"] == "exact" and best.value == pytest.approx(0.92)
    table = level_table(study, MlflowClient(outcome.tracking_uri), spec.objectives, "reward")
    assert {level.value: len(level.trials) for level in table.levels} == {"exact": 3, "linear": 2}
    line = importances_line(study)
    assert "mean ± sd over 2 replicate seeds" in line and "reward 1.00 ± 0.00" in line, line


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("n_trials: 5", "n_trials: 5 is not a multiple of replicates (3)"),
        ("replicates: 0", "replicates"),
        ("n_trials: 3", "lists 2 trials (3 seeds each) but n_trials is 3"),
    ],
)
def test_replicates_that_cannot_hold_are_refused(change: str, message: str) -> None:
    key = change.split(":")[0]
    text = "\n".join(change if line.startswith(f"{key}:") else line for line in SPEC.splitlines())
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(text, source="seeds.yaml")


def test_a_swept_seed_and_replicates_do_not_mix() -> None:
    text = SPEC.replace("  reward: [linear, exact]", "  reward: [linear, exact]\n  seed: [0, 1]")
    with pytest.raises(SpecError, match="drop seed from the space"):
        parse_spec(text, source="seeds.yaml")
