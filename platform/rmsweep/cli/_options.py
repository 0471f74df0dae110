"""Options several `rmsweep study` commands share."""

from __future__ import annotations

from typing import Any

import typer

STORAGE_HELP = (
    "Optuna storage (SQLAlchemy URL, e.g. postgresql://user@host/db); "
    "default: $RMSWEEP_STORAGE, the spec's, or <workdir>/optuna.db"
)


def storage_option() -> Any:
    return typer.Option(None, "--storage", envvar="RMSWEEP_STORAGE", help=STORAGE_HELP)
