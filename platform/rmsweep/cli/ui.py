"""`rmsweep ui [STUDY]`: the MLflow UI on a study's tracking store, until Ctrl-C."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def ui(
    study: str = typer.Argument(None, help="A study: print its runs and compare URLs."),
    storage: str = typer.Option(
        None, "--storage", envvar="RMSWEEP_STORAGE", help="The study's Optuna storage URL."
    ),
    port: int = typer.Option(
        None, "--port", min=1, max=65535, help="Default: 5000 when free, else any free port."
    ),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="Store to serve without STUDY (default: .rmsweep/mlflow.db).",
    ),
) -> None:
    """Start an MLflow server (one worker, 127.0.0.1) and print where to look; Ctrl-C stops it."""
    from rmsweep import names
    from rmsweep import ui as server_ui
    from rmsweep.config import compose
    from rmsweep.errors import LaunchError

    cfg = compose([])
    found = None
    if study:
        from rmsweep.study import open_study

        found, _, _ = open_study(study, storage)
        uri = str(found.user_attrs[names.STUDY_TRACKING_URI])
    else:
        uri = tracking_uri or cfg.tracking.uri
    if uri.startswith(("http://", "https://")):  # a tracking server already shows it
        _print_links(uri, found)
        return
    log = Path(cfg.workdir) / "ui" / "mlflow-server.log"
    with server_ui.serve(
        uri, port=port, artifact_root=cfg.tracking.artifact_root, log_path=log
    ) as server:
        _say(f"MLflow UI on {uri}: {server.url} (Ctrl-C stops it; log {log})")
        _print_links(server.url, found)
        code = server.wait()
    if code is not None:
        raise LaunchError(f"mlflow server stopped by itself (exit code {code}); see {log}")
    _say("MLflow UI stopped")


def _print_links(base: str, study: object | None) -> None:
    from rmsweep import links

    if study is None:
        _say(f"experiments: {links.experiments_url(base)}")
        return
    from rmsweep import names
    from rmsweep.study._ui import study_links
    from rmsweep.tracking import tracking_client

    uri = str(study.user_attrs.get(names.STUDY_TRACKING_URI, ""))  # type: ignore[attr-defined]
    found = study_links(study, base, tracking_client(uri) if uri else None)  # type: ignore[arg-type]
    _say(f"runs:    {found.runs}")
    _say(f"compare: {found.compare or '(no trial has a run yet)'}")


def _say(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()
