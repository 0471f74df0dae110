"""One state, two records: compare a study's Optuna trials with their MLflow runs, and
repair every disagreement (``rmsweep study doctor NAME [--fix]``; ``study resume`` repairs
first).

Each finished trial's state is one of complete | pruned | failed | killed, and the two
records must say it the same way: Optuna's trial state and its ``rmsweep.state`` user attr
(with a ``rmsweep.reason`` for failed and killed trials), the run's MLflow status and its
``rmsweep.state`` tag. A RUNNING trial is in flight (its controller, or whoever adopts it,
ends it) and is not compared; a RUNNING run no trial records is an orphan.

Optuna's record wins: the run is ended as Optuna has it. Optuna refuses attrs on finished
trials through its API, so the repair writes that row itself (``_write_attr``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.study._tracking import STALE_REASON, record_trial_end, told_outcome

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient
    from optuna.trial import FrozenTrial

    from rmsweep.study._spec import Objective

ORPHAN_REASON = "orphaned: no trial of the study records this run (its controller died)"


@dataclass
class Disagreement:
    """One thing the two records say differently, and what the repair does about it."""

    trial: int | None
    run_id: str | None
    optuna: str  # what Optuna says
    mlflow: str  # what MLflow says
    problem: str
    fix: str


def expected_state(trial: FrozenTrial) -> str | None:
    """The state both records should show for a finished trial (None: in flight or waiting)."""
    from optuna.trial import TrialState

    if trial.state == TrialState.COMPLETE:
        return "complete"
    if trial.state == TrialState.PRUNED:
        return "pruned"
    if trial.state == TrialState.FAIL:
        return "killed" if trial.user_attrs.get(names.ATTR_STATE) == "killed" else "failed"
    return None


def compare(
    study: optuna.Study, mlflow: MlflowClient, *, experiment_id: str | None = None
) -> list[Disagreement]:
    """Every disagreement between the study's trials and their runs (and orphan runs of the
    study's experiment, when ``experiment_id`` is given)."""

    found: list[Disagreement] = []
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        run_id = trial.user_attrs.get(names.ATTR_RUN_ID)
        run = _run(mlflow, run_id)
        said = f"{trial.state.name}, {names.ATTR_STATE}={trial.user_attrs.get(names.ATTR_STATE)}"
        held = "no run" if run is None else f"{run.info.status}, {names.TAG_STATE}="
        held += "" if run is None else str(run.data.tags.get(names.TAG_STATE))
        for problem, fix in _problems(trial, run):
            found.append(Disagreement(trial.number, run_id, said, held, problem, fix))
    if experiment_id is not None:
        found += _orphan_runs(study, mlflow, experiment_id, trials)
    return found


def _problems(trial: FrozenTrial, run: Any) -> list[tuple[str, str]]:
    from rmsweep.tracking import MLFLOW_STATUS

    want = expected_state(trial)
    if want is None:
        return []
    attrs, problems = trial.user_attrs, []
    if attrs.get(names.ATTR_STATE) != want:
        problems.append((f"its attr says {attrs.get(names.ATTR_STATE)}, Optuna {want}", "attr set"))
    if want in ("failed", "killed") and not attrs.get(names.ATTR_REASON):
        problems.append((f"{want} without a reason", "reason attr set"))
    if run is None:
        if attrs.get(names.ATTR_RUN_ID):
            problems.append(("its run is missing from MLflow", "none (reported only)"))
        return problems
    status, tag = run.info.status, run.data.tags.get(names.TAG_STATE)
    if status != MLFLOW_STATUS[want] or tag != want:
        problems.append((f"its run shows {status}/{tag}, Optuna {want}", f"run ended {want}"))
    return problems


def repair(
    study: optuna.Study,
    storage: Any,
    mlflow: MlflowClient,
    objectives: Any,
    *,
    experiment_id: str | None = None,
) -> list[Disagreement]:
    """Repair every disagreement :func:`compare` finds (Optuna's record wins); returns them."""
    found = compare(study, mlflow, experiment_id=experiment_id)
    fixed_trials: set[int] = set()
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    for item in found:
        if item.trial is None:
            assert item.run_id is not None
            record_trial_end(mlflow, item.run_id, state="failed", reason=ORPHAN_REASON)
        elif item.trial not in fixed_trials:
            fixed_trials.add(item.trial)
            _repair_trial(by_number[item.trial], storage, mlflow, objectives)
    return found


def _repair_trial(
    trial: FrozenTrial, storage: Any, mlflow: MlflowClient, objectives: tuple[Objective, ...]
) -> None:
    state = expected_state(trial)
    assert state is not None
    reason = trial.user_attrs.get(names.ATTR_REASON)
    if state in ("failed", "killed") and not reason:
        stale = trial.user_attrs.get(names.ATTR_STATE) == "running"
        reason = STALE_REASON if stale else "failed (no reason was recorded)"
        _write_attr(storage, trial._trial_id, names.ATTR_REASON, reason)
    if trial.user_attrs.get(names.ATTR_STATE) != state:
        _write_attr(storage, trial._trial_id, names.ATTR_STATE, state)
    outcome = told_outcome(trial, objectives)
    values = outcome[1] if outcome else {}
    run_id = trial.user_attrs.get(names.ATTR_RUN_ID)
    if run_id and _run(mlflow, run_id) is not None:
        record_trial_end(mlflow, run_id, state=state, objectives=values, reason=reason)


def _orphan_runs(
    study: optuna.Study, mlflow: MlflowClient, experiment_id: str, trials: list[FrozenTrial]
) -> list[Disagreement]:
    from optuna.trial import TrialState

    known = {t.user_attrs.get(names.ATTR_RUN_ID) for t in trials}
    # A live controller creates a run before it records it on its (RUNNING) trial.
    in_flight = {str(t.number) for t in trials if t.state == TrialState.RUNNING}
    query = (
        f"tags.`{names.TAG_STUDY}` = '{study.study_name}' AND tags.`{names.TAG_KIND}` = 'trial' "
        "AND attributes.status = 'RUNNING'"
    )
    found = []
    for run in mlflow.search_runs([experiment_id], query, max_results=5000):
        number = run.data.tags.get(names.TAG_TRIAL)
        if run.info.run_id not in known and number not in in_flight:
            found.append(
                Disagreement(
                    None,
                    run.info.run_id,
                    f"trial {number} does not record it",
                    "RUNNING",
                    ORPHAN_REASON,
                    "run ended failed",
                )
            )
    return found


def _run(mlflow: MlflowClient, run_id: str | None) -> Any:
    if not run_id:
        return None
    try:
        return mlflow.get_run(run_id)
    except Exception:  # deleted, or another store: reported as missing
        return None


def _write_attr(storage: Any, trial_id: int, key: str, value: Any) -> None:
    """Set a user attr on a finished trial (Optuna's API allows it only while it runs)."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    rdb = getattr(storage, "_backend", storage)  # the RDB storage under Optuna's cache
    with _create_scoped_session(rdb.scoped_session, True) as session:
        row = (
            session.query(models.TrialUserAttributeModel)
            .filter_by(trial_id=trial_id, key=key)
            .one_or_none()
        )
        if row is None:
            session.add(
                models.TrialUserAttributeModel(
                    trial_id=trial_id, key=key, value_json=json.dumps(value)
                )
            )
        else:
            row.value_json = json.dumps(value)


def repair_on_resume(
    study: optuna.Study, storage: Any, mlflow: MlflowClient, objectives: Any, echo: Any
) -> None:
    """``study resume``'s first step: the doctor's repair, each fix echoed."""
    experiment_id = study.user_attrs.get(names.STUDY_EXPERIMENT_ID)
    for item in repair(study, storage, mlflow, objectives, experiment_id=experiment_id):
        where = f"trial {item.trial}" if item.trial is not None else f"run {item.run_id}"
        echo(f"{where}: {item.problem}; {item.fix}")


def examine(study: optuna.Study, storage: Any, objectives: Any, *, fix: bool) -> list[Disagreement]:
    """``rmsweep study doctor``: compare (or repair) the study's records, from its own attrs."""
    from rmsweep.tracking import tracking_client

    mlflow = tracking_client(study.user_attrs[names.STUDY_TRACKING_URI])
    experiment_id = study.user_attrs.get(names.STUDY_EXPERIMENT_ID)
    if fix:
        return repair(study, storage, mlflow, objectives, experiment_id=experiment_id)
    return compare(study, mlflow, experiment_id=experiment_id)


def table(found: list[Disagreement]) -> Any:
    """The disagreements as a rich table."""
    from rich.table import Table

    shown = Table("trial", "run", "Optuna", "MLflow", "disagreement", "repair")
    for item in found:
        trial = "-" if item.trial is None else str(item.trial)
        shown.add_row(trial, item.run_id or "-", item.optuna, item.mlflow, item.problem, item.fix)
    return shown
