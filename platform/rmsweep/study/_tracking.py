"""MLflow records of a study: one experiment, one parent run, one child run per trial.

Everything goes through an explicit ``MlflowClient`` and run id (trials run in parallel).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.study._storage import hide_password

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from optuna.trial import FrozenTrial

    from rmsweep.study._spec import Objective, StudySpec

STALE_REASON = "stale: its controller stopped sending heartbeats"
END_ATTEMPTS = 3  # record_trial_end tries this often before it gives up


def run_url(mlflow: MlflowClient, run_id: str) -> str:
    """The run's page in the MLflow UI that shows this tracking store (``rmsweep.links``)."""
    from rmsweep import links

    experiment_id = mlflow.get_run(run_id).info.experiment_id
    return links.run_url(links.ui_base(str(mlflow.tracking_uri)), experiment_id, run_id)


def create_parent_run(
    mlflow: MlflowClient,
    experiment_id: str,
    spec: StudySpec,
    *,
    study_name: str,
    overrides: Sequence[str],
    storage_url: str,
) -> str:
    """The study's parent run: the spec as an artifact, its settings as params."""
    run = mlflow.create_run(
        experiment_id,
        run_name=study_name,
        tags={
            names.TAG_STUDY: study_name,
            names.TAG_KIND: "study",
            names.TAG_STATE: "running",
            names.TAG_OPTUNA_STORAGE: hide_password(storage_url),
            "mlflow.note.content": spec.description or f"Optuna study {study_name}",
        },
    )
    run_id = run.info.run_id
    params = {
        "study.name": study_name,
        "study.n_trials": str(spec.n_trials),
        "study.sampler": spec.sampler.name,
        "study.pruner": spec.pruner.name,
        "study.retries": str(spec.retries),
        "study.seed": str(spec.seed),
        "study.objectives": ", ".join(
            f"{o.metric} ({o.direction}, {o.aggregate})" for o in spec.objectives
        ),
        "study.base": " ".join([*spec.base, *overrides])[:6000],
    }
    from mlflow.entities import Param

    mlflow.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    mlflow.log_text(run_id, spec.text, "spec.yaml")
    if overrides:
        mlflow.log_text(run_id, "\n".join(overrides) + "\n", "overrides.txt")
    return run_id


def record_trial_start(
    mlflow: MlflowClient,
    run_id: str,
    *,
    group_choices: Mapping[str, Any],
) -> None:
    """Group choices (``template=…``) as params named like the Optuna params (those the run
    does not hold yet: a veRL trial's record already leads with its swept keys)."""
    from mlflow.entities import Param

    held = mlflow.get_run(run_id).data.params if group_choices else {}
    missing = [Param(k, str(v)) for k, v in group_choices.items() if k not in held]
    if missing:
        mlflow.log_batch(run_id, params=missing)


def record_trial_end(
    mlflow: MlflowClient,
    run_id: str,
    *,
    state: str,
    objectives: Mapping[str, float] | None = None,
    reason: str | None = None,
) -> None:
    """End a trial's run with the outcome Optuna was told: objective values, the reason, the
    state tag and the run's status (complete: FINISHED; failed: FAILED; killed, pruned:
    KILLED; ``tracking.finish_run``). The study controller is the only caller that ends a
    trial's run, after ``tell``."""
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import OperationalError

    from rmsweep.tracking import finish_run

    now = int(time.time() * 1000)
    metrics = [
        Metric(names.OBJECTIVE_PREFIX + k, float(v), now, 0) for k, v in (objectives or {}).items()
    ]
    steps: list[Callable[[], object]] = []
    if metrics:
        steps.append(lambda: mlflow.log_batch(run_id, metrics=metrics))
    if reason:
        steps.append(lambda: mlflow.set_tag(run_id, names.TAG_REASON, reason[:4000]))
    steps.append(lambda: finish_run(mlflow, run_id, state))
    for step in steps:  # each once: a retried step does not log its values twice
        for attempt in range(END_ATTEMPTS):
            try:
                step()
                break
            except (MlflowException, OperationalError):
                # Optuna has been told already: a store busy for a moment (a sqlite file a
                # job being killed still writes to) must not leave the run RUNNING.
                if attempt == END_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))


def told_outcome(
    trial: FrozenTrial, objectives: Sequence[Objective]
) -> tuple[str, dict[str, float], str | None] | None:
    """What Optuna recorded about a finished trial: its run's end state, objective values and
    reason, as ``record_trial_end`` takes them; None while the trial runs or waits."""
    from optuna.trial import TrialState

    reason = trial.user_attrs.get(names.ATTR_REASON)
    if trial.state == TrialState.COMPLETE:
        values = dict(zip((o.metric for o in objectives), trial.values or (), strict=False))
        return "complete", values, None
    if trial.state == TrialState.PRUNED:
        return "pruned", {}, reason
    if trial.state == TrialState.FAIL:
        if trial.user_attrs.get(names.ATTR_STATE) == "killed":
            return "killed", {}, reason
        if trial.user_attrs.get(names.ATTR_STATE) == "running":  # failed by the heartbeat
            return "failed", {}, STALE_REASON
        return "failed", {}, reason
    return None


def end_unended_run(
    mlflow: MlflowClient, trial: FrozenTrial, objectives: Sequence[Objective]
) -> str | None:
    """End the run of a finished trial that MLflow still shows RUNNING, as Optuna recorded it.

    Optuna is told first and the run ended second, so a controller that died between the two
    (or a worker that went silent) leaves such a run; the workers reconcile it here
    (``study resume`` and ``study doctor --fix`` repair every disagreement: ``_doctor``). Returns the state the run was ended with, or None when there was
    nothing to end.
    """
    run_id = trial.user_attrs.get(names.ATTR_RUN_ID)
    outcome = told_outcome(trial, objectives)
    if not run_id or outcome is None:
        return None
    if mlflow.get_run(run_id).info.status != "RUNNING":
        return None
    state, values, reason = outcome
    record_trial_end(mlflow, run_id, state=state, objectives=values, reason=reason)
    return state


def end_stale_runs(
    mlflow: MlflowClient,
    study: Any,
    objectives: Sequence[Objective],
    echo: Callable[[str], None],
) -> None:
    """End the runs of trials another worker abandoned (failed as stale by the heartbeat)."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if trial.user_attrs.get(names.ATTR_STATE) != "running":
            continue
        try:
            ended = end_unended_run(mlflow, trial, objectives)
        except Exception as err:  # another worker may be doing the same
            echo(f"trial {trial.number}: could not close its stale run ({err})")
            continue
        if ended:
            echo(f"trial {trial.number} failed: {STALE_REASON}")


def set_parent_state(mlflow: MlflowClient, run_id: str, state: str) -> None:
    """Mark the parent run running (resume), complete or killed."""
    from rmsweep.tracking import finish_run

    if state == "running":
        mlflow.set_tag(run_id, names.TAG_STATE, state)
        mlflow.update_run(run_id, status="RUNNING")
    else:
        finish_run(mlflow, run_id, state)


def best_so_far(
    trials: Sequence[Any], objectives: Sequence[Objective]
) -> dict[str, list[tuple[int, float]]]:
    """Each objective's optimisation history: ``(trial number, best value among the complete
    trials numbered up to it)``, one point per complete trial, by number."""
    from optuna.trial import TrialState

    complete = sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and t.values),
        key=lambda t: t.number,
    )
    history: dict[str, list[tuple[int, float]]] = {}
    for index, objective in enumerate(objectives):
        pick = max if objective.direction == "maximize" else min
        points: list[tuple[int, float]] = []
        for trial in complete:
            value = float(trial.values[index])
            points.append((trial.number, pick(points[-1][1], value) if points else value))
        history[objective.metric] = points
    return history


def record_best_so_far(
    mlflow: MlflowClient, run_id: str, trials: Sequence[Any], objectives: Sequence[Objective]
) -> None:
    """The parent run's ``best/<metric>``, stepped by trial number (its chart is the study's
    optimisation history); only points not logged yet are added."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for metric, points in best_so_far(trials, objectives).items():
        key = names.BEST_PREFIX + metric
        logged = {(m.step, m.value) for m in mlflow.get_metric_history(run_id, key)}
        metrics += [Metric(key, v, now, n) for n, v in points if (n, v) not in logged]
    if metrics:
        mlflow.log_batch(run_id, metrics=metrics)


def record_summary(mlflow: MlflowClient, run_id: str, summary: Mapping[str, Any]) -> None:
    """Counts, the best trial(s) and their runs on the parent run (``summary.json`` too);
    the best values themselves are ``record_best_so_far``'s history."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(f"trials/{k}", float(v), now, 0) for k, v in summary["counts"].items()]
    best = summary.get("best") or []
    if len(best) == 1:
        mlflow.set_tag(run_id, names.TAG_BEST_TRIAL, str(best[0]["number"]))
        if best[0].get("run_id"):
            mlflow.set_tag(run_id, names.TAG_BEST_RUN, best[0]["run_id"])
    mlflow.log_batch(run_id, metrics=metrics)
    mlflow.log_text(run_id, json.dumps(summary, indent=2, default=str) + "\n", "summary.json")
