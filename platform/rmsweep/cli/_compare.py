"""`rmsweep study compare`: the top trials, or one row per level of a swept key with intervals
and verdicts (``--by``), as a table or JSON; Optuna's plots on the parent run."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rmsweep import names
from rmsweep.cli._levels_view import importances_line, levels_view
from rmsweep.cli._options import storage_option


def compare(
    name: str = typer.Argument(..., help="The study."),
    storage: str = storage_option(),
    top: int = typer.Option(10, "--top", min=1, help="How many trials to list."),
    plots: bool = typer.Option(
        True, "--plots/--no-plots", help="Log Optuna's plots to the parent run."
    ),
    ui_url: str = typer.Option(
        None,
        "--ui-url",
        envvar="RMSWEEP_UI_URL",
        help="An MLflow UI showing the study's store (e.g. from `rmsweep ui`): print its links.",
    ),
    by: str = typer.Option(
        None,
        "--by",
        metavar="KEY",
        help="One row per level of this swept key (e.g. reward): means ± 95% intervals, the "
        "difference to the best level and a verdict.",
    ),
    as_json: bool = typer.Option(False, "--json", help="With --by: the table as JSON."),
) -> None:
    """Top trials of study NAME (or, with --by, its levels with intervals and verdicts); plots
    (importance, history, …) go to its parent MLflow run."""
    from rich.console import Console

    from rmsweep.study import open_study, stored_spec
    from rmsweep.study._report import benchmark_scores, compare_table, log_plots, print_fitted
    from rmsweep.tracking import tracking_client

    study, _, _ = open_study(name, storage)
    spec, _ = stored_spec(study)
    console = Console()
    tracking_uri = str(study.user_attrs.get(names.STUDY_TRACKING_URI, ""))
    if by is not None:
        from rmsweep.study import level_table

        table = level_table(study, tracking_client(tracking_uri), spec.objectives, by)
        if as_json:
            typer.echo(json.dumps(table.to_dict(), indent=2))
        else:
            print_fitted(console, levels_view(table))
            console.print(importances_line(study))
        return
    scores = benchmark_scores(study, tracking_client(tracking_uri), spec.objectives, top)
    print_fitted(console, compare_table(study, spec.objectives, top, scores))
    link_base = ui_url or (
        tracking_uri if tracking_uri.startswith(("http://", "https://")) else None
    )
    if link_base:
        from rmsweep.study._ui import study_links

        found = study_links(study, link_base.rstrip("/"), tracking_client(tracking_uri))
        typer.echo(f"runs:    {found.runs}")
        typer.echo(f"compare: {found.compare or '(no trial has a run yet)'}")
    parent = study.user_attrs.get(names.STUDY_PARENT_RUN)
    if plots and parent:
        written = log_plots(study, spec, tracking_client(tracking_uri), parent)
        if written:
            console.print(f"plots on MLflow run {parent}: {', '.join(written)}")
        else:
            console.print("no plots yet: no trial is complete")


def report(
    name: str = typer.Argument(..., help="The study."),
    storage: str = storage_option(),
    by: str = typer.Option(
        None, "--by", metavar="KEY", help="The swept key of the verdict table (default: the first)."
    ),
    out: Path = typer.Option(
        None, "--out", help="Where to write the page (default: <workdir>/reports/NAME.html)."
    ),
) -> None:
    """One self-contained HTML page of study NAME: verdicts, curves, style matrices, label
    shares. Also logged on its parent MLflow run as report/index.html."""
    from rmsweep.errors import ConfigError
    from rmsweep.study import level_table, open_study, report_html, stored_spec
    from rmsweep.study._base import compose_base
    from rmsweep.tracking import tracking_client

    study, _, _ = open_study(name, storage)
    spec, overrides = stored_spec(study)
    mlflow = tracking_client(str(study.user_attrs.get(names.STUDY_TRACKING_URI, "")))
    key = by or next((e.key for e in spec.space if e.kind == "categorical"), None)
    try:
        table = level_table(study, mlflow, spec.objectives, key) if key else None
    except ConfigError as err:
        if by:  # asked for by name: say why not
            raise
        table = None
        typer.echo(f"no verdict table: {err}", err=True)
    cfg = compose_base([*spec.base, *overrides])
    page = report_html(study, mlflow, spec, table, cfg.data.name)
    path = out or Path(cfg.workdir) / "reports" / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    parent = study.user_attrs.get(names.STUDY_PARENT_RUN)
    if parent:
        mlflow.log_text(parent, page, "report/index.html")
        if table is not None:  # the verdicts, readable without the page
            mlflow.log_dict(parent, table.to_dict(), "report/verdicts.json")
    typer.echo(f"report: {path.resolve()}" + (f" (and on MLflow run {parent})" if parent else ""))
