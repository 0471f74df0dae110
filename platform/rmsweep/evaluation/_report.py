"""An evaluation's numbers as a terminal table, a JSON document and MLflow metrics.

Flat score keys (``rmbench.chat.hard``) become MLflow metrics with ``/`` for ``.``:
``eval/rmbench/chat/hard`` for the model, ``baseline/length/rmbench/chat/hard`` for a baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.evaluation._evaluate import EvalReport
from rmsweep.evaluation._rates import judgment_rows
from rmsweep.evaluation._settings import BASELINE_PREFIX

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.table import Table

# The number a benchmark is known by, first in tables and summaries.
HEADLINE = {"rewardbench": "rewardbench.score", "rmbench": "rmbench.avg", "rmb": "rmb.acc"}


def metric_name(key: str, judge: str | None = None) -> str:
    """``rmbench.chat.hard`` -> ``eval/rmbench/chat/hard`` (or ``baseline/<name>/…``)."""
    path = key.replace(".", "/")
    if judge is None:
        return names.EVAL_PREFIX + path
    return f"{names.BASELINE_METRIC_PREFIX}{judge.removeprefix(BASELINE_PREFIX)}/{path}"


def to_json(report: EvalReport) -> dict[str, Any]:
    """The report as a JSON document: the model's flat scores, the baselines', the inputs."""
    return {
        "model": report.model,
        "task": report.task,
        "scores": report.scores(),
        "baselines": {label: report.scores(label) for label in report.baselines},
        "benchmarks": {b.name: {"path": b.path, "sha256": b.digest} for b in report.benches},
        "generated": report.generated,
        "truncated": report.truncated,
        "seconds": round(report.seconds, 3),
    }


def summary_line(report: EvalReport) -> str:
    """``eval of …: rmbench.avg 0.612 (length 0.500, random 0.489); … [9.8 s]``: the headline
    numbers, the baselines beside them, and the judging time."""
    parts = []
    for bench in report.benches:
        key = HEADLINE[bench.name]
        model = bench.scores[report.model].get(key)
        beside = ", ".join(
            f"{label.removeprefix(BASELINE_PREFIX)} {_fmt(bench.scores[label].get(key))}"
            for label in report.baselines
        )
        parts.append(f"{key} {_fmt(model)} ({beside})")
    return f"eval of {report.model}: " + "; ".join(parts) + f" [{report.seconds:.1f} s]"


def tables(report: EvalReport) -> list[Table]:
    """One rich table per benchmark: each score of the model, the baselines beside it, its n."""
    from rich.table import Table

    out = []
    for bench in report.benches:
        model = bench.scores[report.model]
        headline = HEADLINE[bench.name]
        keys = sorted(
            (k for k in model if not k.endswith(".n")),
            key=lambda k: (k != headline, _is_rate(k), k),
        )
        title = f"{bench.name}: {report.model} ({bench.path})"
        table = Table(title=title, title_justify="left")
        table.add_column("metric", no_wrap=True)
        is_baseline = report.model.startswith(BASELINE_PREFIX)
        table.add_column(report.model if is_baseline else "model", justify="right")
        for label in report.baselines:
            table.add_column(label, justify="right")
        table.add_column("n", justify="right")
        for key in keys:
            row = [key, _fmt(model[key])]
            row += [_fmt(bench.scores[label].get(key)) for label in report.baselines]
            count = model.get(key + ".n", model.get(key.rsplit(".", 1)[0] + ".n"))
            row.append("" if count is None or _is_rate(key) else str(int(count)))
            table.add_row(*row, end_section=key == headline)
        out.append(table)
    return out


def log_report(
    client: MlflowClient, run_id: str, report: EvalReport, *, step: int | None = None
) -> None:
    """Log the numbers as metrics (model and baselines), the benchmark files as inputs with
    their digests, and the per-item judgments as an MLflow table artifact. The metrics sit at
    ``step``, by default the run's last training step: the step of the model they judge."""
    import json
    import time

    if step is None:
        step = final_step(client, run_id)

    from mlflow.entities import Metric

    from rmsweep import tracking

    now = int(time.time() * 1000)
    metrics = [Metric(metric_name(k), v, now, step) for k, v in report.scores().items()]
    for label in report.baselines:
        metrics += [
            Metric(metric_name(k, label), v, now, step) for k, v in report.scores(label).items()
        ]
    for start in range(0, len(metrics), 1000):  # MLflow's batch limit
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    for bench in report.benches:
        tracking.log_dataset(
            client,
            run_id,
            path=Path(bench.path),
            digest=bench.digest,
            name=f"{bench.name}-eval",
            context="eval",
        )
    client.log_table(run_id, data=judgments_frame(report), artifact_file=names.JUDGMENTS_ARTIFACT)
    client.log_text(run_id, json.dumps(to_json(report), indent=2), names.SCORES_ARTIFACT)


def final_step(client: Any, run_id: str) -> int:
    """The last training step a run logged (0 when it logged none)."""
    run = client.get_run(run_id)
    steps = [m.step for m in client.get_metric_history(run_id, "training/global_step")]
    return max(steps, default=int(run.data.metrics.get("training/global_step", 0)))


def judgments_frame(report: EvalReport) -> Any:
    """Every comparison the model judged, one row each (filterable in MLflow's UI)."""
    import pandas as pd

    rows = []
    for bench in report.benches:
        rows += judgment_rows(bench.comparisons, bench.outcomes[report.model])
    return pd.DataFrame(rows)


def _is_rate(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in ("tie_rate", "unparsed_rate", "consistency")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
