"""A study's trials summarised: state names, counts, the best trial(s)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rmsweep import names

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
        "run_id": trial.user_attrs.get(names.ATTR_RUN_ID),
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
    return "killed" if trial.user_attrs.get(names.ATTR_STATE) == "killed" else "failed"


def state_counts(trials: Sequence[Any]) -> dict[str, int]:
    """How many trials are in each state (every state listed, zeros included)."""
    counts = dict.fromkeys(("complete", "pruned", "failed", "killed", "running", "waiting"), 0)
    for trial in trials:
        counts[state_of(trial)] += 1
    return counts


def aggregate(history: Sequence[tuple[int, float]], objective: Objective) -> float | None:
    """The value of a metric curve that counts: the last step's, or the best step's."""
    if not history:
        return None
    if objective.aggregate == "last":
        return float(max(history, key=lambda sv: sv[0])[1])
    values = [v for _, v in history]
    return float(max(values) if objective.direction == "maximize" else min(values))


def best_line(study: optuna.Study, objectives: Sequence[Objective]) -> str:
    """`` (best: trial 3, 0.8125)`` for one objective once a trial is complete, else ``""``."""
    if len(objectives) != 1:
        return ""
    try:
        best = study.best_trial
    except ValueError:
        return ""
    return f" (best: trial {best.number}, {best.values[0]:.4g})"
