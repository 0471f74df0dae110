"""The ``rmsweep`` command line: thin Typer shells over the library (one module per group)."""

from __future__ import annotations

import os
import sys

import click
import typer

from rmsweep.errors import Interrupted, RmsweepError

app = typer.Typer(
    name="rmsweep",
    help="Sweeps over reasoning reward-model training: veRL GRPO runs, Optuna studies, MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each group lives in its own module; importing them stays cheap (heavy imports are lazy).
    if app.registered_groups:
        return
    from rmsweep.cli import data, reward, run, study
    from rmsweep.cli.eval import evaluate
    from rmsweep.cli.ui import ui

    app.add_typer(data.app, name="data")
    app.add_typer(reward.app, name="reward")
    app.add_typer(run.app, name="run")
    app.add_typer(study.app, name="study")
    app.command(name="eval")(evaluate)
    app.command(name="ui")(ui)


def main() -> None:
    """Console entry point: every RmsweepError becomes one line on stderr and a non-zero exit."""
    # Progress bars would break the promise of one line on stderr per error.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    _register()
    try:
        code = app(standalone_mode=False, prog_name="rmsweep")  # returns typer.Exit's code
    except RmsweepError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except (typer.Abort, KeyboardInterrupt) as err:
        # SIGTERM and SIGHUP take this path too (their run ended KILLED, its job stopped).
        typer.echo(
            f"aborted: {err.reason}" if isinstance(err, Interrupted) else "aborted", err=True
        )
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except _usage_errors() as err:
        # Typer bundles its own Click: a usage error (unknown option or command, missing
        # argument, bad value) is its ClickException. Shown as Click shows it, less the blank
        # line: the usage, where to get help, one error line; exit 2.
        _show(err)
        sys.exit(getattr(err, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)


def _usage_errors() -> tuple[type[Exception], ...]:
    """The classes of Click's usage errors: a newer Typer bundles its own Click, an older one
    raises Click's."""
    try:
        from typer._click.exceptions import ClickException as Bundled
    except ImportError:
        return (click.ClickException,)
    return (Bundled, click.ClickException)


def _show(err: Exception) -> None:
    ctx = getattr(err, "ctx", None)
    if ctx is not None:
        typer.echo(ctx.get_usage(), err=True)
        if ctx.command.get_help_option(ctx) is not None:
            typer.echo(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.", err=True)
    message = err.format_message() if hasattr(err, "format_message") else str(err)
    typer.echo(f"error: {message}", err=True)
