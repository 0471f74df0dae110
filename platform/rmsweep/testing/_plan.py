"""What a sleep job does, as a function of a trial's overrides."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class SleepPlan:
    """What one sleep job does: ``curves[short metric][i]`` is logged at step ``i``.

    ``gate``: the job waits for this event before its first step (``ThreadLauncher`` only),
    so that a test orders jobs by events rather than by step lengths.
    """

    curves: dict[str, list[float]]
    step_s: float = 0.5
    exit_code: int = 0
    tail_s: float = 0.0  # seconds between the last step and the job's end (a teardown)
    gate: threading.Event | None = None
    gate_file: str | None = None  # a process job waits for this file to exist first


GATE_FILE_ENV = "RMSWEEP_SLEEP_GATE"  # a file every default-plan process job waits for

PlanFn = Callable[[dict[str, str]], SleepPlan]


def default_plan(params: dict[str, str]) -> SleepPlan:
    """A curve fixed by the trial's overrides: ``trainer.total_steps`` steps (default 5) of
    ``$RMSWEEP_SLEEP_STEP_S`` seconds (default 0.5), rising to a score in [0, 1) hashed from
    the params; ``train/response_length`` falls as the score rises. With
    ``$RMSWEEP_SLEEP_GATE`` set, each process job waits for that file before its first step."""
    digest = hashlib.sha256(repr(sorted(params.items())).encode()).digest()
    score = int.from_bytes(digest[:4], "big") / 2**32
    steps = int(params.get("trainer.total_steps", "5"))
    acc = [round(score * (i + 1) / steps, 6) for i in range(steps)]
    length = [round(100 * (1 - score) + i, 3) for i in range(steps)]
    step_s = float(os.environ.get("RMSWEEP_SLEEP_STEP_S", "0.5"))
    curves = {"val/acc": acc, "train/response_length": length}
    return SleepPlan(curves, step_s=step_s, gate_file=os.environ.get(GATE_FILE_ENV) or None)


def parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """``["a.b=1", "template=x"]`` → ``{"a.b": "1", "template": "x"}`` (values as written)."""
    params = {}
    for item in overrides:
        key, _, value = item.partition("=")
        params[key.lstrip("+~")] = value.strip("'")
    return params
