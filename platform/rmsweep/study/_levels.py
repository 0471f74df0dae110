"""``study compare NAME --by KEY``: one row per level of a swept key, with intervals and a verdict.

A level's runs are its complete trials, each configuration once (its seeds, when a configuration was run with several,
and the other keys' levels). Per level: the objective's mean ± interval over those runs, each
benchmark's score ± interval over its items and runs (``rmsweep.intervals``), and the
difference to the best level on the judged metric with a paired interval and a verdict. The
judged metric is the first benchmark the trials were evaluated on (its items make a paired
interval possible), else the first objective.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.errors import ConfigError
from rmsweep.intervals import (
    Difference,
    Judgments,
    judgments,
    mean_interval,
    paired_difference,
    score_interval,
    values_difference,
)

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

    from rmsweep.study._spec import Objective

BENCHES = ("rmbench", "rewardbench", "rmb")  # judged in this order of preference
BEST = "best"


@dataclass
class Level:
    """One value of the key: its trials' numbers and how it compares to the best level."""

    value: str
    trials: list[int]
    objective: tuple[float, float, float]  # mean, low, high
    scores: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    versus_best: Difference | None = None  # None on the best level itself

    @property
    def verdict(self) -> str:
        return BEST if self.versus_best is None else self.versus_best.verdict

    def to_dict(self) -> dict[str, Any]:
        interval = ("mean", "low", "high")
        return {
            "level": self.value,
            "trials": self.trials,
            "objective": dict(zip(interval, self.objective, strict=True)),
            "scores": {k: dict(zip(interval, v, strict=True)) for k, v in self.scores.items()},
            "versus_best": None if self.versus_best is None else self.versus_best.to_dict(),
            "verdict": self.verdict,
        }


@dataclass
class LevelTable:
    key: str
    objective: str
    judged: str  # the metric the verdicts are on
    levels: list[Level]
    # What was read to make it: each trial's judgments by benchmark (the report reuses them).
    judgments: dict[int, dict[str, Judgments]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.key,
            "objective": self.objective,
            "judged_on": self.judged,
            "levels": [level.to_dict() for level in self.levels],
        }


def level_table(
    study: optuna.Study, mlflow: MlflowClient, objectives: Sequence[Objective], key: str
) -> LevelTable:
    """The verdict table of ``study`` by ``key``.

    Raises:
        ConfigError: ``key`` is not a swept key, or no trial is complete.
    """
    from optuna.trial import TrialState

    # A reused trial is its source's run again: counted once.
    done = [
        t
        for t in study.trials
        if t.state == TrialState.COMPLETE and names.ATTR_REUSED_FROM not in t.user_attrs
    ]
    swept = sorted({k for t in study.trials for k in t.params})
    if key not in swept:
        raise ConfigError(
            f"--by {key}: not a swept key of study {study.study_name} "
            f"(swept: {', '.join(swept) or 'none'})"
        )
    if not done:
        raise ConfigError(f"study {study.study_name}: no trial is complete yet")
    groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in done:
        groups.setdefault(str(trial.params.get(key, "—")), []).append(trial)
    judged_runs = {t.number: trial_judgments(mlflow, t) for t in done}
    bench = next((b for b in BENCHES if all(b in judged_runs[t.number] for t in done)), None)
    objective = objectives[0]
    sign = 1.0 if objective.direction == "maximize" else -1.0
    levels = []
    for value, trials in sorted(groups.items()):
        level = Level(
            value, [t.number for t in trials], mean_interval([t.values[0] for t in trials])
        )
        for name in BENCHES:
            runs = [judged_runs[t.number][name] for t in trials if name in judged_runs[t.number]]
            if len(runs) == len(trials):
                level.scores[name] = score_interval(runs)
        levels.append(level)
    if bench is not None:
        best = max(levels, key=lambda lv: lv.scores[bench][0])
    else:
        best = max(levels, key=lambda lv: sign * lv.objective[0])
    best_trials = groups[best.value]
    for level, (_, trials) in zip(levels, sorted(groups.items()), strict=True):
        if level is best:
            continue
        if bench is not None:
            level.versus_best = paired_difference(
                [judged_runs[t.number][bench] for t in trials],
                [judged_runs[t.number][bench] for t in best_trials],
            )
        else:
            level.versus_best = values_difference(
                [t.values[0] for t in trials],
                [t.values[0] for t in best_trials],
                higher_is_better=sign > 0,
            )
    judged = (
        f"{bench} ({'avg' if bench == 'rmbench' else 'accuracy'})" if bench else objective.metric
    )
    return LevelTable(key, objective.metric, judged, levels, judged_runs)


def trial_judgments(mlflow: MlflowClient, trial: optuna.trial.FrozenTrial) -> dict[str, Judgments]:
    """The trial's run's per-item judgments, by benchmark ({} when it logged none)."""
    run_id = trial.user_attrs.get(names.ATTR_RUN_ID)
    if not run_id:
        return {}
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = mlflow.download_artifacts(run_id, names.JUDGMENTS_ARTIFACT, folder)
        except Exception:  # not evaluated: no benchmark columns for it
            return {}
        table = json.loads(Path(path).read_text())
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    return {b: judgments(rows, b) for b in sorted({str(r["bench"]) for r in rows})}
