"""Named pause points: a test stops a controller exactly where it wants to kill it.

With ``$RMSWEEP_PAUSE_AT=<point>`` and ``$RMSWEEP_PAUSE_DIR=<dir>``, the first time a
controller reaches ``<point>`` it writes ``<dir>/<point>`` (the trial number) and blocks for
good; the test waits for that file, then sends SIGKILL. Points: ``before-job`` (a trial is
claimed, its job not started), ``job-running`` (its job runs), ``before-tell`` (its job ended,
Optuna not told yet). Unset, a pause point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from rmsweep import names

POINTS = ("before-job", "job-running", "before-tell")
_reached: set[str] = set()


def pause_point(point: str, trial: int) -> None:
    """Block here forever when ``$RMSWEEP_PAUSE_AT`` names ``point`` (once per process)."""
    if os.environ.get(names.ENV_PAUSE_AT) != point or point in _reached:
        return
    _reached.add(point)
    folder = Path(os.environ.get(names.ENV_PAUSE_DIR, "."))
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{point}.partial"
    partial.write_text(f"{trial}\n")
    partial.rename(folder / point)  # atomic: the test never reads half a file
    threading.Event().wait()  # until the test kills this process
