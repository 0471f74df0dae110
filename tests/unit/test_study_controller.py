"""The controller with real parts: Optuna and MLflow in sqlite files, jobs as threads.

Trials run ``SleepJobRunner`` jobs on ``ThreadLauncher`` (no subprocess, no Ray); the process
and Ray paths are in tests/integration/ (test_study_cli.py, test_study_ray.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.errors import LaunchError
from rmsweep.study import aggregate, launch_study, parse_spec
from rmsweep.testing import SleepJobRunner, SleepPlan

ACC = "val-core/synthetic/acc/mean_at_1"
LENGTH = "response_length/mean"


def spec_text(name: str, body: str) -> str:
    return f"name: {name}\nbase: [device=cpu]\n{body}"


def run_study(
    text: str, plan: Callable[[dict[str, str]], SleepPlan], workdir: Path, **kwargs: object
):
    spec = parse_spec(text, source="test.yaml")
    lines: list[str] = []
    outcome = launch_study(
        spec,
        storage=f"sqlite:///{workdir / 'optuna.db'}",
        runner=SleepJobRunner.factory(launcher="thread", plan=plan),
        poll_s=0.05,
        echo=lines.append,
        **kwargs,
    )
    study = optuna.load_study(study_name=spec.name, storage=outcome.storage_url)
    return outcome, study, MlflowClient(outcome.tracking_uri), lines


def child_runs(client: MlflowClient, parent: str) -> list:
    experiment = client.get_run(parent).info.experiment_id
    return client.search_runs([experiment], f"tags.`{names.TAG_PARENT}` = '{parent}'")


def curve(steps: int, top: float, step_s: float = 0.02) -> SleepPlan:
    values = [round(top * (i + 1) / steps, 6) for i in range(steps)]
    lengths = [50.0 - i for i in range(steps)]
    return SleepPlan({"val/acc": values, "train/response_length": lengths}, step_s=step_s)


def by_params(params: dict[str, str]) -> SleepPlan:
    score = {"linear": 0.3, "exponential": 0.6, "exact": 0.9}[params.get("reward", "exact")]
    score += 0.05 if params.get("template") == "pointwise_fewshot" else 0.0
    return curve(4, score)


QUICK = """\
objective: {metric: val/acc, direction: maximize, aggregate: last}
space:
  reward: [linear, exponential, exact]
  reward.k: {type: float, low: 2.0, high: 8.0, when: {reward: exponential}}
  template: [pointwise_plain, pointwise_fewshot]
sampler: {name: random}
n_trials: 5
seed: 1
"""


def test_mlflow_holds_a_parent_and_one_child_per_trial_matching_optuna(workdir: Path) -> None:
    outcome, study, client, _ = run_study(spec_text("quick", QUICK), by_params, workdir)
    parent = client.get_run(outcome.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags[names.TAG_STATE] == "complete"
    assert parent.info.run_name == "quick" and names.TAG_PARENT not in parent.data.tags
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == "quick"  # one experiment per study
    runs = child_runs(client, outcome.parent_run_id)
    assert len(runs) == len(study.trials) == 5
    assert len(client.search_runs([experiment.experiment_id])) == 6
    by_trial = {int(r.data.tags[names.TAG_TRIAL]): r for r in runs}
    objective = parse_spec(spec_text("quick", QUICK)).objectives[0]
    for trial in study.trials:
        run = by_trial[trial.number]
        assert trial.state == TrialState.COMPLETE
        assert trial.user_attrs[names.ATTR_RUN_ID] == run.info.run_id
        assert run.data.tags[names.TAG_STUDY] == "quick"
        assert run.data.tags[names.TAG_STATE] == "complete" and run.info.status == "FINISHED"
        for key, value in trial.params.items():  # the same dotted keys as the run's params
            recorded = run.data.params[key]
            assert (float(recorded) if isinstance(value, float) else recorded) == value
        history = client.get_metric_history(run.info.run_id, ACC)
        assert sorted(m.step for m in history) == [0, 1, 2, 3]
        from_mlflow = aggregate([(m.step, m.value) for m in history], objective)
        assert from_mlflow == pytest.approx(trial.value)
        assert run.data.metrics["objective/val/acc"] == pytest.approx(trial.value)
    best = max(study.trials, key=lambda t: t.value)
    assert parent.data.tags["rmsweep.best_run_id"] == best.user_attrs[names.ATTR_RUN_ID]
    assert parent.data.metrics["best/val/acc"] == pytest.approx(best.value)
    artifacts = {a.path for a in client.list_artifacts(outcome.parent_run_id)}
    assert {"spec.yaml", "summary.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(outcome.parent_run_id, "plots")}
    assert {"plots/study.html", "plots/history.png", "plots/param_importances.png"} <= plots


PRUNE = """\
objective: {metric: val/acc, direction: maximize}
space:
  reward: [exact, linear]
sampler: random
pruner: {name: median, n_startup_trials: 1, n_warmup_steps: 0}
enqueue: [{reward: exact}, {reward: linear}]
n_trials: 2
"""


def test_pruning_stops_a_losing_trial_early(workdir: Path) -> None:
    def plan(params: dict[str, str]) -> SleepPlan:
        if params["reward"] == "exact":
            return curve(6, 0.9)
        return SleepPlan({"val/acc": [0.0] * 40}, step_s=0.25)  # 10 s if left alone

    outcome, study, client, lines = run_study(spec_text("prune", PRUNE), plan, workdir)
    good, bad = study.trials
    assert good.state == TrialState.COMPLETE and good.params == {"reward": "exact"}
    assert bad.state == TrialState.PRUNED and bad.params == {"reward": "linear"}
    run = client.get_run(bad.user_attrs[names.ATTR_RUN_ID])
    assert run.data.tags[names.TAG_STATE] == "pruned" and run.info.status == "KILLED"
    steps = client.get_metric_history(run.info.run_id, ACC)
    assert 1 <= len(steps) < 40  # stopped early: fewer steps than its job would have logged
    assert "sleepjob/ended_at" not in run.data.metrics  # the job never reached its end
    assert any(line.startswith("trial 1 pruned at step") for line in lines)
    assert outcome.summary["counts"]["pruned"] == 1


def test_a_failed_job_is_retried_with_the_same_params(workdir: Path) -> None:
    calls: dict[str, int] = {}

    def flaky(params: dict[str, str]) -> SleepPlan:
        key = params["reward"]
        calls[key] = calls.get(key, 0) + 1
        plan = curve(3, 0.5)
        plan.exit_code = 1 if calls[key] == 1 else 0
        return plan

    text = spec_text(
        "retry",
        "objective: {metric: val/acc}\nspace:\n  reward: [linear, exact]\nn_trials: 1\nretries: 1\n",
    )
    outcome, study, client, _ = run_study(text, flaky, workdir)
    failed, rerun = study.trials
    assert failed.state == TrialState.FAIL and rerun.state == TrialState.COMPLETE
    assert rerun.params == failed.params and rerun.user_attrs[names.ATTR_RETRY_OF] == 0
    first = client.get_run(failed.user_attrs[names.ATTR_RUN_ID])
    assert first.info.status == "FAILED" and first.data.tags[names.TAG_STATE] == "failed"
    assert "its job ended FAILED" in first.data.tags["rmsweep.reason"]
    assert outcome.summary["counts"] == {
        "complete": 1, "pruned": 0, "failed": 1, "killed": 0, "running": 0, "waiting": 0
    }  # fmt: skip


def test_a_missing_objective_metric_fails_the_trial(workdir: Path) -> None:
    text = spec_text(
        "missing",
        "objective: {metric: val/abs_error, direction: minimize}\n"
        "space:\n  reward: [linear, exact]\nn_trials: 1\n",
    )
    _, study, client, _ = run_study(text, lambda p: curve(2, 0.5), workdir)
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL
    assert "logged no val/abs_error" in trial.user_attrs[names.ATTR_REASON]
    run = client.get_run(trial.user_attrs[names.ATTR_RUN_ID])
    assert run.info.status == "FAILED"


def test_a_free_slot_takes_the_next_trial_without_waiting_for_the_others(workdir: Path) -> None:
    text = spec_text(
        "slots",
        "objective: {metric: val/acc}\nspace:\n  trainer.rollout_n: [4, 8, 16]\n"
        "enqueue: [{trainer.rollout_n: 16}, {trainer.rollout_n: 4}, {trainer.rollout_n: 8}]\n"
        "n_trials: 3\nparallel: 2\n",
    )

    trial_2_started = threading.Event()

    def plan(params: dict[str, str]) -> SleepPlan:
        if params["trainer.rollout_n"] == "16":  # trial 0 runs until trial 2 has started
            held = curve(2, 0.5)
            held.gate = trial_2_started
            return held
        if params["trainer.rollout_n"] == "8":
            trial_2_started.set()
        return curve(2, 0.5)

    outcome, study, _, _ = run_study(text, plan, workdir)
    at = {(e.trial, e.kind): e.at for e in outcome.events}
    # Trial 0 holds its slot: trial 2 starts as soon as 1 is told, while 0 still runs.
    assert at[(1, "told")] <= at[(2, "claimed")] < at[(0, "told")]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_several_objectives_are_all_told_and_recorded(workdir: Path) -> None:
    text = spec_text(
        "multi",
        "objective:\n  - {metric: val/acc, direction: maximize}\n"
        "  - {metric: train/response_length, direction: minimize, aggregate: best}\n"
        "space:\n  reward: [linear, exponential, exact]\nsampler: random\nn_trials: 3\n",
    )
    outcome, study, client, _ = run_study(text, by_params, workdir)
    assert study.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    for trial in study.trials:
        run = client.get_run(trial.user_attrs[names.ATTR_RUN_ID])
        lengths = [m.value for m in client.get_metric_history(run.info.run_id, LENGTH)]
        assert trial.values[1] == pytest.approx(min(lengths))  # best = min when minimising
        assert run.data.metrics["objective/train/response_length"] == pytest.approx(min(lengths))
    assert outcome.summary["best"]  # the Pareto front


def test_launching_an_existing_study_says_how_to_continue(workdir: Path) -> None:
    text = spec_text(
        "again", "objective: {metric: val/acc}\nspace:\n  reward: [linear]\nn_trials: 1\n"
    )
    run_study(text, by_params, workdir)
    with pytest.raises(LaunchError, match=r"study 'again' already exists .*study resume again"):
        run_study(text, by_params, workdir)


def test_resume_extends_the_budget_and_a_worker_must_bring_the_same_spec(workdir: Path) -> None:
    from rmsweep.errors import SpecError
    from rmsweep.study import resume_study

    text = spec_text(
        "grow", "objective: {metric: val/acc}\nspace:\n  reward: [linear, exact]\nn_trials: 1\n"
    )
    outcome, _, client, _ = run_study(text, by_params, workdir)
    resume_study(
        "grow",
        storage=outcome.storage_url,
        n_trials=3,
        runner=SleepJobRunner.factory(launcher="thread", plan=by_params),
        poll_s=0.05,
        echo=lambda line: None,
    )
    study = optuna.load_study(study_name="grow", storage=outcome.storage_url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert len(child_runs(client, outcome.parent_run_id)) == 3
    other = parse_spec(text.replace("n_trials: 1", "n_trials: 2"), source="other.yaml")
    with pytest.raises(SpecError, match=r"other\.yaml: differs from the spec study 'grow'"):
        launch_study(other, storage=outcome.storage_url, worker=True, echo=lambda line: None)


def test_a_trial_whose_last_validation_is_in_is_not_pruned(workdir: Path) -> None:
    def plan(params: dict[str, str]) -> SleepPlan:
        if params["reward"] == "exact":
            return curve(3, 0.9)
        # Level with the leader until its final step, then below it, and a slow teardown
        # (like veRL's after its last validation): still running when that step lands.
        return SleepPlan({"val/acc": [0.3, 0.6, 0.0]}, step_s=0.1, tail_s=3.0)

    _, study, client, lines = run_study(spec_text("late", PRUNE), plan, workdir)
    good, late = study.trials
    assert late.params == {"reward": "linear"} and late.state == TrialState.COMPLETE
    assert late.value == 0.0 and late.intermediate_values == {0: 0.3, 1: 0.6, 2: 0.0}
    assert not any("pruned" in line for line in lines)
