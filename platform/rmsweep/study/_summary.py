"""A study's trials summarised: state names, counts, the best trial(s)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rmsweep.study import _optuna as O

if TYPE_CHECKING:
    import optuna

    from rmsweep.study._spec import Objective


def trial_summary(trial: Any, objectives: Sequence[Objective]) -> dict[str, Any]:
    """A finished trial as plain data (number, values by metric, params, run id)."""
    values = trial.values or []
    return {
        "number": trial.number,
        "values": {o.metric: v for o, v in zip(objectives, values, strict=False)},
        "params": dict(trial.params),
        "run_id": trial.user_attrs.get(O.ATTR_RUN_ID),
    }


def study_summary(study: optuna.Study, objectives: Sequence[Objective]) -> dict[str, Any]:
    """Counts by state and the best trial (Pareto front for several objectives)."""
    counts = state_counts(study.get_trials(deepcopy=False))
    best: list[dict[str, Any]] = []
    if len(objectives) == 1:
        with contextlib.suppress(ValueError):
            best = [trial_summary(study.best_trial, objectives)]
    else:
        best = [trial_summary(t, objectives) for t in study.best_trials]
    return {"counts": counts, "best": best}


def state_of(trial: Any) -> str:
    """complete | pruned | failed | killed | running | waiting."""
    from optuna.trial import TrialState

    if trial.state == TrialState.COMPLETE:
        return "complete"
    if trial.state == TrialState.PRUNED:
        return "pruned"
    if trial.state == TrialState.RUNNING:
        return "running"
    if trial.state == TrialState.WAITING:
        return "waiting"
    return "killed" if trial.user_attrs.get(O.ATTR_STATE) == "killed" else "failed"


def state_counts(trials: Sequence[Any]) -> dict[str, int]:
    """How many trials are in each state (every state listed, zeros included)."""
    counts = dict.fromkeys(("complete", "pruned", "failed", "killed", "running", "waiting"), 0)
    for trial in trials:
        counts[state_of(trial)] += 1
    return counts
