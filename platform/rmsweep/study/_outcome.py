"""What a trial's ended job yields: its objective values, or why the trial failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.errors import RmsweepError
from rmsweep.run import missing_objective
from rmsweep.study._summary import aggregate

if TYPE_CHECKING:
    from rmsweep.study._context import StudyContext
    from rmsweep.study._runner import TrialHandle


def job_outcome(
    ctx: StudyContext, handle: TrialHandle, status: str, report: Callable[[], object]
) -> tuple[dict[str, float], str | None]:
    """The objective values of a job that ended ``status`` (the last points of its curve are
    ``report``-ed first when the study prunes), or ``({}, reason)``."""
    try:
        handle.finish()
    except RmsweepError as err:
        return {}, f"closing its run failed: {err}"
    if status != names.JOB_SUCCEEDED:
        outside = "" if status == names.JOB_FAILED else " (stopped outside the controller)"
        return {}, f"its job ended {status}{outside}{_failure(ctx, handle.run_id)}"
    if ctx.spec.prunes:
        report()
    objectives, source = ctx.spec.objectives, ctx.data_source
    histories = {o.metric: handle.history(o.metric) for o in objectives}
    logged = {o.key(source) for o in objectives if histories[o.metric]}
    if reason := missing_objective(logged, list(histories), source):
        return {}, reason
    values = {o.metric: aggregate(histories[o.metric], o) for o in objectives}
    return {k: v for k, v in values.items() if v is not None}, None


def _failure(ctx: StudyContext, run_id: str) -> str:
    """``: <why>`` where the job recorded why it failed (e.g. its evaluation failed)."""
    try:
        why = ctx.mlflow.get_run(run_id).data.tags.get(names.TAG_REASON)
    except Exception:  # the reason is a courtesy; the failure is recorded either way
        return ""
    return f": {why}" if why else ""
