"""Adopt, don't abandon: take over the trials of a controller that died.

Optuna cannot re-open a FAIL trial, so adoption happens before Optuna would fail it: a
trial stays RUNNING, and the adopting controller takes over its heartbeat (and writes its own
token on it) under the study lock, then drives it as if it had started it: poll, report,
prune, tell. A trial is an orphan when its controller's token names a dead process of this
host (found at once) or when its heartbeat went stale (any host, after the grace period).

What the orphan's job is then decides its end (``Controller._adopt``): still running →
driven on; ended → its outcome read from MLflow and told; unreachable → the trial fails
with the reason and its run ends FAILED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.errors import RmsweepError
from rmsweep.study._owner import is_dead, my_token
from rmsweep.study._space import to_overrides
from rmsweep.study._storage import study_lock

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from rmsweep.study._context import StudyContext
    from rmsweep.study._runner import TrialHandle, TrialRunner

NEVER_STARTED = "its controller died before its job started"


@dataclass
class Orphan:
    """A RUNNING trial this controller now drives, and what it knows of its job."""

    trial: optuna.Trial
    frozen: FrozenTrial
    previous: str  # the dead controller's token (or "unknown")
    run_id: str | None
    job_id: str | None
    overrides: list[str]

    @property
    def last_reported(self) -> int:
        return max(self.frozen.intermediate_values, default=-1)


def take_orphans(ctx: StudyContext, beat: Callable[[int], None]) -> list[Orphan]:
    """Under the study lock, take over every orphan: ``beat`` its heartbeat first (so no one
    fails it as stale meanwhile), then :func:`take_over`."""
    with study_lock(ctx.storage_url, ctx.name):
        orphans = []
        for frozen in find_orphans(ctx):
            beat(frozen._trial_id)
            orphans.append(take_over(ctx, frozen))
        return orphans


def find_orphans(ctx: StudyContext) -> list[FrozenTrial]:
    """RUNNING trials whose controller is dead (this host) or silent past the grace period."""
    from optuna.trial import TrialState

    running = ctx.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    study_id = ctx.storage.get_study_id_from_name(ctx.study.study_name)
    stale = set(ctx.storage._get_stale_trial_ids(study_id))
    mine = my_token()
    orphans = []
    for trial in running:
        owner = trial.user_attrs.get(names.ATTR_CONTROLLER)
        if owner != mine and (is_dead(owner) or trial._trial_id in stale):
            orphans.append(trial)
    return orphans


def take_over(ctx: StudyContext, frozen: FrozenTrial) -> Orphan:
    """Write this controller's token on the trial; find its run and job (call it under the
    study lock, after the trial's heartbeat was taken over)."""
    import optuna

    trial = optuna.Trial(ctx.study, frozen._trial_id)
    previous = str(frozen.user_attrs.get(names.ATTR_CONTROLLER, "unknown"))
    trial.set_user_attr(names.ATTR_CONTROLLER, my_token())
    trial.set_user_attr(names.ATTR_ADOPTED_FROM, previous)
    run_id = frozen.user_attrs.get(names.ATTR_RUN_ID)
    job_id = frozen.user_attrs.get(names.ATTR_JOB_ID)
    if run_id is None:  # it died between creating the run and recording it
        run_id, job_id = _run_by_tags(ctx, frozen.number)
        if run_id is not None:
            trial.set_user_attr(names.ATTR_RUN_ID, run_id)
    overrides = frozen.user_attrs.get(names.ATTR_OVERRIDES)
    if overrides is None:
        overrides = frozen.user_attrs.get(names.ATTR_OVERRIDES) or to_overrides(
            ctx.spec.space, frozen.params
        )  # as recorded when it started: a replicate's seed too
    return Orphan(trial, frozen, previous, run_id, job_id, list(overrides))


def attach_job(runner: TrialRunner, orphan: Orphan) -> tuple[TrialHandle | None, str]:
    """A handle on the orphan's job and the job's status, or None and why it is lost."""
    assert orphan.run_id is not None
    try:
        handle = runner.attach(orphan.overrides, run_id=orphan.run_id, job_id=orphan.job_id)
        return handle, handle.poll()
    except RmsweepError as err:
        return None, f"lost when its controller died: {err}"


def end_told_runs(ctx: StudyContext, checked: set[int], echo: Callable[[str], None]) -> None:
    """End the open runs of trials a dead controller told (it died between Optuna's ``tell``
    and the run's end), as Optuna has them. ``checked``: trials already seen to, skipped."""
    from rmsweep.study._tracking import end_unended_run

    mine = my_token()
    for trial in ctx.study.get_trials(deepcopy=False):
        owner = trial.user_attrs.get(names.ATTR_CONTROLLER)
        if trial.number in checked or not trial.state.is_finished() or owner == mine:
            continue
        if not is_dead(owner):
            continue  # a live controller ends its own trials' runs
        checked.add(trial.number)
        try:
            ended = end_unended_run(ctx.mlflow, trial, ctx.spec.objectives)
        except Exception as err:  # another worker may be doing the same
            echo(f"trial {trial.number}: could not end its open run ({err})")
            continue
        if ended:
            echo(f"trial {trial.number}: its run was still open; ended {ended}, as Optuna has it")


def _run_by_tags(ctx: StudyContext, number: int) -> tuple[str | None, str | None]:
    experiment = ctx.mlflow.get_run(ctx.parent_run_id).info.experiment_id
    query = (
        f"tags.`{names.TAG_STUDY}` = '{ctx.name}' AND tags.`{names.TAG_TRIAL}` = '{number}' "
        f"AND tags.`{names.TAG_PARENT}` = '{ctx.parent_run_id}'"
    )
    runs = ctx.mlflow.search_runs([experiment], query, max_results=1)
    if not runs:
        return None, None
    return runs[0].info.run_id, runs[0].data.tags.get(names.TAG_JOB_ID)
