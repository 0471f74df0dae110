"""`rmsweep eval`: judge a reward model on RewardBench, RM-Bench and RMB files."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate(
    model: str = typer.Option(
        ...,
        "--model",
        help="An MLflow run id (its trained model), a model folder, baseline:length or "
        "baseline:random.",
    ),
    bench: list[str] = typer.Option(
        ...,
        "--bench",
        help="NAME=PATH, repeatable: rewardbench, rmbench or rmb and a file or folder in that "
        "benchmark's published format (read locally; nothing is downloaded).",
    ),
    template: str = typer.Option(
        None, "--template", help="Judging template (default: the run's own; else pointwise_plain)."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N items of each."),
    json_file: Path = typer.Option(None, "--json", help="Also write the numbers to this file."),
    run: str = typer.Option(
        None, "--run", help="Log into this MLflow run (default: the evaluated run, if any)."
    ),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Generations per batch."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", min=1),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow store of the run."
    ),
) -> None:
    """Judge MODEL on benchmark files; print a table per benchmark with the baselines beside."""
    import json

    from rich.console import Console

    from rmsweep.evaluation import evaluate_model, parse_benches, tables, to_json

    report, logged = evaluate_model(
        model,
        parse_benches(bench),
        template=template,
        limit=limit,
        log_run=run,
        tracking_uri=tracking_uri,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
    )
    console = Console()
    for table in tables(report):
        console.print(table)
    if report.truncated:
        console.print(f"[yellow]{report.truncated} prompts were cut to fit the model[/]")
    if json_file is not None:
        tmp = json_file.with_name(json_file.name + ".partial")
        tmp.write_text(json.dumps(to_json(report), indent=2) + "\n")
        tmp.replace(json_file)
        console.print(f"wrote {json_file}")
    if logged:
        console.print(f"logged into MLflow run {logged}")
