"""``rmsweep study report NAME``: one self-contained HTML page to look at a study.

The verdict table by a swept key (``_levels``), then plotly figures, all from the study's
records (Optuna and MLflow): learning curves per level with a band over its trials; a forest
plot of each level's difference to the best with its interval; each trial's RM-Bench 3×3
style matrix (from its judgments) with the length baseline's easy / normal / hard beside it;
easy against hard accuracy per trial (the length-bias view); the validation answers' label
shares (``val/pred_*``), where a policy that collapsed onto one label shows. plotly.js is
embedded once: the file opens without a server or a network.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.intervals import Judgments
from rmsweep.study._levels import LevelTable, trial_judgments

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

    from rmsweep.study._spec import StudySpec

LENGTH = "baseline/length/rmbench/"
LEVEL_NAMES = ("easy", "normal", "hard")


def report_html(
    study: optuna.Study,
    mlflow: MlflowClient,
    spec: StudySpec,
    table: LevelTable | None,
    data_source: str,
) -> str:
    """The page, as HTML text."""
    from optuna.trial import TrialState

    trials = [t for t in study.trials if t.state == TrialState.COMPLETE]
    runs = {t.number: mlflow.get_run(t.user_attrs[names.ATTR_RUN_ID]) for t in trials}
    objective = spec.objectives[0]
    figures = [
        _curves(mlflow, trials, runs, objective.key(data_source), objective.metric, table),
        _forest(table) if table is not None else None,
        _matrices(mlflow, trials, runs, table.judgments if table is not None else {}),
        _easy_hard(trials, runs),
        _label_shares(trials, runs),
    ]
    parts = [
        f"<h1>Study {html.escape(study.study_name)}</h1>",
        f"<p>{len(trials)} complete of {len(study.trials)} trials; objective "
        f"{html.escape(objective.metric)} ({objective.direction}).</p>",
        _table_html(table) if table is not None else "<p>No level table: no swept key.</p>",
    ]
    first = True
    for figure in figures:
        if figure is None:
            continue
        parts.append(figure.to_html(full_html=False, include_plotlyjs=first))
        first = False
    body = "\n".join(parts)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>rmsweep study {html.escape(study.study_name)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>"
        f"</head><body>{body}</body></html>"
    )


def _table_html(table: LevelTable) -> str:
    benches = sorted({b for level in table.levels for b in level.scores})
    head = [table.key, "trials", table.objective, *benches, "vs best", "verdict"]
    rows = []
    for level in table.levels:
        diff = level.versus_best
        cells = [
            level.value,
            str(len(level.trials)),
            _interval(*level.objective),
            *[_interval(*level.scores[b]) if b in level.scores else "—" for b in benches],
            "—" if diff is None else _interval(diff.estimate, diff.low, diff.high),
            level.verdict,
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (
        f"<h2 id='verdicts'>By {html.escape(table.key)}: verdicts on "
        f"{html.escape(table.judged)}</h2><table id='verdict-table'><tr>{header}</tr>"
        + "".join(rows)
        + "</table><p>Means with 95% intervals; the difference to the best level is a paired "
        "bootstrap over benchmark items and the level's trials.</p>"
    )


def _interval(mean: float, low: float, high: float) -> str:
    return f"{mean:.3f}" if low == high else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _curves(
    mlflow: MlflowClient,
    trials: Sequence[optuna.trial.FrozenTrial],
    runs: dict[int, Any],
    key: str,
    label: str,
    table: LevelTable | None,
) -> Any:
    """The objective's curve per level: the mean over its trials, a band from min to max."""
    import numpy as np
    import plotly.graph_objects as go

    if table is not None:
        groups = {lv.value: lv.trials for lv in table.levels}
    else:
        groups = {"all": [t.number for t in trials]}
    figure = go.Figure()
    for value, numbers in groups.items():
        curves = [
            dict(
                sorted(
                    (p.step, p.value) for p in mlflow.get_metric_history(runs[n].info.run_id, key)
                )
            )
            for n in numbers
            if n in runs
        ]
        steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
        if not steps:
            continue
        values = np.array([[c[s] for s in steps] for c in curves])
        low, high = values.min(0), values.max(0)
        figure.add_trace(
            go.Scatter(
                x=steps + steps[::-1],
                y=[*high, *low[::-1]],
                fill="toself",
                opacity=0.2,
                line={"width": 0},
                showlegend=False,
                name=value,
            )
        )
        figure.add_trace(go.Scatter(x=steps, y=values.mean(0), mode="lines+markers", name=value))
    figure.update_layout(
        title=f"{label} by step (mean over each level's trials, band: min–max)",
        xaxis_title="step",
        yaxis_title=label,
    )
    return figure


def _forest(table: LevelTable) -> Any:
    import plotly.graph_objects as go

    shown = [lv for lv in table.levels if lv.versus_best is not None]
    if not shown:
        return None
    diffs = [lv.versus_best for lv in shown]
    figure = go.Figure(
        go.Scatter(
            x=[d.estimate for d in diffs if d],
            y=[lv.value for lv in shown],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [d.high - d.estimate for d in diffs if d],
                "arrayminus": [d.estimate - d.low for d in diffs if d],
            },
            mode="markers",
            name="difference to the best level",
        )
    )
    figure.add_vline(x=0, line_dash="dash")
    figure.update_layout(title=f"difference to the best {table.key} on {table.judged} (95%)")
    return figure


def _matrices(
    mlflow: MlflowClient,
    trials: Sequence[Any],
    runs: dict[int, Any],
    read: dict[int, dict[str, Judgments]],
) -> Any:
    """Each trial's RM-Bench 3×3 accuracy (chosen style × rejected style), domains pooled;
    judgments the level table ``read`` already are not downloaded again."""
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    matrices = {}
    for trial in trials:
        found = read.get(trial.number)
        judged = (found if found is not None else trial_judgments(mlflow, trial)).get("rmbench")
        if judged is None:
            continue
        correct, count = judged.correct.sum(0), judged.count.sum(0)
        cells: dict[str, list[float]] = {}
        for group, right, n in zip(judged.groups, correct, count, strict=True):
            cells.setdefault(group.split("|")[1], []).append(right / n)
        matrix = np.array([[np.mean(cells[f"{i},{j}"]) for j in range(3)] for i in range(3)])
        metrics = runs[trial.number].data.metrics
        length = ", ".join(
            f"{lv} {metrics.get(LENGTH + lv, float('nan')):.2f}" for lv in LEVEL_NAMES
        )
        matrices[f"trial {trial.number} (length baseline: {length})"] = matrix
    if not matrices:
        return None
    figure = make_subplots(rows=1, cols=len(matrices), subplot_titles=list(matrices))
    styles = ["concise", "detailed", "markdown"]
    for col, matrix in enumerate(matrices.values(), start=1):
        figure.add_trace(
            go.Heatmap(z=matrix, x=styles, y=styles, zmin=0, zmax=1, coloraxis="coloraxis"),
            row=1,
            col=col,
        )
    figure.update_layout(
        title="RM-Bench accuracy: chosen style (rows) × rejected style",
        coloraxis={"colorscale": "Viridis"},
    )
    return figure


def _easy_hard(trials: Sequence[Any], runs: dict[int, Any]) -> Any:
    import plotly.graph_objects as go

    points = [(t.number, runs[t.number].data.metrics) for t in trials]
    points = [(n, m) for n, m in points if "eval/rmbench/easy" in m and "eval/rmbench/hard" in m]
    if not points:
        return None
    figure = go.Figure(
        go.Scatter(
            x=[m["eval/rmbench/easy"] for _, m in points],
            y=[m["eval/rmbench/hard"] for _, m in points],
            text=[f"trial {n}" for n, _ in points],
            mode="markers+text",
            name="trials",
        )
    )
    base = [m for _, m in points if LENGTH + "easy" in m]
    if base:
        figure.add_trace(
            go.Scatter(
                x=[base[0][LENGTH + "easy"]],
                y=[base[0][LENGTH + "hard"]],
                mode="markers",
                name="length baseline",
            )
        )
    figure.update_layout(
        title="RM-Bench easy vs hard (a length-biased model is easy-high, hard-low)",
        xaxis_title="easy",
        yaxis_title="hard",
    )
    return figure


def _label_shares(trials: Sequence[Any], runs: dict[int, Any]) -> Any:
    import plotly.graph_objects as go

    labels = sorted(
        {
            k
            for t in trials
            for k in runs[t.number].data.metrics
            if k.startswith(names.PRED_PREFIX) and k != names.PRED_ENTROPY
        }
    )
    if not labels:
        return None
    figure = go.Figure()
    for trial in trials:
        metrics = runs[trial.number].data.metrics
        figure.add_trace(
            go.Bar(
                x=[k.removeprefix(names.PRED_PREFIX) for k in labels],
                y=[metrics.get(k, 0.0) for k in labels],
                name=f"trial {trial.number}",
            )
        )
    figure.update_layout(
        title="validation answers by label (last validation): one tall bar is a collapsed policy",
        barmode="group",
    )
    return figure
