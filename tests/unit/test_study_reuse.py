"""Identical configurations are not trained twice; a grid study ends when its grid does.

Real parts: Optuna and MLflow in sqlite files, sleep jobs as threads (``ThreadLauncher``).
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.study import launch_study, parse_spec
from rmsweep.study._doctor import compare
from rmsweep.testing import SleepJobRunner, SleepPlan, ThreadLauncher


def plan(params: dict[str, str]) -> SleepPlan:
    top = {"linear": 0.3, "exponential": 0.5, "exact": 0.9}[params.get("reward", "exact")]
    curves = {"val/acc": [top / 2, top], "train/response_length": [9.0, 8.0]}
    return SleepPlan({**curves, "eval/rmbench/avg": [top - 0.1]}, 0.01)  # as its judge logs


def run_study(
    text: str, workdir: Path
) -> tuple[optuna.Study, MlflowClient, ThreadLauncher, list[str]]:
    launcher, lines = ThreadLauncher(), []
    spec = parse_spec(f"base: [device=cpu]\nobjective: {{metric: val/acc}}\n{text}", source="t")
    outcome = launch_study(
        spec,
        storage=f"sqlite:///{workdir / 'optuna.db'}",
        runner=SleepJobRunner.factory(launcher=launcher, plan=plan),
        poll_s=0.02,
        echo=lines.append,
    )
    study = optuna.load_study(study_name=spec.name, storage=outcome.storage_url)
    return study, MlflowClient(outcome.tracking_uri), launcher, lines


REPEAT = """\
name: {name}
space:
  reward: [linear, exact]
enqueue: [{{reward: linear}}, {{reward: linear}}, {{reward: exact}}]
n_trials: 3
parallel: 1
"""


def test_an_identical_config_is_told_its_first_value_without_a_job(workdir: Path) -> None:
    study, client, launcher, lines = run_study(REPEAT.format(name="repeat"), workdir)
    first, again, other = sorted(study.trials, key=lambda t: t.number)
    assert [t.state for t in (first, again, other)] == [TrialState.COMPLETE] * 3
    assert again.value == first.value and again.params == first.params
    assert len(launcher._jobs) == 2  # trial 1 started no job
    assert again.user_attrs[names.ATTR_REUSED_FROM] == first.number
    reused = client.get_run(again.user_attrs[names.ATTR_RUN_ID])
    source = first.user_attrs[names.ATTR_RUN_ID]
    assert reused.data.tags[names.TAG_REUSED_FROM] == source
    assert reused.data.tags[names.TAG_PARENT] == client.get_run(source).data.tags[names.TAG_PARENT]
    assert reused.info.status == "FINISHED" and reused.data.tags[names.TAG_STATE] == "complete"
    assert reused.data.metrics["objective/val/acc"] == pytest.approx(first.value)
    assert reused.data.params == client.get_run(source).data.params
    scores = {k: v for k, v in client.get_run(source).data.metrics.items() if k.startswith("eval/")}
    assert scores and {k: reused.data.metrics.get(k) for k in scores} == scores  # its model's
    assert any("as trial 0, not trained again" in line for line in lines)
    experiment = study.user_attrs[names.STUDY_EXPERIMENT_ID]
    assert compare(study, client, experiment_id=experiment) == []


def test_reuse_false_trains_every_trial(workdir: Path) -> None:
    study, client, launcher, _ = run_study(REPEAT.format(name="again") + "reuse: false\n", workdir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert len(launcher._jobs) == 3
    assert all(names.ATTR_REUSED_FROM not in t.user_attrs for t in study.trials)


def test_reuse_must_be_a_boolean() -> None:
    from rmsweep.errors import SpecError

    text = "name: x\nbase: []\nobjective: {metric: val/acc}\nspace: {reward: [linear]}\n"
    with pytest.raises(SpecError, match=r"reuse.*'yes' must be true or false"):
        parse_spec(text + "n_trials: 1\nreuse: 'yes'\n", source="t.yaml")


GRID = """\
name: {name}
space:
  reward: [linear, exponential, exact]
sampler: {{name: grid}}
n_trials: 3
parallel: {parallel}
"""


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_grid_study_ends_cleanly_when_its_grid_is_exhausted(workdir: Path, parallel: int) -> None:
    # Optuna's GridSampler called study.stop() at the last point's tell: RuntimeError.
    study, client, launcher, _ = run_study(
        GRID.format(name=f"grid{parallel}", parallel=parallel), workdir
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert sorted(t.params["reward"] for t in study.trials) == ["exact", "exponential", "linear"]
    assert len(launcher._jobs) == 3
    assert compare(study, client) == []
