"""Tables and plots of a study: status, top-k comparison, best trial, Optuna's plots.

Tables are ``rich`` renderables built from the Optuna storage alone (the run ids in them
lead to MLflow); plots go to the parent run as HTML (plotly) and PNG (matplotlib).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.study._summary import state_counts, state_of

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient
    from rich.console import Console
    from rich.table import Table

    from rmsweep.study._spec import Objective, StudySpec

_STATE_STYLE = {
    "complete": "green",
    "pruned": "yellow",
    "failed": "red",
    "killed": "magenta",
    "running": "cyan",
    "waiting": "dim",
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _duration(trial: Any) -> str:
    if trial.datetime_start is None:
        return ""
    end = trial.datetime_complete
    seconds = (end.timestamp() if end else time.time()) - trial.datetime_start.timestamp()
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def param_names(study: optuna.Study) -> list[str]:
    """Every param any trial used, in first-seen order."""
    seen: dict[str, None] = {}
    for trial in study.get_trials(deepcopy=False):
        for key in trial.params:
            seen.setdefault(key)
    return list(seen)


def status_table(study: optuna.Study, objectives: Sequence[Objective]) -> Table:
    """Every trial: state, step/total, objective value (a running trial's latest), params,
    elapsed time, MLflow run; the best so far in the caption."""
    from rich.table import Table

    trials = study.get_trials(deepcopy=False)
    counts = state_counts(trials)
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    table = Table(title=f"study {study.study_name}: {shown or 'no trials yet'}")
    table.add_column("#", justify="right")
    table.add_column("state")
    table.add_column("step", justify="right")
    for objective in objectives:
        table.add_column(objective.metric, justify="right")
    params = param_names(study)
    for key in params:
        table.add_column(key, no_wrap=True)
    table.add_column("time", justify="right")
    table.add_column("run", no_wrap=True)
    best = {t.number for t in _best(study, objectives)}
    for trial in trials:
        state = state_of(trial)
        values = list(trial.values or [])
        if state in ("pruned", "running") and not values and trial.intermediate_values:
            values = [trial.intermediate_values[max(trial.intermediate_values)]]
        row = [
            ("*" if trial.number in best else "") + str(trial.number),
            f"[{_STATE_STYLE[state]}]{state}[/]",
            _step(trial, state),
            *[_fmt(values[i]) if i < len(values) else "" for i in range(len(objectives))],
            *[_fmt(trial.params.get(key)) for key in params],
            _duration(trial),
            str(trial.user_attrs.get(names.ATTR_RUN_ID, ""))[:12],
        ]
        table.add_row(*row)
    table.caption = best_caption(study, objectives)
    return table


def _step(trial: Any, state: str) -> str:
    """``last reported step/last validation step`` (``3/5``), as far as they are known."""
    final = trial.user_attrs.get(names.ATTR_FINAL_STEP)
    reached = max(trial.intermediate_values) if trial.intermediate_values else None
    if state == "complete" and final is not None:
        reached = final
    if reached is None and final is None:
        return ""
    return f"{'-' if reached is None else reached}/{'?' if final is None else final}"


def print_fitted(console: Console, table: Table) -> None:
    """Print ``table`` without cutting a cell short: off a terminal at its natural width
    (no 80-column default), on a terminal at least as wide as its no-wrap columns (run
    ids, params such as template names) need."""
    measured = console.measure(table, options=console.options.update_width(100_000))
    width = max(console.width, measured.minimum) if console.is_terminal else measured.maximum
    previous, console.width = console.width, width
    try:
        console.print(table)
    finally:
        console.width = previous


def best_caption(study: optuna.Study, objectives: Sequence[Objective]) -> str:
    """``best so far: trial 3, val/acc=0.71`` (or the Pareto front's size)."""
    best = _best(study, objectives)
    if not best:
        return "best so far: none complete"
    if len(objectives) > 1:
        return f"Pareto front: trials {', '.join(str(t.number) for t in best)}"
    trial = best[0]
    return f"best so far: trial {trial.number}, {objectives[0].metric}={_fmt(trial.values[0])}"


def _best(study: optuna.Study, objectives: Sequence[Objective]) -> list[Any]:
    try:
        if len(objectives) == 1:
            return [study.best_trial]
        return list(study.best_trials)
    except ValueError:
        return []


def ranked(study: optuna.Study, objectives: Sequence[Objective]) -> list[Any]:
    """Complete trials, best first (by the first objective; Pareto-front trials first)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1.0 if objectives[0].direction == "maximize" else 1.0
    front = {t.number for t in _best(study, objectives)} if len(objectives) > 1 else set()
    return sorted(
        complete,
        key=lambda t: (t.number not in front, sign * t.values[0], t.number),
    )


def compare_table(
    study: optuna.Study,
    objectives: Sequence[Objective],
    top: int,
    scores: Mapping[int, Mapping[str, float]] | None = None,
) -> Table:
    """The ``top`` complete trials, best first; ``scores`` adds benchmark columns by trial
    number (``benchmark_scores``: the model's headline scores and the length baseline's)."""
    from rich.table import Table

    rows = ranked(study, objectives)[:top]
    scores = scores or {}
    extra = sorted({key for row in scores.values() for key in row}, key=_baseline_last)
    table = Table(title=f"study {study.study_name}: top {len(rows)} of {len(study.trials)} trials")
    table.add_column("rank", justify="right")
    table.add_column("#", justify="right")
    for objective in objectives:
        table.add_column(f"{objective.metric} ({objective.direction[:3]})", justify="right")
    for key in extra:
        table.add_column(key, justify="right", no_wrap=True)
    params = param_names(study)
    for key in params:
        table.add_column(key, no_wrap=True)
    table.add_column("run", no_wrap=True)
    for rank, trial in enumerate(rows, 1):
        table.add_row(
            str(rank),
            str(trial.number),
            *[_fmt(v) for v in trial.values],
            *[_fmt(scores.get(trial.number, {}).get(key)) for key in extra],
            *[_fmt(trial.params.get(key)) for key in params],
            str(trial.user_attrs.get(names.ATTR_RUN_ID, "")),
        )
    return table


def benchmark_scores(
    study: optuna.Study, mlflow: MlflowClient, objectives: Sequence[Objective], top: int
) -> dict[int, dict[str, float]]:
    """Each listed trial's headline benchmark scores, the length baseline's beside them."""
    from rmsweep.evaluation._report import HEADLINE, metric_name

    found: dict[int, dict[str, float]] = {}
    for trial in ranked(study, objectives)[:top]:
        run_id = trial.user_attrs.get(names.ATTR_RUN_ID)
        if not run_id:
            continue
        try:
            metrics = mlflow.get_run(run_id).data.metrics
        except Exception:  # a missing run leaves its cells empty; the table still prints
            continue
        shown = {o.metric for o in objectives}  # an objective has its own column already
        for key in HEADLINE.values():
            model = metric_name(key)
            for label, judge in ((model, None), (model + _LENGTH, "baseline:length")):
                value = metrics.get(metric_name(key, judge))
                if value is not None and label not in shown:
                    found.setdefault(trial.number, {})[label] = value
    return found


_LENGTH = " (length baseline)"


def _baseline_last(key: str) -> tuple[str, bool]:
    return (key.removesuffix(_LENGTH), key.endswith(_LENGTH))


def best_trials(study: optuna.Study, objectives: Sequence[Objective]) -> list[Any]:
    """The best trial, or the Pareto front of a multi-objective study; with replicates, the
    best seed of the configuration whose seeds' mean is best (not the luckiest single seed)."""
    from rmsweep.study._replicates import best_configuration

    if len(objectives) == 1:
        found = best_configuration(study, objectives[0].direction == "maximize")
        if found is not None:
            return found[0][:1]
    return _best(study, objectives)


def log_plots(
    study: optuna.Study,
    spec: StudySpec,
    mlflow: MlflowClient,
    parent_run_id: str,
) -> list[str]:
    """Param importance, optimisation history, parallel coordinates and intermediate values
    on the parent run: one page ``plots/study.html`` (interactive, works offline) and a PNG
    per plot.

    Returns:
        The artifact paths written (a plot that needs more trials than there are is skipped).
    """
    import warnings

    import optuna

    objectives = spec.objectives
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    written: list[str] = []
    sections: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for stem, function, kwargs in _plots(study, objectives, len(complete)):
            try:
                figure = _plotly(function, study, kwargs)
                png = Path(tmp) / f"{stem}.png"
                _matplotlib(function, study, kwargs, png)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue  # e.g. importance when every trial has the same params
            # plotly.js goes in once, with the first figure: the page works offline.
            sections.append(figure.to_html(full_html=False, include_plotlyjs=not sections))
            mlflow.log_artifact(parent_run_id, str(png), "plots")
            written.append(f"plots/{png.name}")
        if sections:
            page = Path(tmp) / "study.html"
            title = f"study {study.study_name}"
            page.write_text(
                f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                f"<body><h1>{title}</h1>{''.join(sections)}</body></html>\n"
            )
            mlflow.log_artifact(parent_run_id, str(page), "plots")
            written.insert(0, "plots/study.html")
    return written


def _plots(
    study: optuna.Study, objectives: Sequence[Objective], n_complete: int
) -> list[tuple[str, str, dict[str, Any]]]:
    """(file stem, ``optuna.visualization`` function, its kwargs) for each plot that fits."""
    plots: list[tuple[str, str, dict[str, Any]]] = []
    multi = len(objectives) > 1
    for index, objective in enumerate(objectives):
        suffix = f"_{_slug(objective.metric)}" if multi else ""
        kwargs: dict[str, Any] = {
            "target": _Target(index) if multi else None,
            "target_name": objective.metric,
        }
        plots.append((f"history{suffix}", "plot_optimization_history", kwargs))
        plots.append((f"parallel_coordinate{suffix}", "plot_parallel_coordinate", kwargs))
        if n_complete >= 2:
            plots.append((f"param_importances{suffix}", "plot_param_importances", kwargs))
    if not multi and any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        plots.append(("intermediate_values", "plot_intermediate_values", {}))
    if multi:
        names = [o.metric for o in objectives]
        plots.append(("pareto_front", "plot_pareto_front", {"target_names": names}))
    return plots


class _Target:
    """The ``index``-th objective value of a trial (a plot's target in a multi-objective study)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, trial: Any) -> float:
        return float(trial.values[self.index])


def _plotly(function: str, study: optuna.Study, kwargs: dict[str, Any]) -> Any:
    import optuna.visualization as plotly_plots

    return getattr(plotly_plots, function)(study, **kwargs)


def _matplotlib(function: str, study: optuna.Study, kwargs: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as mpl_plots

    axes = getattr(mpl_plots, function)(study, **kwargs)
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    figure = first.get_figure()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")
