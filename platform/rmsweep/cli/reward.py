"""`rmsweep reward …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="reward commands", no_args_is_help=True)
