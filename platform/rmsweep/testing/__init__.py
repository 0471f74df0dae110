"""A supported test kit: stand-ins for training, to test and measure the study controller.

Like ``optuna.testing``: shipped with the package, used by rmsweep's own tests, benchmarks and
``rmsweep study launch --runner sleep|sleep-local``. Nothing here trains anything.

- :class:`SleepJobRunner` (a ``TrialRunner``): each trial gets a real MLflow child run, made
  by the same ``rmsweep.tracking`` calls as a real trial, and a job that sleeps and logs the
  :class:`SleepPlan` its overrides map to, the way veRL logs.
- Launchers with ``RayLauncher``'s calls (``submit``, ``status``, ``stop``, ``logs``,
  ``close``): :class:`ProcessLauncher` (local subprocesses, no Ray) and
  :class:`ThreadLauncher` (threads of this process: no subprocess, for fast tests).

    from rmsweep.testing import SleepJobRunner
    launch_study(spec, runner=SleepJobRunner.factory(launcher="thread"))
"""

from __future__ import annotations

from rmsweep.testing._gpu import GpuJobRunner
from rmsweep.testing._plan import PlanFn, SleepPlan, default_plan, parse_overrides
from rmsweep.testing._process import ProcessLauncher
from rmsweep.testing._runner import SleepJobHandle, SleepJobRunner
from rmsweep.testing._thread import ThreadLauncher

__all__ = [
    "GpuJobRunner",
    "PlanFn",
    "ProcessLauncher",
    "SleepJobHandle",
    "SleepJobRunner",
    "SleepPlan",
    "ThreadLauncher",
    "default_plan",
    "parse_overrides",
]
