"""The one path a trial ends by: Optuna first (state and reason attrs, ``tell``, a re-run
queued), then its MLflow run (status, ``rmsweep.state``, reason, objective values).

A crash between the two writes leaves a told trial whose run is still RUNNING: ``study
resume`` (and ``study doctor --fix``) end it as Optuna recorded (``_doctor``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.study._storage import requeue, study_lock
from rmsweep.study._tracking import record_best_so_far, record_trial_end

if TYPE_CHECKING:
    import optuna

    from rmsweep.study._context import StudyContext


def tell_trial(
    ctx: StudyContext,
    trial: optuna.Trial,
    state: str,
    *,
    values: dict[str, float] | None = None,
    reason: str | None = None,
    run_id: str | None = None,
    retry: bool = False,
    requeue_as: str | None = None,
) -> None:
    """End a trial ``state`` (complete | pruned | failed | killed) in both records.

    ``retry`` queues a re-run that uses one of the spec's retries; ``requeue_as`` queues one,
    for that reason, that does not (Ctrl-C, a controller that died before the job started).
    """
    from optuna.trial import TrialState

    trial.set_user_attr(names.ATTR_STATE, state)
    if reason:
        trial.set_user_attr(names.ATTR_REASON, reason[:2000])
    if state == "complete":
        assert values is not None
        frozen = ctx.study.tell(trial, [values[o.metric] for o in ctx.spec.objectives])
    else:
        told = TrialState.PRUNED if state == "pruned" else TrialState.FAIL
        frozen = ctx.study.tell(trial, state=told)
    if retry:
        requeue(ctx.study, frozen, reason=reason or state)
    elif requeue_as:
        requeue(ctx.study, frozen, reason=requeue_as, same_attempt=True)
    if run_id is not None:
        record_trial_end(ctx.mlflow, run_id, state=state, objectives=values, reason=reason)


def record_best(ctx: StudyContext, echo: Callable[[str], None]) -> None:
    """The parent run's best-so-far history (a chart, not a record: failures only echo)."""
    try:
        with study_lock(ctx.storage_url, f"{ctx.name} (parent run)"):
            trials = ctx.study.get_trials(deepcopy=False)
            record_best_so_far(ctx.mlflow, ctx.parent_run_id, trials, ctx.spec.objectives)
    except Exception as err:
        echo(f"study {ctx.name}: best-so-far not recorded ({err})")
